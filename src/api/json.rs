//! `JsonObject<T>`: a JSON body that must be an object. serde's derived structs also accept a
//! JSON array (fields by position), so `["sandbox", "SBX-1"]` would register a shipment; the
//! API documents objects, so anything else is refused (422) before `T` is read. Size limits,
//! content type and malformed JSON are `web::Json`'s (and `error::json_error`'s).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// `value` as `T`, if it is an object.
pub fn from_object<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::Validation(
            "the body must be a JSON object".into(),
        ));
    }
    serde_json::from_value(value).map_err(|err| ApiError::Validation(err.to_string()))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            Ok(JsonObject(from_object(value)?))
        })
    }
}
