//! OpenAPI/JSON Schema descriptions of the vocabulary types that live in the carriers crate,
//! which stays free of any HTTP or schema dependency: the 14 statuses as an enum, and the
//! sub-status vocabulary with its open edge. Used as `#[schema(value_type = …)]` on the fields
//! that carry them (API answers and the push payload).

use std::borrow::Cow;

use trackgate_carriers::Status;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

/// A normalized status: one of the fourteen values of `trackgate_carriers::Status`.
pub struct StatusName;

impl PartialSchema for StatusName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(Status::ALL.iter().map(|s| s.as_str())))
            .description(Some(
                "The normalized status (docs/mall-integration.md). `delivered`, `returned` and \
                 `cancelled` are terminal: only a strictly later event moves a shipment out of them.",
            ))
            .into()
    }
}

impl ToSchema for StatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Status")
    }
}

/// A sub-status: a code of the documented vocabulary (docs/sub-statuses.md), or, at its open
/// edge, an aggregator's detail we have no entry for yet, in snake_case.
pub struct SubStatus;

impl PartialSchema for SubStatus {
    fn schema() -> RefOr<Schema> {
        let known = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .title(Some("documented"))
            .enum_values(Some(
                trackgate_carriers::sub_status::SUB_STATUSES
                    .iter()
                    .map(|(code, _, _)| *code),
            ));
        let other = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .title(Some("carrier detail"))
            .pattern(Some("^[a-z][a-z0-9_]*$"))
            .max_length(Some(64))
            .description(Some(
                "A carrier detail not yet in the vocabulary (17TRACK adds them): show it as text.",
            ));
        AnyOfBuilder::new()
            .item(known)
            .item(other)
            .description(Some(
                "Finer than the status: what happened, in the carrier-independent vocabulary of \
                 docs/sub-statuses.md. Always snake_case.",
            ))
            .into()
    }
}

impl ToSchema for SubStatus {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SubStatus")
    }
}
