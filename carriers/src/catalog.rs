//! The catalog of built-in carrier kinds: one table line per kind, and everything else reads it.
//!
//! The gateway's registry builds adapters from it, config validation checks `kind = "…"`
//! against it and redacts the secrets it names, `trackgate carriers list` and
//! `trackgate normalize` use it, the fixture and conformance tests walk it (a kind without
//! fixtures fails them), and `docs/carriers.md` is generated from it. Adding a built-in carrier
//! is its module, its fixtures and one line here — nothing else has a list that could drift.

use serde::de::DeserializeOwned;

use crate::definition::{DefinedAdapter, Definition};
use crate::{
    CarrierAdapter, Inbound, NumberRule, ParseError, ParseOutcome, aftership, australiapost, dhl,
    easypost, fedex, kuaidi100, laposte, mydhl, royalmail, sandbox, seventeen_track, shippo, ups,
    usps,
};

/// An instance's adapter settings, as configured (`[carriers.<id>]` minus the gateway's keys).
pub type AdapterSettings = serde_json::Map<String, serde_json::Value>;

/// One built-in carrier kind.
#[derive(Debug)]
pub struct CarrierKind {
    /// As written in config: `[carriers.<id>] kind = "…"`.
    pub kind: &'static str,
    /// The carrier as a person names it.
    pub name: &'static str,
    /// How its webhooks arrive and are signed; `None` when it sends none.
    pub webhook: Option<&'static str>,
    /// The tracking API the poller calls; `None` when it cannot be polled.
    pub poll: Option<&'static str>,
    /// How its codes and times are read.
    pub notes: &'static str,
    /// Settings that are secrets: accepted from the environment only, never printed.
    pub secrets: &'static [&'static str],
    /// karrio's names for this carrier (its conformance corpus, `fixtures/conformance/karrio/`).
    pub karrio: &'static [&'static str],
    /// How its tracking numbers are spelled canonically ([`crate::numbers`]).
    pub numbers: NumberRule,
    /// Builds the adapter from an instance's settings.
    pub build: Build,
}

/// Where a kind comes from, and how its adapter is made.
#[derive(Debug)]
pub enum Build {
    /// Rust code compiled into the binary.
    Native(fn(&AdapterSettings) -> Result<Box<dyn CarrierAdapter>, serde_json::Error>),
    /// A definition file ([`crate::definition`]), shipped or the operator's.
    Defined(&'static Definition),
}

/// Which of an adapter's parsers reads a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySource {
    /// A webhook's body (the signature is not checked: tooling and tests only).
    Webhook,
    /// A poll response.
    Poll,
}

impl CarrierKind {
    /// The adapter for an instance with these settings.
    pub fn build(
        &self,
        settings: &AdapterSettings,
    ) -> Result<Box<dyn CarrierAdapter>, serde_json::Error> {
        match &self.build {
            Build::Native(build) => build(settings),
            Build::Defined(definition) => Ok(Box::new(DefinedAdapter::new(definition, settings)?)),
        }
    }

    /// The adapter with no settings at all: enough to parse, never to poll or verify.
    pub fn unconfigured(&self) -> Box<dyn CarrierAdapter> {
        self.build(&AdapterSettings::new())
            .expect("every kind builds from empty settings")
    }

    /// `built-in`, or the definition file it was loaded from.
    pub fn source(&self) -> &str {
        match &self.build {
            Build::Native(_) => "built-in",
            Build::Defined(definition) => &definition.origin,
        }
    }

    /// The definition, for a defined kind.
    pub fn definition(&self) -> Option<&'static Definition> {
        match &self.build {
            Build::Native(_) => None,
            Build::Defined(definition) => Some(definition),
        }
    }

    /// Parse a body exactly as the gateway would, without checking a signature: for
    /// `trackgate normalize`, the fixture and conformance tests and the benchmarks.
    pub fn parse_unverified(
        &self,
        adapter: &dyn CarrierAdapter,
        source: BodySource,
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        match source {
            BodySource::Webhook => {
                adapter.parse_webhook(&Inbound::new(Vec::new(), body.to_vec()).assume_verified())
            }
            BodySource::Poll => adapter.parse_poll_response(body),
        }
    }
}

