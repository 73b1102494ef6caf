//! Support console sessions: started at sign-in, checked on every console request, ended at
//! sign-out. A session is live while it has not ended, has not expired, and (checked by the
//! caller through the key cache) its API key is still active. Rows expired for a day are removed
//! when someone signs in, so the table holds about a day of sign-ins.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entities::console_session;
use super::{Store, StoreError};

impl Store {
    pub async fn start_console_session(
        &self,
        id: &str,
        key_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        console_session::Entity::delete_many()
            .filter(console_session::Column::ExpiresAt.lt(now - Duration::days(1)))
            .exec(self.conn())
            .await?;
        console_session::ActiveModel {
            id: Set(id.to_owned()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            ended_at: Set(None),
        }
        .insert(self.conn())
        .await?;
        Ok(())
    }

    /// Whether the session is live: started with this key, not ended, not expired.
    pub async fn console_session_live(&self, id: &str, key_hash: &str) -> Result<bool, StoreError> {
        Ok(console_session::Entity::find_by_id(id.to_owned())
            .filter(console_session::Column::KeyHash.eq(key_hash))
            .filter(console_session::Column::EndedAt.is_null())
            .filter(console_session::Column::ExpiresAt.gt(Utc::now()))
            .one(self.conn())
            .await?
            .is_some())
    }

    pub async fn end_console_session(&self, id: &str) -> Result<(), StoreError> {
        console_session::Entity::update_many()
            .col_expr(
                console_session::Column::EndedAt,
                sea_orm::sea_query::Expr::value(Some(Utc::now())),
            )
            .filter(console_session::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
