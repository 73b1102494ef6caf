//! Declarative carriers: the shipped definitions load and lint clean, the ones that re-express
//! a built-in adapter read that adapter's fixtures exactly as the Rust code does (side by
//! side), webhook schemes sign and verify, and hostile definitions are refused at load with
//! an error naming the file and the key path — never a panic.

mod support;

use std::path::{Path, PathBuf};

use support::{Sample, source_of};
use trackgate_carriers::catalog::{self, AdapterSettings, BodySource};
use trackgate_carriers::definition::{DefinedAdapter, Definition, lint, registry};
use trackgate_carriers::{CarrierAdapter, Inbound, ParseOutcome, PollTarget, SignatureError};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_shipped_definition_loads_and_lints_clean() {
    assert!(
        registry::shipped_errors().is_empty(),
        "{:?}",
        registry::shipped_errors()
    );
    let mut findings = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("carriers/definitions")).unwrap() {
        let path = entry.unwrap().path();
        count += 1;
        findings.extend(lint::lint_file(&path).into_iter().map(|e| e.to_string()));
        let definition = Definition::load_file(&path).unwrap();
        let kind = catalog::find(&definition.kind).expect("shipped definitions are kinds");
        assert!(
            kind.source()
                .ends_with(path.file_name().unwrap().to_str().unwrap())
        );
        assert!(
            kind.webhook.is_some() || kind.poll.is_some(),
            "{}: neither polls nor receives webhooks",
            kind.kind
        );
        // Something proves it: karrio's cases, or the fixtures of the kind it re-expresses.
        let proven = definition
            .karrio
            .iter()
            .any(|k| repo().join("fixtures/conformance/karrio").join(k).is_dir())
            || definition.replicates.is_some();
        assert!(
            proven,
            "{}: no conformance cases or fixtures",
            definition.kind
        );
    }
    assert!(count >= 25, "only {count} shipped definitions");
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// What two parsers must agree on: the updates exactly, which numbers had problems, and
/// whether the body was refused.
fn comparable(result: Result<ParseOutcome, trackgate_carriers::ParseError>) -> serde_json::Value {
    match result {
        Err(_) => serde_json::json!("refused"),
        Ok(outcome) => {
            let mut problem_numbers: Vec<Option<String>> = outcome
                .problems
                .iter()
                .map(|p| p.tracking_number.clone())
                .collect();
            problem_numbers.sort();
            serde_json::json!({
                "updates": outcome.updates,
                "problem_numbers": problem_numbers,
            })
        }
    }
}

#[test]
fn re_expressed_adapters_read_their_fixtures_as_the_rust_adapters_do() {
    let mut compared = 0;
    let mut kinds = 0;
    for kind in catalog::all() {
        let Some(original) = kind.definition().and_then(|d| d.replicates.as_deref()) else {
            continue;
        };
        kinds += 1;
        let rust = catalog::find(original).expect("replicates a built-in kind");
        assert_eq!(rust.source(), "built-in");
        let dir = repo().join("fixtures/carriers").join(original);
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".expected.json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let source = source_of(&name);
            let theirs = comparable(Sample::new(rust, source, body.clone()).parse());
            let ours = comparable(Sample::new(kind, source, body).parse());
            assert_eq!(
                ours, theirs,
                "{} reads {name} differently from `{original}`",
                kind.kind
            );
            compared += 1;
        }
    }
    assert!(
        kinds >= 3,
        "at least three adapters are re-expressed, found {kinds}"
    );
    assert!(compared >= 5, "compared only {compared} fixtures");
}