fn adapter<C, A>(
    settings: &AdapterSettings,
    new: fn(C) -> A,
) -> Result<Box<dyn CarrierAdapter>, serde_json::Error>
where
    C: DeserializeOwned,
    A: CarrierAdapter + 'static,
{
    let config = serde_json::from_value(serde_json::Value::Object(settings.clone()))?;
    Ok(Box::new(new(config)))
}

/// Every built-in kind, in the order they are listed and documented.
pub const CATALOG: &[CarrierKind] = &[
    CarrierKind {
        kind: "sandbox",
        name: "Sandbox (simulated carrier)",
        webhook: Some("`x-sandbox-signature: sha256=<hex HMAC>`"),
        poll: Some(
            "`GET {base_url}/v1/track?numbers=…`; optional OAuth client credentials (`token_url`)",
        ),
        notes: "for the demo and the tests",
        secrets: &["webhook_secret", "api_key", "client_secret"],
        karrio: &[],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, sandbox::SandboxAdapter::new)),
    },
    CarrierKind {
        kind: "kuaidi100",
        name: "Kuaidi100 (快递100)",
        webhook: Some("subscription callback, `sign` = upper-case MD5(param + salt)"),
        poll: Some(
            "real-time `query` (`sign` = MD5(param + key + customer); `com` from the shipment's `carrier_code` or detected; SF needs `phone`)",
        ),
        notes: "states 0–14 and the advanced sub-states; times are China Standard Time",
        secrets: &["salt", "key"],
        karrio: &[],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, kuaidi100::Kuaidi100Adapter::new)),
    },
    CarrierKind {
        kind: "easypost",
        name: "EasyPost",
        webhook: Some("`tracker.*` events, `X-Hmac-Signature: hmac-sha256-hex=…` (NFKD secret)"),
        poll: Some("`GET /v2/trackers?tracking_codes[]=…` (Basic auth, up to 100 a request)"),
        notes: "status / status_detail",
        secrets: &["api_key", "webhook_secret"],
        karrio: &["easypost"],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, easypost::EasyPostAdapter::new)),
    },
    CarrierKind {
        kind: "shippo",
        name: "Shippo",
        webhook: Some(
            "`track_updated`, `Shippo-Auth-Signature: t=…,v1=<hex HMAC of \"t.body\">` (5-minute tolerance)",
        ),
        poll: Some(
            "`GET /tracks/{carrier}/{number}` (`ShippoToken`; one instance per underlying carrier)",
        ),
        notes: "status / substatus",
        secrets: &["api_token", "webhook_secret"],
        karrio: &[],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, shippo::ShippoAdapter::new)),
    },
    CarrierKind {
        kind: "aftership",
        name: "AfterShip",
        webhook: Some("`tracking_update`, `aftership-hmac-sha256` (base64 HMAC of the body)"),
        poll: Some("`GET /v4/trackings?tracking_numbers=…` (`aftership-api-key`, up to 50)"),
        notes: "tag / subtag; local checkpoint times resolved in the checkpoint's zone",
        secrets: &["api_key", "webhook_secret"],
        karrio: &[],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, aftership::AfterShipAdapter::new)),
    },
    CarrierKind {
        kind: "ups",
        name: "UPS",
        webhook: None,
        poll: Some(
            "Track API v1 `GET /api/track/v1/details/{n}` (OAuth client credentials, Basic header; one number a request)",
        ),
        notes: "`status.type`, refined by the 3-digit `statusCode` for the generic types `I`/`X`; `gmtDate`/`gmtTime` when present, else local time at the activity's address",
        secrets: &["client_secret"],
        karrio: &["ups"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, ups::UpsAdapter::new)),
    },
    CarrierKind {
        kind: "fedex",
        name: "FedEx",
        webhook: None,
        poll: Some(
            "`POST /track/v1/trackingnumbers` (OAuth, credentials in the form; up to 30 numbers)",
        ),
        notes: "scan `eventType` (so `HP` \"ready for pickup\" is not lost under derived `IT`); `latestStatusDetail.derivedCode` as the current status (`RS` turns a delivery into `returned`); reused numbers: the most recent parcel",
        secrets: &["client_secret"],
        karrio: &["fedex"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, fedex::FedExAdapter::new)),
    },
    CarrierKind {
        kind: "dhl",
        name: "DHL (Shipment Tracking – Unified)",
        webhook: None,
        poll: Some("`GET /track/shipments?trackingNumber=` (`DHL-API-Key`)"),
        notes: "`statusCode`; `returnFlag` turns transit/delivered into returning/returned; times without offset resolved at the event's country",
        secrets: &["api_key"],
        karrio: &["dhl_universal"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, dhl::DhlAdapter::new)),
    },
    CarrierKind {
        kind: "usps",
        name: "USPS",
        webhook: None,
        poll: Some(
            "Tracking API v3 `GET /tracking/v3/tracking/{n}?expand=DETAIL` (OAuth, JSON token request)",
        ),
        notes: "`eventCode`; `statusCategory` as the current status; `GMTTimestamp` as the instant",
        secrets: &["client_secret"],
        karrio: &["usps", "usps_international"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, usps::UspsAdapter::new)),
    },
    CarrierKind {
        kind: "17track",
        name: "17TRACK",
        webhook: Some(
            "push `TRACKING_UPDATED` / `TRACKING_STOPPED`, header `sign` = hex SHA-256(body + \"/\" + key)",
        ),
        poll: Some(
            "`POST /gettrackinfo` (`17token`, 40 numbers); unknown numbers are `register`ed and polled again",
        ),
        notes: "every provider's events (origin and destination legs) merged; `TRACKING_STOPPED` stops polling",
        secrets: &["api_key"],
        karrio: &[],
        numbers: NumberRule::KeepDashes,
        build: Build::Native(|s| adapter(s, seventeen_track::SeventeenTrackAdapter::new)),
    },
    CarrierKind {
        kind: "laposte",
        name: "La Poste / Colissimo",
        webhook: None,
        poll: Some("Suivi v2 `GET /suivi/v2/idships/{ids}` (`X-Okapi-Key`, 10 numbers)"),
        notes: "La Poste and Colissimo event codes",
        secrets: &["api_key"],
        karrio: &["laposte", "colissimo"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, laposte::LaPosteAdapter::new)),
    },
    CarrierKind {
        kind: "australiapost",
        name: "Australia Post",
        webhook: None,
        poll: Some("`GET /shipping/v1/track?tracking_ids=…` (Basic + `account-number`, 10 ids)"),
        notes: "events have no codes: the item status applies at the newest event",
        secrets: &["api_key", "password"],
        karrio: &["australiapost"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, australiapost::AustraliaPostAdapter::new)),
    },
    CarrierKind {
        kind: "royalmail",
        name: "Royal Mail",
        webhook: None,
        poll: Some("Tracking v2 `GET /mailpieces/v2/{id}/events` (IBM client id/secret)"),
        notes: "`eventCode`; `statusCategory` as the current status",
        secrets: &["client_secret"],
        karrio: &["royalmail"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, royalmail::RoyalMailAdapter::new)),
    },
    CarrierKind {
        kind: "mydhl",
        name: "DHL Express (MyDHL API)",
        webhook: None,
        poll: Some("`GET /shipments/{n}/tracking` (Basic)"),
        notes: "checkpoint `typeCode`; `GMTOffset`, else the service area's country zone",
        secrets: &["api_key", "api_secret"],
        karrio: &["mydhl"],
        numbers: NumberRule::Compact,
        build: Build::Native(|s| adapter(s, mydhl::MyDhlAdapter::new)),
    },
];

