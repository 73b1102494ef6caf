//! The Track API's JSON, as far as trackgate reads it: every field optional or defaulted, so a
//! field UPS adds or drops never fails a whole response.
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpsAddress {
    pub(super) city: Option<String>,
    pub(super) state_province: Option<String>,
    pub(super) postal_code: Option<String>,
    pub(super) country_code: Option<String>,
    pub(super) country: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct UpsLocation {
    #[serde(default)]
    pub(super) address: Option<UpsAddress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpsStatus {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) status_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Activity {
    #[serde(default)]
    pub(super) date: String,
    #[serde(default)]
    pub(super) time: String,
    pub(super) gmt_date: Option<String>,
    pub(super) gmt_time: Option<String>,
    pub(super) gmt_offset: Option<String>,
    #[serde(default)]
    pub(super) location: Option<UpsLocation>,
    #[serde(default)]
    pub(super) status: UpsStatus,
}

#[derive(Debug, Deserialize)]
pub(super) struct DeliveryDate {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) date: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Package {
    pub(super) tracking_number: Option<String>,
    #[serde(default)]
    pub(super) activity: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) delivery_date: Vec<DeliveryDate>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Warning {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Shipment {
    pub(super) inquiry_number: Option<String>,
    #[serde(default)]
    pub(super) package: Vec<Package>,
    #[serde(default)]
    pub(super) warnings: Vec<Warning>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) response: ErrorResponse,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorResponse {
    #[serde(default)]
    pub(super) errors: Vec<Warning>,
}
