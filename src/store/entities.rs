//! sea-orm entities: one module per table of the `migration` crate's schema.
//!
//! These are storage shapes only; API bodies and push payloads have their own types.

pub mod shipment {
    use sea_orm::entity::prelude::*;

    use crate::store::states::StoredStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shipments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub carrier_id: String,
        pub carrier_kind: String,
        /// Canonical (`trackgate_carriers::numbers`): what lookups and carrier payloads match.
        pub tracking_number: String,
        pub order_id: Option<String>,
        pub status: StoredStatus,
        pub sub_status: Option<String>,
        pub status_raw_code: Option<String>,
        pub last_event_at: Option<DateTimeUtc>,
        pub delivered_at: Option<DateTimeUtc>,
        pub estimated_delivery: Option<DateTimeUtc>,
        pub metadata: Option<String>,
        pub tracking: bool,
        pub push_seq: i64,
        pub next_poll_at: Option<DateTimeUtc>,
        pub carrier_code: Option<String>,
        pub phone_last4: Option<String>,
        pub poll_priority: i32,
        pub unchanged_polls: i32,
        pub grace_polled: bool,
        pub lease_until: Option<DateTimeUtc>,
        pub lease_owner: Option<String>,
        pub last_webhook_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The number as the mall sent it (migration 6 filled it for older rows).
        pub tracking_number_as_sent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::tracking_event::Entity")]
        TrackingEvents,
        #[sea_orm(has_one = "super::subscription::Entity")]
        Subscription,
    }

    impl Related<super::tracking_event::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::TrackingEvents.def()
        }
    }

    impl Related<super::subscription::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Subscription.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tracking_event {
    use sea_orm::entity::prelude::*;

    use crate::store::states::{EventSource, StoredStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tracking_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub shipment_id: String,
        pub dedupe_key: String,
        pub occurred_at: DateTimeUtc,
        pub utc_offset_seconds: Option<i32>,
        pub offset_inferred: bool,
        pub status: StoredStatus,
        pub sub_status: Option<String>,
        pub raw_code: String,
        pub description: String,
        pub location: Option<String>,
        pub source: EventSource,
        pub inbound_webhook_id: Option<i64>,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::shipment::Entity",
            from = "Column::ShipmentId",
            to = "super::shipment::Column::Id"
        )]
        Shipment,
    }

    impl Related<super::shipment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Shipment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod inbound_webhook {
    use sea_orm::entity::prelude::*;

    use crate::store::states::WebhookOutcome;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbound_webhooks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub carrier_id: String,
        pub received_at: DateTimeUtc,
        pub headers: String,
        pub body: Vec<u8>,
        pub outcome: WebhookOutcome,
        pub error: Option<String>,
        pub processed_at: Option<DateTimeUtc>,
        /// Ingests the database refused (a poison webhook is quarantined after a few).
        pub attempts: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod push_outbox {
    use sea_orm::entity::prelude::*;

    use crate::store::states::OutboxState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "push_outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub shipment_id: String,
        pub seq: i64,
        pub payload: String,
        pub state: OutboxState,
        pub attempts: i32,
        pub enqueued: bool,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod push_attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "push_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub outbox_id: String,
        pub attempt: i32,
        pub attempted_at: DateTimeUtc,
        pub http_status: Option<i32>,
        pub error: Option<String>,
        pub duration_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod dead_letter {
    use sea_orm::entity::prelude::*;

    use crate::store::states::TaskKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letters")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: TaskKind,
        pub ref_id: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub replayed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod subscription {
    use sea_orm::entity::prelude::*;

    use crate::store::states::SubscriptionState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub shipment_id: String,
        pub carrier_id: String,
        pub state: SubscriptionState,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub enqueued: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::shipment::Entity",
            from = "Column::ShipmentId",
            to = "super::shipment::Column::Id"
        )]
        Shipment,
    }

    impl Related<super::shipment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Shipment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod queue_task {
    use sea_orm::entity::prelude::*;

    use crate::store::states::TaskKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "queue_tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: TaskKind,
        pub ref_id: String,
        pub attempt: i32,
        pub available_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    use crate::store::states::Scope;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub scope: Scope,
        pub token_hash: String,
        pub prefix: String,
        pub name: Option<String>,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod carrier_pacer {
    use sea_orm::entity::prelude::*;

    /// One carrier instance's shared request pacing and daily count (see `store::scheduling`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "carrier_pacers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub carrier_id: String,
        /// The earliest instant (Unix ms) the next request to this carrier may leave.
        pub next_at_ms: i64,
        /// Days since the Unix epoch (UTC) that `day_used` counts.
        pub day: i32,
        pub day_used: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod console_session {
    use sea_orm::entity::prelude::*;

    /// One support console sign-in (see `store::sessions`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "console_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub key_hash: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub ended_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert {
    use sea_orm::entity::prelude::*;

    /// A built-in alert's state, shared by every process (see `store::alerts`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub firing: bool,
        pub summary: String,
        pub fired_at: DateTimeUtc,
        pub last_sent_at: DateTimeUtc,
        /// The last time any process saw the condition hold.
        pub held_at: DateTimeUtc,
        pub resolved_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
