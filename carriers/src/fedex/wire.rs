//! The Track API's JSON, as far as trackgate reads it: every field optional or defaulted, so a
//! field FedEx adds or drops never fails a whole response.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FedExAddress {
    pub(super) city: Option<String>,
    pub(super) state_or_province_code: Option<String>,
    pub(super) postal_code: Option<String>,
    pub(super) country_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScanEvent {
    #[serde(default)]
    pub(super) date: String,
    #[serde(default)]
    pub(super) event_type: String,
    #[serde(default)]
    pub(super) event_description: String,
    #[serde(default)]
    pub(super) exception_code: String,
    #[serde(default)]
    pub(super) exception_description: String,
    #[serde(default)]
    pub(super) scan_location: Option<FedExAddress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LatestStatus {
    #[serde(default)]
    pub(super) derived_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DateAndTime {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) date_time: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct CarrierError {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackResult {
    #[serde(default)]
    pub(super) latest_status_detail: Option<LatestStatus>,
    #[serde(default)]
    pub(super) date_and_times: Vec<DateAndTime>,
    #[serde(default)]
    pub(super) estimated_delivery_time_window: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) scan_events: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) error: Option<CarrierError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CompleteTrackResult {
    pub(super) tracking_number: String,
    #[serde(default)]
    pub(super) track_results: Vec<TrackResult>,
}