#[test]
fn a_re_expressed_poll_asks_what_the_rust_adapter_asks() {
    let settings: AdapterSettings = serde_json::from_value(serde_json::json!({
        "api_key": "k-123", "base_url": "http://127.0.0.1:9"
    }))
    .unwrap();
    let targets = [PollTarget::from("6A123"), PollTarget::from("6A456")];
    for (rust, defined) in [
        ("laposte", "laposte-declarative"),
        ("sandbox", "sandbox-declarative"),
    ] {
        let rust = catalog::find(rust).unwrap().build(&settings).unwrap();
        let defined = catalog::find(defined).unwrap().build(&settings).unwrap();
        assert!(defined.capabilities().poll);
        let a = rust.build_poll_request(&targets, None).unwrap();
        let b = defined.build_poll_request(&targets, None).unwrap();
        assert_eq!(a.method, b.method);
        let path = |url: &str| url.split('?').next().unwrap().to_owned();
        assert_eq!(path(&a.url), path(&b.url));
        let key = |r: &trackgate_carriers::HttpRequest| {
            r.headers
                .iter()
                .find(|(n, _)| n.contains("key"))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(key(&a), key(&b), "the API key header");
    }
}

#[test]
fn webhook_schemes_sign_and_verify_and_refuse_tampering() {
    let kind = catalog::find("sandbox-declarative").unwrap();
    let settings: AdapterSettings =
        serde_json::from_value(serde_json::json!({"webhook_secret": "s3cret"})).unwrap();
    let adapter = kind.build(&settings).unwrap();
    let body = std::fs::read(repo().join("fixtures/carriers/sandbox/webhook-delivered-proxy.json"))
        .unwrap();
    // Signed as the Rust sandbox signs: the two adapters accept each other's signatures.
    let headers = vec![(
        "x-sandbox-signature".to_owned(),
        trackgate_carriers::sandbox::sign("s3cret", &body),
    )];
    let verified = adapter
        .verify_webhook(Inbound::new(headers.clone(), body.clone()))
        .expect("verifies");
    assert_eq!(adapter.parse_webhook(&verified).unwrap().updates.len(), 1);
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(
        adapter
            .verify_webhook(Inbound::new(headers, tampered))
            .unwrap_err(),
        SignatureError::Mismatch
    );
    assert!(matches!(
        adapter.verify_webhook(Inbound::new(vec![], body.clone())),
        Err(SignatureError::Missing(_))
    ));
    let unconfigured = kind.unconfigured();
    assert_eq!(
        unconfigured
            .verify_webhook(Inbound::new(vec![], body))
            .unwrap_err(),
        SignatureError::NotConfigured
    );
    assert_eq!(adapter.webhook_ack(true).body, r#"{"ok":true}"#);
    assert_eq!(adapter.webhook_ack(false).status, 503);
}

/// A minimal definition with `extra` appended, for the scheme and hostile-input tests.
fn minimal(extra: &str) -> String {
    format!(
        r#"
[carrier]
kind = "tiny"
name = "Tiny"

[settings]
secret = {{ secret = true }}
key = {{ secret = true }}
base_url = {{ default = "http://127.0.0.1:9" }}

[shipments]
path = "items"
number = "no"

[events]
path = "scans"
time = "at"
code = "c"

[status.codes]
D = "delivered"
{extra}
"#
    )
}

/// An adapter for a definition given as text, with these instance settings.
fn adapter_from(text: &str, settings: serde_json::Value) -> DefinedAdapter {
    let definition: &'static Definition =
        Box::leak(Box::new(Definition::load(text, "<test>").unwrap()));
    let settings: AdapterSettings = serde_json::from_value(settings).unwrap();
    DefinedAdapter::new(definition, &settings).unwrap()
}

fn scheme_round_trip(webhook: &str) {
    let adapter = adapter_from(
        &minimal(webhook),
        serde_json::json!({"secret": "salt-and-pepper"}),
    );
    let payload =
        br#"{"items":[{"no":"T1","scans":[{"at":"2026-11-20T10:00:00+08:00","c":"D"}]}]}"#;
    let (headers, body) = if webhook.contains("md5_form") {
        use md5::Digest as _;
        let sign = hex::encode_upper(md5::Md5::digest(
            [payload.as_slice(), b"salt-and-pepper"].concat(),
        ));
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("param", std::str::from_utf8(payload).unwrap())
            .append_pair("sign", &sign)
            .finish();
        (vec![], form.into_bytes())
    } else {
        (
            Definition::load(&minimal(webhook), "<test>")
                .unwrap()
                .sign_webhook("salt-and-pepper", payload),
            payload.to_vec(),
        )
    };
    let verified = adapter
        .verify_webhook(Inbound::new(headers.clone(), body.clone()))
        .unwrap_or_else(|e| panic!("{webhook}: {e}"));
    let outcome = adapter.parse_webhook(&verified).unwrap();
    assert_eq!(outcome.updates[0].tracking_number, "T1", "{webhook}");
    assert_eq!(outcome.updates[0].events[0].status.as_str(), "delivered");
    let mut tampered = body;
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    assert!(
        adapter
            .verify_webhook(Inbound::new(headers, tampered))
            .is_err(),
        "{webhook}: a tampered body verifies"
    );
}

#[test]
fn every_webhook_scheme_of_the_menu_round_trips() {
    scheme_round_trip(
        "[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x-sig\"\nsecret = \"secret\"",
    );
    scheme_round_trip(
        "[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x-sig\"\nencoding = \"base64\"\nsecret = \"secret\"",
    );
    scheme_round_trip(
        "[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x-sig\"\nsigned = \"timestamp.body\"\ntolerance_seconds = 300\nsecret = \"secret\"",
    );
    scheme_round_trip(
        "[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x-sig\"\nsigned = \"timestamp.body\"\ntimestamp_header = \"x-ts\"\nsecret = \"secret\"",
    );
    scheme_round_trip(
        "[webhook]\nscheme = \"sha256_body_key\"\nheader = \"x-sig\"\nsecret = \"secret\"",
    );
    scheme_round_trip("[webhook]\nscheme = \"md5_form\"\nsecret = \"secret\"");
}

#[test]
fn a_stale_timestamp_is_refused() {
    let text = minimal(
        "[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x-sig\"\nsigned = \"timestamp.body\"\ntolerance_seconds = 60\nsecret = \"secret\"",
    );
    let adapter = adapter_from(&text, serde_json::json!({"secret": "s"}));
    let body = b"{}".to_vec();
    let old = chrono::Utc::now().timestamp() - 3600;
    let mac = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s").unwrap();
        mac.update(format!("{old}.{{}}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let headers = vec![("x-sig".to_owned(), format!("t={old},v1={mac}"))];
    assert!(matches!(
        adapter.verify_webhook(Inbound::new(headers, body)),
        Err(SignatureError::Malformed(m)) if m.contains("tolerance")
    ));
}

/// (definition text, key path the error must name, words the message must contain)
fn refused(text: &str, key: &str, words: &str) {
    let err = Definition::load(text, "hostile.toml").expect_err(key);
    assert_eq!(err.file, "hostile.toml");
    assert!(
        err.key.starts_with(key),
        "expected the error at `{key}`, got `{}`: {}",
        err.key,
        err.message
    );
    assert!(
        err.message.contains(words),
        "`{}` does not say `{words}`",
        err.message
    );
}

#[test]
fn broken_and_hostile_definitions_are_refused_with_their_key_path() {
    refused("[carrier\nkind = 1", "(file)", "line");
    refused(
        &minimal("").replace("kind = \"tiny\"", "kind = 7"),
        "carrier.kind",
        "string",
    );
    refused(
        &minimal("").replace("path = \"scans\"", "pth = \"scans\""),
        "events",
        "pth",
    );
    refused(
        &minimal("").replace("D = \"delivered\"", "D = \"shipped\""),
        "status.codes.D",
        "not a status",
    );
    refused(
        &minimal("").replace("D = \"delivered\"", "D = \"delivered/teleported\""),
        "status.codes.D",
        "sub-status",
    );
    refused(
        &minimal("[webhook]\nscheme = \"rot13\"\nsecret = \"secret\""),
        "webhook.scheme",
        "unknown scheme",
    );
    refused(
        &minimal("[webhook]\nscheme = \"hmac_sha256\"\nheader = \"x\"\nsecret = \"base_url\""),
        "webhook.secret",
        "secret = true",
    );
    refused(
        &minimal(
            "[poll]\nurl = \"{base_url}/t/{number}\"\nheaders = { \"x-api-key\" = \"sk_live_51Habc\" }",
        ),
        "poll.headers.x-api-key",
        "secret written in the file",
    );
    refused(
        &minimal("").replace(
            "key = { secret = true }",
            "key = { secret = true, default = \"hunter22\" }",
        ),
        "settings.key.default",
        "secret written in the file",
    );
    refused(
        &minimal("[poll]\nurl = \"{base_url}/t/{password}\""),
        "poll.url",
        "unknown placeholder",
    );
    refused(
        &minimal("[poll]\nurl = \"{base_url}/t/{number\""),
        "poll.url",
        "unclosed",
    );
    refused(
        &minimal("[poll]\nurl = \"{base_url}/t/{secret.key}\""),
        "poll.url",
        "placeholder",
    );
    refused(
        &minimal("[poll]\nurl = \"{base_url}/{number}\"\nbatch_size = 5"),
        "poll.url",
        "a batch needs",
    );
    refused(
        &minimal("").replace("path = \"items\"", "path = \"items[x]\""),
        "shipments.path",
        "neither an index",
    );
    refused(
        &minimal("").replace("time = \"at\"", "time = { path = \"at\", regex = \"(a\" }"),
        "events.time.regex",
        "not a usable regex",
    );
    refused(
        &minimal("").replace(
            "time = \"at\"",
            "time = { path = \"at\", regex = \"(\\\\w+)\\\\1\" }",
        ),
        "events.time.regex",
        "not a usable regex",
    );
    refused(
        &minimal("[time]\nformats = [\"%Q\"]"),
        "time.formats[0]",
        "pattern",
    );
    refused(
        &minimal("[time]\nzone = \"Mars/Olympus\""),
        "time.zone",
        "unknown zone",
    );
    refused(
        &minimal("[time]\nzone = \"country\""),
        "time.zone",
        "events.country",
    );
    refused(
        &minimal("[body]\nformat = \"yaml\""),
        "body.format",
        "json or xml",
    );
    refused(
        &minimal("").replace("kind = \"tiny\"", "kind = \"../../etc/passwd\""),
        "carrier.kind",
        "lower-case",
    );
    let huge = minimal("") + &"# padding\n".repeat(1_100_000);
    assert!(huge.len() > 10_000_000);
    refused(&huge, "(file)", "at most");
}

#[test]
fn a_built_in_kind_cannot_be_redefined_and_a_clash_is_named() {
    let text = minimal("").replace("kind = \"tiny\"", "kind = \"ups\"");
    let err = registry::install(Definition::load(&text, "mine.toml").unwrap()).unwrap_err();
    assert_eq!(err.key, "carrier.kind");
    assert!(err.message.contains("built-in"), "{err}");
    let text = minimal("").replace("kind = \"tiny\"", "kind = \"gls\"");
    let err = registry::install(Definition::load(&text, "mine.toml").unwrap()).unwrap_err();
    assert!(
        err.message
            .contains("already defined by carriers/definitions/gls.toml"),
        "{err}"
    );
}

#[test]
fn lint_names_a_path_that_matches_nothing_in_the_sample() {
    let dir = std::env::temp_dir().join(format!("trackgate-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sample.json"),
        br#"{"items":[{"no":"T1","scans":[{"at":"2026-11-20T10:00:00Z","c":"D"}]}]}"#,
    )
    .unwrap();
    let text = minimal("")
        .replace(
            "name = \"Tiny\"",
            "name = \"Tiny\"\nsamples = [\"sample.json\"]",
        )
        .replace(
            "code = \"c\"",
            "code = \"code\"\ndescription = [\"desc\", \"label\"]",
        );
    std::fs::write(dir.join("tiny.toml"), text).unwrap();
    let findings = lint::lint_file(&dir.join("tiny.toml"));
    let keys: Vec<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["events.code", "events.description"], "{findings:?}");
    assert!(
        findings[0]
            .to_string()
            .contains("tiny.toml: events.code: `code` matches nothing")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_number_cannot_inject_into_a_poll_request() {
    let text = minimal(
        "[poll]\nmethod = \"POST\"\nurl = \"{base_url}/t/{number}\"\nheaders = { \"x-ref\" = \"{number}\" }\njson = { n = \"{number}\", k = \"{key}\" }",
    );
    let adapter = adapter_from(&text, serde_json::json!({"key": "K"}));
    let evil = PollTarget::from("{key}\"},\"x\":\"../");
    let request = adapter
        .build_poll_request(std::slice::from_ref(&evil), None)
        .unwrap();
    assert_eq!(
        request.url,
        "http://127.0.0.1:9/t/%7Bkey%7D%22%7D%2C%22x%22%3A%22..%2F"
    );
    let body: serde_json::Value = serde_json::from_slice(request.body.as_ref().unwrap()).unwrap();
    assert_eq!(
        body["n"], "{key}\"},\"x\":\"../",
        "the number stays one JSON string"
    );
    assert_eq!(body["k"], "K");
    let crlf = PollTarget::from("A\r\nx-admin: 1");
    assert!(
        adapter.build_poll_request(&[crlf], None).is_err(),
        "no header splitting"
    );
}

#[test]
fn shipped_definitions_never_panic_on_garbage() {
    let garbage: [&[u8]; 6] = [
        b"",
        b"null",
        b"[[[[[[[[[[]]]]]]]]]]",
        b"{\"shipments\": 7}",
        b"<a><b>",
        b"\xff\xfe",
    ];
    for kind in catalog::all()
        .into_iter()
        .filter(|k| k.definition().is_some())
    {
        for body in garbage {
            let _ = Sample::new(kind, BodySource::Poll, body.to_vec()).parse();
        }
    }
}
