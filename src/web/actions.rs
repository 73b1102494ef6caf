//! The console's two actions, each a form with the session's CSRF token that answers with a
//! redirect back to the shipment and a notice: refresh now (support and admin) and replay a dead
//! letter (admin only, whatever the form says).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::PageError;
use super::session::{CsrfForm, Staff};
use crate::gateway::Gateway;

fn back_to(id: &str, notice: &str) -> HttpResponse {
    let notice: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
    HttpResponse::SeeOther()
        .insert_header((
            "location",
            format!("/support/shipments/{id}?notice={notice}"),
        ))
        .finish()
}

/// `POST /support/shipments/{id}/refresh`.
pub async fn refresh(
    staff: Staff,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    staff.check_csrf(&gateway, &form.csrf)?;
    let notice = match crate::api::queue_refresh(&gateway, &id).await {
        Ok(_) => "Refresh queued: the carrier is asked at its next tick.".to_owned(),
        Err(crate::api::ApiError::NotFound(detail)) => return Err(PageError::NotFound(detail)),
        Err(crate::api::ApiError::Validation(detail)) => detail,
        Err(other) => return Err(PageError::Internal(other.to_string())),
    };
    Ok(back_to(&id, &notice))
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    pub csrf: String,
    pub shipment: String,
}

/// `POST /support/dead-letters/{id}/replay` (admin).
pub async fn replay(
    staff: Staff,
    gateway: web::Data<Gateway>,
    id: web::Path<i64>,
    form: web::Form<ReplayForm>,
) -> Result<HttpResponse, PageError> {
    staff.check_csrf(&gateway, &form.csrf)?;
    if !staff.is_admin() {
        return Err(PageError::Forbidden(
            "replaying a dead letter needs an admin key".into(),
        ));
    }
    let notice = match crate::push::dead_letters::replay(&gateway.store, &gateway.queue, *id).await
    {
        Ok(letter) => format!(
            "Dead letter #{} replayed: it is on its way again.",
            letter.id
        ),
        Err(err) => err.to_string(),
    };
    Ok(back_to(&form.shipment, &notice))
}
