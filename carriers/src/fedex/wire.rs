//! The Track API's JSON, as far as trackgate reads it: every field optional or defaulted, so a
//! field FedEx adds or drops never fails a whole response. The types borrow from the body (text
//! without escapes is not copied), and what must fail alone — a track result, a scan — is kept
//! as a `RawValue` and read on its own: no `serde_json::Value` tree is built.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lenient::{ObjectOr, RawList, Ready, object};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FedExAddress<'a> {
    #[serde(borrow)]
    pub(super) city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) state_or_province_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) postal_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) country_code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScanEvent<'a> {
    #[serde(default, borrow)]
    pub(super) date: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) event_type: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) event_description: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) exception_code: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) exception_description: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) scan_location: Option<FedExAddress<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LatestStatus<'a> {
    #[serde(default, borrow)]
    pub(super) derived_code: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DateAndTime<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) date_time: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CarrierError<'a> {
    #[serde(default, borrow)]
    pub(super) code: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) message: Cow<'a, str>,
}

/// A track result; its scans `E` are read in the same pass ([`Ready`]) or kept raw.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackResult<'a, E> {
    #[serde(default, borrow)]
    pub(super) latest_status_detail: Option<LatestStatus<'a>>,
    #[serde(default, borrow)]
    pub(super) date_and_times: Vec<DateAndTime<'a>>,
    /// Any shape: only `window.ends` (else `window.begins`) is read, when it is text.
    #[serde(default, borrow)]
    pub(super) estimated_delivery_time_window: Option<&'a RawValue>,
    #[serde(default = "Vec::new")]
    pub(super) scan_events: Vec<E>,
    #[serde(default, borrow)]
    pub(super) error: Option<CarrierError<'a>>,
}

impl<'a, E> TrackResult<'a, E> {
    /// `estimatedDeliveryTimeWindow.window.ends`, else `.begins`, when it is text; a present
    /// `ends` that is not text (null included) is no estimate, as it always was.
    pub(super) fn window_estimate(&self) -> Option<Cow<'a, str>> {
        let outer = object::<Outer>(self.estimated_delivery_time_window?)?;
        let window = object::<Window>(outer.window?)?;
        serde_json::from_str(window.ends.or(window.begins)?.get()).ok()
    }
}

#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::present")]
    window: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Window<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::present")]
    ends: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::present")]
    begins: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CompleteTrackResult<'a, E> {
    #[serde(borrow)]
    pub(super) tracking_number: Cow<'a, str>,
    #[serde(default = "Vec::new", borrow)]
    pub(super) track_results: Vec<TrackResult<'a, E>>,
}

/// The answer read strictly, in one pass: every track result and scan of the expected shape.
#[derive(Deserialize)]
pub(super) struct Strict<'a> {
    #[serde(borrow)]
    pub(super) output: StrictOutput<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StrictOutput<'a> {
    #[serde(borrow)]
    pub(super) complete_track_results: Vec<CompleteTrackResult<'a, Ready<ScanEvent<'a>>>>,
}

/// Only `trackingNumber`, for the problem of a track result that cannot be read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NumberOnly<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    pub(super) tracking_number: Option<Cow<'a, str>>,
}

/// The whole answer, read in one pass: `output.completeTrackResults` (each item kept raw and
/// read on its own), or `errors`; an `output` or a list of another shape reads as absent.
#[derive(Default, Deserialize)]
pub(super) struct Answer<'a> {
    #[serde(default, borrow)]
    pub(super) output: ObjectOr<Output<'a>>,
    #[serde(default, borrow)]
    pub(super) errors: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Output<'a> {
    #[serde(default, borrow)]
    pub(super) complete_track_results: RawList<'a>,
}
