//! Admin endpoints: list dead letters and send one again.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::startup::Gateway;
use crate::store::keys::Scope;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub include_replayed: bool,
    pub limit: Option<u64>,
}

pub async fn list_dead_letters(
    caller: Caller,
    gateway: web::Data<Gateway>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let letters = gateway
        .store
        .dead_letters(query.include_replayed, query.limit.unwrap_or(100).min(1000))
        .await?;
    let out: Vec<_> = letters
        .into_iter()
        .map(crate::dead_letters::DeadLetterOut::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "dead_letters": out })))
}

pub async fn replay_dead_letter(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    match crate::dead_letters::replay(&gateway, *id).await {
        Ok(letter) => Ok(HttpResponse::Accepted().json(letter)),
        Err(crate::dead_letters::ReplayError::NotFound) => {
            Err(ApiError::NotFound(format!("no dead letter {id}")))
        }
        Err(crate::dead_letters::ReplayError::AlreadyReplayed) => Err(ApiError::Validation(
            format!("dead letter {id} was already replayed"),
        )),
        Err(crate::dead_letters::ReplayError::Store(err)) => Err(err.into()),
        Err(crate::dead_letters::ReplayError::Queue(err)) => {
            Err(ApiError::Unavailable(err.to_string()))
        }
    }
}