/// Every kind: the built-in ones, then those loaded from definitions.
pub fn all() -> Vec<&'static CarrierKind> {
    CATALOG
        .iter()
        .chain(crate::definition::registry::defined())
        .collect()
}

/// The kind named `kind`, built in or defined.
pub fn find(kind: &str) -> Option<&'static CarrierKind> {
    CATALOG
        .iter()
        .find(|entry| entry.kind == kind)
        .or_else(|| crate::definition::registry::find(kind))
}

/// How `kind`'s numbers are spelled canonically; a kind that is not known keeps its dashes
/// (the rule that never merges two numbers a carrier tells apart).
pub fn number_rule(kind: &str) -> NumberRule {
    find(kind).map_or(NumberRule::KeepDashes, |entry| entry.numbers)
}

/// Every kind's name, comma-separated, for error messages.
pub fn kind_names() -> String {
    all()
        .iter()
        .map(|entry| entry.kind)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every setting name that is a secret in some kind (what config files may not contain).
pub fn secret_settings() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = all().iter().flat_map(|e| e.secrets).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The kinds whose karrio name is `karrio`: a built-in one first, then definitions (several
/// when a definition re-expresses a built-in adapter).
pub fn by_karrio_name_all(karrio: &str) -> Vec<&'static CarrierKind> {
    all()
        .into_iter()
        .filter(|entry| entry.karrio.contains(&karrio))
        .collect()
}

/// The first kind whose karrio name is `karrio`.
pub fn by_karrio_name(karrio: &str) -> Option<&'static CarrierKind> {
    by_karrio_name_all(karrio).into_iter().next()
}

