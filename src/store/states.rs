//! The states the store persists: each an enum with one mapping to its column.
//!
//! The column text of every variant comes from sea-orm's `DeriveActiveEnum` (`snake_case` of the
//! variant name); serde uses the same rule for the API and logs, and a test checks the two agree
//! variant by variant. Code compares variants, never strings. A shipment's [`Status`] comes from
//! the carrier crate, which must not depend on sea-orm, so it reaches its column through the
//! [`StoredStatus`] newtype and `Status`'s own `as_str`/`FromStr`.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ActiveEnum, Iterable, TryGetError};
use serde::{Deserialize, Serialize};
use trackgate_carriers::Status;

/// What became of a stored inbound webhook.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// Stored, not yet ingested (or its process died while ingesting it).
    Received,
    Processed,
    /// Ingested, but some items had problems (see the row's `error`).
    Partial,
    /// The body could not be parsed at all; `trackgate reprocess` retries it.
    Failed,
    /// Parsed, but the database refused to store it `intake.max_attempts` times: set aside so
    /// it stops failing its batches; listed by the admin API, reprocessable after a fix.
    Quarantined,
}

/// Where a push-outbox row stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// The mall answered 2xx.
    Delivered,
    /// The mall answered 410: not retried.
    Gone,
    /// Out of attempts; a `dead_letters` row lists it for replay.
    Dead,
    /// Never sent: folded, before its turn came, into a later push of the same shipment that
    /// carries its events (`last_error` names it).
    Superseded,
}

/// Where a shipment's subscription with its carrier stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// To be made: a task is on the queue, or will be (the relay).
    Pending,
    /// The carrier confirmed it (or said it already had it).
    Active,
    /// Refused for good, or out of attempts: `last_error` says why. `trackgate subscriptions
    /// resync` or a dead-letter replay tries again.
    Failed,
    /// The shipment was stopped; the carrier is still to be told.
    Stopping,
    /// The carrier was told (or offers no way to stop, and we stopped listening).
    Stopped,
}

/// What a queue task (or a dead letter) asks a worker to do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Deliver push-outbox row `ref_id` to the mall.
    Push,
    /// Poll the carrier for shipment `ref_id`.
    Poll,
    /// Bring shipment `ref_id`'s subscription with its carrier to the state its row wants
    /// (subscribe while `pending`, unsubscribe while `stopping`).
    Subscription,
}

/// Where a tracking event came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Poll,
    Webhook,
}

/// What an API key may do. `admin` may do everything.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(StringLen::None)",
    rename_all = "snake_case"
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Mall,
    Support,
    Admin,
}

impl Scope {
    /// Does a key of this scope grant `needed`?
    pub fn grants(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

/// The column text of a state (what logs and metric labels show).
pub fn label<E: ActiveEnum<Value = String>>(state: E) -> String {
    state.to_value()
}

/// The state whose column text is `text`.
pub fn from_label<E: ActiveEnum<Value = String> + Iterable>(text: &str) -> Option<E> {
    E::iter().find(|state| state.to_value() == text)
}

/// A [`Status`] in a column: `Status::as_str` going in, `FromStr` coming out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoredStatus(pub Status);

impl From<Status> for StoredStatus {
    fn from(status: Status) -> StoredStatus {
        StoredStatus(status)
    }
}

impl From<StoredStatus> for Value {
    fn from(status: StoredStatus) -> Value {
        status.0.as_str().into()
    }
}

impl sea_orm::TryGetable for StoredStatus {
    fn try_get_by<I: sea_orm::ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let text = String::try_get_by(res, index)?;
        text.parse::<Status>()
            .map(StoredStatus)
            .map_err(|err| TryGetError::DbErr(DbErr::Type(format!("stored status: {err}"))))
    }
}

impl ValueType for StoredStatus {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        let text = <String as ValueType>::try_from(value)?;
        text.parse::<Status>()
            .map(StoredStatus)
            .map_err(|_| ValueTypeErr)
    }
    fn type_name() -> String {
        "StoredStatus".to_owned()
    }
    fn array_type() -> ArrayType {
        ArrayType::String
    }
    fn column_type() -> ColumnType {
        ColumnType::String(sea_orm::sea_query::StringLen::None)
    }
}

impl Nullable for StoredStatus {
    fn null() -> Value {
        <String as Nullable>::null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_agrees_with_the_column<E>()
    where
        E: ActiveEnum<Value = String> + Iterable + Serialize + std::fmt::Debug,
    {
        for state in E::iter() {
            let text = serde_json::to_value(&state).unwrap();
            assert_eq!(text.as_str(), Some(state.to_value().as_str()), "{state:?}");
        }
    }

    #[test]
    fn every_state_has_one_spelling() {
        serde_agrees_with_the_column::<WebhookOutcome>();
        serde_agrees_with_the_column::<OutboxState>();
        serde_agrees_with_the_column::<TaskKind>();
        serde_agrees_with_the_column::<SubscriptionState>();
        serde_agrees_with_the_column::<EventSource>();
        serde_agrees_with_the_column::<Scope>();
        assert_eq!(label(OutboxState::Pending), "pending");
        assert_eq!(from_label::<TaskKind>("poll"), Some(TaskKind::Poll));
        assert_eq!(from_label::<TaskKind>("pigeon"), None);
    }
}
