//! Which parser reads which payload, shared by the fixture tests, the karrio conformance test
//! and the parser benchmarks, so all three exercise exactly the gateway's code path: the
//! catalog's adapter, its webhook parser or its poll parser.

#![allow(dead_code)] // each user takes the part it needs

use trackgate_carriers::catalog::{self, BodySource, CarrierKind};
use trackgate_carriers::{CarrierAdapter, Inbound, ParseError, ParseOutcome, Verified};

/// A fixture's file name says which parser reads it: `poll-…` is a poll response; anything
/// else (`webhook-…`, `push-…`, `callback-…`) a webhook body.
pub fn source_of(file_name: &str) -> BodySource {
    if file_name.starts_with("poll-") {
        BodySource::Poll
    } else {
        BodySource::Webhook
    }
}

/// One body ready to be parsed again and again (the benchmarks call [`Sample::parse`] in a
/// loop, so the body is wrapped once, not per call).
pub struct Sample {
    pub adapter: Box<dyn CarrierAdapter>,
    pub source: BodySource,
    inbound: Inbound<Verified>,
}

impl Sample {
    pub fn new(kind: &CarrierKind, source: BodySource, body: Vec<u8>) -> Sample {
        Sample {
            adapter: kind.unconfigured(),
            source,
            inbound: Inbound::new(Vec::new(), body).assume_verified(),
        }
    }

    /// A fixture of `fixtures/carriers/<kind>/<file_name>`.
    pub fn fixture(kind: &str, file_name: &str, body: Vec<u8>) -> Sample {
        let kind = catalog::find(kind)
            .unwrap_or_else(|| panic!("fixtures for `{kind}`, which is not in the catalog"));
        Sample::new(kind, source_of(file_name), body)
    }

    pub fn body(&self) -> &[u8] {
        self.inbound.body()
    }

    pub fn parse(&self) -> Result<ParseOutcome, ParseError> {
        match self.source {
            BodySource::Webhook => self.adapter.parse_webhook(&self.inbound),
            BodySource::Poll => self.adapter.parse_poll_response(self.inbound.body()),
        }
    }

    /// The answer to a poll of `numbers` (karrio's request, in the conformance cases).
    pub fn parse_answer(&self, numbers: &[&str]) -> Result<ParseOutcome, ParseError> {
        let targets: Vec<trackgate_carriers::PollTarget> = numbers
            .iter()
            .map(|n| trackgate_carriers::PollTarget::from(*n))
            .collect();
        match self.source {
            BodySource::Webhook => self.adapter.parse_webhook(&self.inbound),
            BodySource::Poll => self
                .adapter
                .parse_poll_answer(&targets, self.inbound.body()),
        }
    }
}
