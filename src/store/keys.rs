//! API keys: created by `trackgate keys create`, shown once, stored only as a SHA-256 hash.
//!
//! Tokens are 40 random alphanumerics (~238 bits), so a plain SHA-256 is enough: there is no
//! low-entropy password to protect with a slow hash, and lookups stay one indexed read.

use chrono::Utc;
use rand::distr::{Alphanumeric, SampleString};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};

use super::entities::api_key;
use super::states::Scope;
use super::{Store, StoreError};
use crate::domain::ids::new_key_id;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A freshly created key; `token` exists only here.
#[derive(Debug)]
pub struct CreatedKey {
    pub id: String,
    pub scope: Scope,
    pub token: String,
}

impl Store {
    pub async fn create_api_key(
        &self,
        scope: Scope,
        name: Option<String>,
    ) -> Result<CreatedKey, StoreError> {
        let token = format!(
            "tg_{}_{}",
            super::states::label(scope),
            Alphanumeric.sample_string(&mut rand::rng(), 40)
        );
        let id = new_key_id();
        api_key::ActiveModel {
            id: Set(id.clone()),
            scope: Set(scope),
            token_hash: Set(hash_token(&token)),
            prefix: Set(token.chars().take(12).collect()),
            name: Set(name),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
        }
        .insert(self.conn())
        .await?;
        Ok(CreatedKey { id, scope, token })
    }

    /// The scope of an active key whose token hashes to `hash`, if any.
    pub async fn scope_of_hash(&self, hash: &str) -> Result<Option<Scope>, StoreError> {
        let found = api_key::Entity::find()
            .filter(api_key::Column::TokenHash.eq(hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(self.conn())
            .await?;
        Ok(found.map(|key| key.scope))
    }

    pub async fn api_keys(&self) -> Result<Vec<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find()
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.conn())
            .await?)
    }

    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let Some(key) = api_key::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?
        else {
            return Ok(false);
        };
        let mut active: api_key::ActiveModel = key.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(self.conn()).await?;
        Ok(true)
    }
}
