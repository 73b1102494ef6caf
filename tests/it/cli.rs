//! The command line's contracts: configuration layering, redaction and errors that name the key.

use std::process::{Command, Output};

fn trackgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trackgate"));
    command.args(args).env("RUST_LOG", "error");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TRACKGATE__")) {
        command.env_remove(key);
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("the trackgate binary runs")
}

#[test]
fn check_config_layers_the_environment_over_the_defaults_and_redacts_secrets() {
    let output = trackgate(
        &["check-config"],
        &[
            ("TRACKGATE__QUEUE__KIND", "rabbitmq"),
            ("TRACKGATE__RETRY__MAX_ATTEMPTS", "5"),
            ("TRACKGATE__CARRIERS__KUAIDI100__SALT", "123456789"),
            // Two secrets while the mall rotates: both 24+ bytes.
            (
                "TRACKGATE__MALL__SIGNING_SECRET",
                "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA== whsec_b2xkLW9sZC1vbGQtb2xkLW9sZC1vbGQtb2xkLW9sZA==",
            ),
            ("TRACKGATE__MALL__ENDPOINT", "https://mall.example/hook"),
            (
                "TRACKGATE__DATABASE__URL",
                "postgres://tg:hunter2@127.0.0.1/tg",
            ),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("kind = \"rabbitmq\""), "{printed}");
    assert!(printed.contains("max_attempts = 5"), "{printed}");
    assert!(printed.contains("listen = \"127.0.0.1:8080\""), "{printed}");
    assert!(printed.contains("salt = \"<redacted>\""), "{printed}");
    // Every section is printed.
    for section in [
        "[server]",
        "[database]",
        "[queue]",
        "[mall]",
        "[retry]",
        "[poll]",
        "[poll.schedule]",
        "[intake]",
        "[web]",
        "[live]",
        "[alerts]",
        "[log]",
        "api_key_cache_secs",
    ] {
        assert!(printed.contains(section), "{section} missing:\n{printed}");
    }
    for secret in [
        "123456789",
        "c2VjcmV0LXNlY3JldC1zZWNyZXQ",
        "b2xkLW9sZC",
        "hunter2",
    ] {
        assert!(
            !printed.contains(secret),
            "secret {secret} printed:\n{printed}"
        );
    }
}

#[test]
fn check_config_refuses_what_serve_cannot_run_with_naming_the_key() {
    let short = trackgate(
        &["check-config"],
        &[
            ("TRACKGATE__MALL__ENDPOINT", "https://mall.example/hook"),
            // 20 bytes: too short to sign with.
            (
                "TRACKGATE__MALL__SIGNING_SECRET",
                "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
            ),
        ],
    );
    assert!(!short.status.success());
    let said = String::from_utf8_lossy(&short.stderr);
    assert!(
        said.contains("`mall.signing_secret`") && said.contains("24"),
        "{said}"
    );
    let no_endpoint = trackgate(
        &["check-config"],
        &[(
            "TRACKGATE__MALL__SIGNING_SECRET",
            "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
        )],
    );
    assert!(!no_endpoint.status.success());
    let said = String::from_utf8_lossy(&no_endpoint.stderr);
    assert!(said.contains("`mall.endpoint` is empty"), "{said}");
}

#[test]
fn keys_are_listed_as_a_table_or_json_without_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
    let env = [
        ("TRACKGATE__DATABASE__URL", database.as_str()),
        ("TRACKGATE__QUEUE__KIND", "rabbitmq"),
        (
            "TRACKGATE__QUEUE__AMQP_URL",
            "amqp://guest:guest@127.0.0.1:1/%2f",
        ),
    ];
    let created = trackgate(
        &["keys", "create", "--scope", "support", "--name", "helpdesk"],
        &env,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let table = trackgate(&["keys", "list"], &env);
    let table = String::from_utf8(table.stdout).unwrap();
    let mut lines = table.lines();
    let heading = lines.next().unwrap();
    assert!(
        heading.starts_with("ID") && heading.contains("SCOPE") && heading.contains("NAME"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("support") && row.contains("active") && row.ends_with("helpdesk"),
        "{table}"
    );
    let json = trackgate(&["keys", "list", "--json"], &env);
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(listed[0]["scope"], "support");
    assert_eq!(listed[0]["name"], "helpdesk");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let output = trackgate(
        &["keys", "list"],
        &[(
            "TRACKGATE__DATABASE__URL",
            "postgres://tg:hunter2@127.0.0.1:1/tg",
        )],
    );
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("cannot connect to the database at postgres://tg:redacted@127.0.0.1:1/tg"),
        "{said}"
    );
    assert!(
        said.contains("TRACKGATE__DATABASE__URL") && !said.contains("hunter2"),
        "{said}"
    );
}

#[test]
fn every_command_and_argument_has_help() {
    fn undocumented(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if !matches!(id, "help" | "version") && arg.get_help().is_none() {
                found.push(format!("{path} {id}"));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_about().is_none() {
                found.push(format!("{path} {}", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }
    let mut found = Vec::new();
    undocumented(&trackgate::cli::command(), "trackgate", &mut found);
    assert!(found.is_empty(), "without help text: {found:#?}");
}

#[test]
fn carriers_list_shows_every_kind_and_the_configured_instances() {
    let output = trackgate(
        &["carriers", "list"],
        &[
            ("TRACKGATE__CARRIERS__SHIPPO_USPS__KIND", "shippo"),
            ("TRACKGATE__CARRIERS__EASYPOST__API_KEY", "ek"),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    for kind in trackgate::carriers::CATALOG {
        assert!(
            printed
                .lines()
                .any(|line| line.starts_with(&format!("{}\t", kind.kind))),
            "{} missing:\n{printed}",
            kind.kind
        );
    }
    let shippo = printed.lines().find(|l| l.starts_with("shippo\t")).unwrap();
    assert!(shippo.contains("shippo_usps"), "{shippo}");
    let easypost = printed
        .lines()
        .find(|l| l.starts_with("easypost\t"))
        .unwrap();
    assert!(easypost.contains("easypost (polling)"), "{easypost}");
    // Every kind as Markdown: each row of docs/carriers.md (the built-in kinds), then the
    // shipped definitions with their files as the source.
    let markdown =
        String::from_utf8(trackgate(&["carriers", "list", "--markdown"], &[]).stdout).unwrap();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/carriers.md")).unwrap();
    for row in docs.lines().filter(|l| l.starts_with("| `")) {
        assert!(markdown.contains(row), "{row}");
    }
    assert!(
        markdown.contains("| `gls` | GLS | `carriers/definitions/gls.toml` |"),
        "{markdown}"
    );
}

#[test]
fn a_bad_value_is_an_error_naming_the_key() {
    let output = trackgate(
        &["check-config"],
        &[("TRACKGATE__RETRY__MAX_ATTEMPTS", "lots")],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_attempts"));
    let output = trackgate(&["check-config"], &[("TRACKGATE__QUEUE__KIND", "kafka")]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("queue.kind"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_secret_in_a_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prod.toml");
    std::fs::write(&file, "[mall]\nsigning_secret = \"whsec_AAAA\"\n").unwrap();
    let output = trackgate(&["--config", file.to_str().unwrap(), "check-config"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("TRACKGATE__MALL__SIGNING_SECRET"));
}

#[test]
fn serve_without_a_mall_endpoint_says_which_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let output = trackgate(
        &["serve"],
        &[
            ("TRACKGATE__DATABASE__URL", &url),
            ("TRACKGATE__SERVER__LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("TRACKGATE__MALL__ENDPOINT"));
}

#[test]
fn normalize_prints_shipments_deduplicated_and_oldest_first() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/carriers");
    let output = trackgate(
        &[
            "normalize",
            "--carrier",
            "kuaidi100",
            &format!("{fixtures}/kuaidi100/callback-delivered-state-names.txt"),
        ],
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let shipment = &printed["shipments"][0];
    assert_eq!(shipment["tracking_number"], "78412345678901");
    assert_eq!(shipment["carrier"], "kuaidi100");
    assert_eq!(shipment["status"], "delivered");
    assert_eq!(shipment["delivered_at"], "2026-11-21T03:45:09.000Z");
    let events = shipment["events"].as_array().unwrap();
    assert_eq!(events.len(), 6);
    assert_eq!(
        events[0]["occurred_at"], "2026-11-19T09:20:05.000Z",
        "oldest first"
    );
    assert_eq!(printed["problems"], serde_json::json!([]));

    let output = trackgate(
        &[
            "normalize",
            "--carrier",
            "sandbox",
            "--source",
            "poll",
            &format!("{fixtures}/sandbox/poll-mixed-batch.json"),
        ],
        &[],
    );
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["shipments"].as_array().unwrap().len(), 2);
    assert_eq!(
        printed["problems"].as_array().unwrap().len(),
        2,
        "a bad time and an entry without a number"
    );

    let output = trackgate(
        &[
            "normalize",
            "--carrier",
            "sandbox",
            &format!("{fixtures}/sandbox/webhook-malformed.json"),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a sandbox body"));
    let output = trackgate(&["normalize", "--carrier", "pigeon", "-"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--carrier"));
}

#[test]
fn detect_ranks_candidates_and_fails_on_unknown_formats() {
    let output = trackgate(&["detect", "1z999aa10123456784"], &[]);
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["number"], "1Z999AA10123456784");
    assert_eq!(printed["candidates"][0]["carrier"], "UPS");
    assert_eq!(printed["candidates"][0]["confidence"], "high");
    let output = trackgate(&["detect", "1Z999AA10123456785"], &[]);
    assert!(
        !output.status.success(),
        "a bad check digit matches nothing"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("no known carrier"));
}

mod against_a_running_gateway {
    use std::time::Duration;

    use serde_json::{Value, json};
    use trackgate::store::states::OutboxState;
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};

    use crate::helpers::{Backend, TestApp, fixture, sandbox_event, wait_until};

    fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
        let database = app.storage.as_ref().unwrap().database_url.clone();
        let output = super::trackgate(args, &[("TRACKGATE__DATABASE__URL", database.as_str())]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    #[tokio::test]
    async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
        let app = TestApp::spawn_with(Backend::Sqlite, &[("retry.max_attempts", json!(1))]).await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&app.mall)
            .await;
        let shipment = app.register("sandbox", "SBX-CLI", None).await;
        let id = shipment["id"].as_str().unwrap().to_owned();
        app.sandbox_webhook(&sandbox_event("SBX-CLI", "1", "2026-11-20T08:00:00Z", "PU"))
            .await;
        let store = app.gateway().store.clone();
        wait_until("the push is dead", Duration::from_secs(15), || async {
            store.outbox_of_shipment(&id).await.unwrap()[0].state == OutboxState::Dead
        })
        .await;

        // Listing is read-only: it works with a broker that is not there.
        let database = app.storage.as_ref().unwrap().database_url.clone();
        let no_broker = super::trackgate(
            &["dead-letters", "list", "--json"],
            &[
                ("TRACKGATE__DATABASE__URL", database.as_str()),
                ("TRACKGATE__QUEUE__KIND", "rabbitmq"),
                (
                    "TRACKGATE__QUEUE__AMQP_URL",
                    "amqp://guest:guest@127.0.0.1:1/%2f",
                ),
            ],
        );
        assert!(
            no_broker.status.success(),
            "{}",
            String::from_utf8_lossy(&no_broker.stderr)
        );
        let listed: Value = serde_json::from_slice(&no_broker.stdout).unwrap();
        let letter = listed[0].clone();
        assert_eq!(letter["kind"], "push");
        // The table has headings and the letter's row.
        let (ok, table, stderr) = cli(&app, &["dead-letters", "list"]);
        assert!(ok, "{stderr}");
        let mut lines = table.lines();
        assert!(
            lines.next().unwrap().starts_with("ID  KIND  REF"),
            "{table}"
        );
        assert!(
            lines.next().unwrap().starts_with(&letter["id"].to_string()),
            "{table}"
        );

        app.mall.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&app.mall)
            .await;
        let (ok, replayed, stderr) =
            cli(&app, &["dead-letters", "replay", &letter["id"].to_string()]);
        assert!(ok, "{stderr}");
        assert!(replayed.starts_with("replayed:"));
        wait_until(
            "the running gateway delivers the replayed push",
            Duration::from_secs(15),
            || async {
                store.outbox_of_shipment(&id).await.unwrap()[0].state == OutboxState::Delivered
            },
        )
        .await;
        let (ok, _, stderr) = cli(&app, &["dead-letters", "replay", &letter["id"].to_string()]);
        assert!(!ok && stderr.contains("already replayed"), "{stderr}");
        app.finish().await;
    }

    #[tokio::test]
    async fn reprocess_reports_what_it_did() {
        let app = TestApp::spawn(Backend::Sqlite).await;
        assert_eq!(
            app.sandbox_webhook(&fixture("carriers/sandbox/webhook-malformed.json"))
                .await
                .status()
                .as_u16(),
            400
        );
        let (ok, summary, stderr) = cli(&app, &["reprocess"]);
        assert!(ok, "{stderr}");
        assert_eq!(
            summary.trim(),
            "reprocessed 0 webhook(s), 0 new event(s); 1 still failing"
        );
        let (ok, _, stderr) = cli(&app, &["reprocess", "--id", "999"]);
        assert!(!ok && stderr.contains("no inbound webhook 999"), "{stderr}");
        app.finish().await;
    }
}

/// `log.format = "json"`: every line the server writes is JSON (the "listening on" line
/// included), and a line written while serving a request carries its request id and the client
/// address nginx reported.
#[tokio::test]
async fn json_logs_are_json_on_every_line_with_the_request_id() {
    /// Kills the server however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    trackgate::startup::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::restart::free_port();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("logs.db").display());
    let listen = format!("127.0.0.1:{port}");
    let secret = crate::helpers::new_signing_secret();
    let log_file = dir.path().join("stderr.log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .envs([
            ("TRACKGATE__DATABASE__URL", database.as_str()),
            ("TRACKGATE__SERVER__LISTEN", listen.as_str()),
            ("TRACKGATE__MALL__ENDPOINT", "http://127.0.0.1:9/push"),
            ("TRACKGATE__MALL__SIGNING_SECRET", secret.as_str()),
            ("TRACKGATE__CARRIERS__SANDBOX__WEBHOOK_SECRET", "s3cret"),
            ("TRACKGATE__LOG__FORMAT", "json"),
            ("TRACKGATE__LOG__FILTER", "info"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .unwrap();
    let server = Killed(child);
    let http = reqwest::Client::new();
    crate::restart::wait_ready(&http, port).await;
    let refused = http
        .post(format!("http://{listen}/webhooks/sandbox"))
        .header("x-request-id", "req-abc-123")
        .header("x-forwarded-for", "203.0.113.7")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-request-id"], "req-abc-123");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(server);
    let text = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on http://"))),
        "{text}"
    );
    let in_request = lines
        .iter()
        .find(|l| l.to_string().contains("req-abc-123"))
        .unwrap_or_else(|| panic!("no line with the request id:\n{text}"));
    assert!(
        in_request.to_string().contains("203.0.113.7"),
        "{in_request}"
    );
    assert!(!text.contains("s3cret"), "a secret in the logs");
}
