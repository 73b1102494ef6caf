//! API-key checks with a short-lived in-process cache, the API's own state (registered beside
//! the gateway as actix app data).
//!
//! Every API request carries a key; looking it up in the store costs a query per request
//! (measured: the support lookup made three queries, one of them the key). A key found active is
//! remembered for `server.api_key_cache_secs`, keyed by its SHA-256 (never the token itself), so
//! a key revoked with `trackgate keys revoke` stops working within that time in every process.
//! Unknown keys are not cached: a key just created works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::keys::hash_token;
use crate::store::states::Scope;
use crate::store::{Store, StoreError};

/// Beyond this many remembered keys the cache starts over (keys are few; this bounds memory).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (Scope, Instant)>>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The scope of an active key with this token, from the cache or the store.
    pub async fn scope(&self, store: &Store, token: &str) -> Result<Option<Scope>, StoreError> {
        self.scope_of_hash(store, hash_token(token)).await
    }

    /// [`Self::scope`] for a key known by its hash (a console session holds only the hash).
    pub async fn scope_of_hash(
        &self,
        store: &Store,
        hash: String,
    ) -> Result<Option<Scope>, StoreError> {
        if let Some((scope, at)) = self.entries.lock().expect("not poisoned").get(&hash)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(*scope));
        }
        let scope = store.scope_of_hash(&hash).await?;
        let mut entries = self.entries.lock().expect("not poisoned");
        match scope {
            Some(scope) if !self.ttl.is_zero() => {
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(hash, (scope, Instant::now()));
            }
            _ => {
                entries.remove(&hash);
            }
        }
        Ok(scope)
    }
}
