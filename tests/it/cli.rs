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
            (
                "TRACKGATE__MALL__SIGNING_SECRET",
                "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
            ),
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
    for secret in ["123456789", "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "hunter2"] {
        assert!(
            !printed.contains(secret),
            "secret {secret} printed:\n{printed}"
        );
    }
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
