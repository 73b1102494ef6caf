//! The Track API's JSON, as far as trackgate reads it: every field optional or defaulted, so a
//! field UPS adds or drops never fails a whole response. The types borrow from the body (text
//! without escapes is not copied), and what must fail alone — a shipment, an activity — is kept
//! as a `RawValue` and read on its own: no `serde_json::Value` tree is built.
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpsAddress<'a> {
    #[serde(borrow)]
    pub(super) city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) state_province: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) postal_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) country_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) country: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct UpsLocation<'a> {
    #[serde(default, borrow)]
    pub(super) address: Option<UpsAddress<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpsStatus<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) code: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) description: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) status_code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Activity<'a> {
    #[serde(default, borrow)]
    pub(super) date: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) time: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) gmt_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) gmt_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) gmt_offset: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) location: Option<UpsLocation<'a>>,
    #[serde(default, borrow)]
    pub(super) status: UpsStatus<'a>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DeliveryDate<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) date: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Package<'a> {
    #[serde(borrow)]
    pub(super) tracking_number: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) activity: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) delivery_date: Vec<DeliveryDate<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Warning<'a> {
    #[serde(default, borrow)]
    pub(super) code: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) message: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Shipment<'a> {
    #[serde(borrow)]
    pub(super) inquiry_number: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) package: Vec<Package<'a>>,
    #[serde(default, borrow)]
    pub(super) warnings: Vec<Warning<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorResponse<'a> {
    #[serde(default, borrow)]
    pub(super) errors: Vec<Warning<'a>>,
}

/// The whole answer: an error envelope, or the shipments (each read on its own).
#[derive(Debug, Deserialize)]
pub(super) struct Answer<'a> {
    #[serde(default, borrow)]
    pub(super) response: Option<&'a RawValue>,
    #[serde(rename = "trackResponse", default, borrow)]
    pub(super) track_response: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TrackResponse<'a> {
    #[serde(borrow)]
    pub(super) shipment: Vec<&'a RawValue>,
}