/// `docs/carriers.md`: generated from this table, checked by the fixture tests.
pub fn markdown() -> String {
    markdown_of(CATALOG.iter().collect(), true)
}

/// Every kind as Markdown, the declarative ones included (`trackgate carriers list --markdown`):
/// the shipped definitions and any folder the operator loaded.
pub fn markdown_with_definitions() -> String {
    markdown_of(all(), false)
}

fn markdown_of(kinds: Vec<&CarrierKind>, docs: bool) -> String {
    let mut out = String::from(if docs {
        "# Built-in carriers\n\n\
         Generated from `carriers/src/catalog.rs`; the tests fail when this file and the catalog \
         differ. The carriers shipped as declarative definitions (`carriers/definitions/*.toml`, \
         one file each, see `carriers/README.md`) describe themselves in their files; \
         `trackgate carriers list` and `trackgate carriers list --markdown` show every kind with \
         its source.\n\n"
    } else {
        "# Carriers\n\n"
    });
    out.push_str(
        "| kind | carrier | source | webhook | poll | notes | numbers | secrets (environment only) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for entry in kinds {
        let secrets: Vec<String> = entry.secrets.iter().map(|s| format!("`{s}`")).collect();
        let source = match entry.definition() {
            None => "built-in".to_owned(),
            Some(d) => format!("`{}`", d.origin),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            entry.kind,
            entry.name,
            source,
            entry.webhook.unwrap_or("—"),
            entry.poll.unwrap_or("—"),
            entry.notes,
            match entry.numbers {
                NumberRule::Compact => "letters and digits",
                NumberRule::KeepDashes => "dashes kept",
            },
            secrets.join(", "),
        ));
    }
    out.push_str(
        "\nEvery adapter keeps the carrier's raw code beside the normalized status, maps unknown \
         codes to `unknown` (never from description text), and treats the carrier's own \
         \"current status\" as an observation at the time of its newest event. Tracking numbers \
         are kept upper-case without whitespace, and without dashes where the carrier's numbers \
         have none (\"letters and digits\"); the number as the mall sent it is kept beside. \
         Secrets are set as `TRACKGATE__CARRIERS__<ID>__<SETTING>`.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_names_itself() {
        let mut kinds: Vec<&str> = CATALOG.iter().map(|e| e.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), CATALOG.len(), "a kind is listed twice");
        for entry in CATALOG {
            let adapter = entry.unconfigured();
            assert_eq!(
                adapter.kind(),
                entry.kind,
                "{} builds another kind",
                entry.kind
            );
            assert!(
                !entry.name.is_empty() && !entry.notes.is_empty(),
                "{} lacks the name or notes its docs are made of",
                entry.kind
            );
            assert!(
                entry.webhook.is_some() || entry.poll.is_some(),
                "{} can neither poll nor receive webhooks",
                entry.kind
            );
            assert_eq!(
                adapter.capabilities().webhook,
                entry.webhook.is_some(),
                "{}: the catalog and the adapter disagree about webhooks",
                entry.kind
            );
        }
    }

    #[test]
    fn a_secret_setting_is_read_by_its_adapter() {
        // A secret the adapter ignores would be a secret nobody can set: build each kind with
        // all its secrets set and check it still builds (unknown keys are tolerated, so this
        // guards the types: every secret is a string).
        for entry in CATALOG {
            let settings: AdapterSettings = entry
                .secrets
                .iter()
                .map(|key| ((*key).to_owned(), serde_json::json!("s3cret")))
                .collect();
            assert!(entry.build(&settings).is_ok(), "{}", entry.kind);
        }
    }
}
