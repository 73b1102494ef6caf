//! The deploy kit, exercised: the Prometheus rules pass their promtool unit tests, every
//! expression of the Grafana dashboard parses (promtool) and names only metrics the gateway
//! exports, and Debian's nginx with the shipped config passes signed webhooks through to a
//! gateway that verifies and stores them. promtool and nginx come from scripts/test.sh; a test
//! without them fails, it does not skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("{program} must be installed (scripts/test.sh installs it): {err}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}

#[test]
fn the_prometheus_rules_pass_their_unit_tests() {
    let dir = repository().join("deploy/prometheus");
    run(
        "promtool",
        &["check", "rules", dir.join("alerts.yml").to_str().unwrap()],
    );
    let out = run(
        "promtool",
        &[
            "test",
            "rules",
            dir.join("alerts.test.yml").to_str().unwrap(),
        ],
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

fn dashboard_expressions() -> Vec<String> {
    let text = std::fs::read_to_string(repository().join("deploy/grafana/trackgate.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| {
            target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
        })
        .collect()
}

#[tokio::test]
async fn every_dashboard_expression_parses_and_names_exported_metrics() {
    let expressions = dashboard_expressions();
    assert!(expressions.len() >= 25, "{} expressions", expressions.len());
    let rules = serde_json::json!({"groups": [{"name": "dashboard", "rules": expressions
        .iter()
        .enumerate()
        .map(|(i, expr)| serde_json::json!({"record": format!("dashboard:panel_{i}"), "expr": expr}))
        .collect::<Vec<_>>()}]});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), rules.to_string()).unwrap();
    run(
        "promtool",
        &["check", "rules", file.path().to_str().unwrap()],
    );

    // Every metric the dashboard and the rules read is one the gateway exports (after a
    // webhook, a push and a scrape, so that the labelled series exist).
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX-DASH1", None).await;
    app.sandbox_webhook(&sandbox_event(
        "SBX-DASH1",
        "d1",
        "2026-11-20T08:00:00+01:00",
        "PU",
    ))
    .await;
    let _ = app.http.get(format!("{}/healthz", app.base)).send().await;
    wait_until("the push", Duration::from_secs(20), || async {
        !app.pushes_received().await.is_empty()
    })
    .await;
    // Families without series yet are not in the text: the definitions are read too.
    let exported = app.metrics_text().await
        + &std::fs::read_to_string(repository().join("src/metrics/mod.rs")).unwrap()
        + &std::fs::read_to_string(repository().join("src/metrics/operations.rs")).unwrap();
    let rules_text =
        std::fs::read_to_string(repository().join("deploy/prometheus/alerts.yml")).unwrap();
    let mut missing = Vec::new();
    for text in expressions
        .iter()
        .map(String::as_str)
        .chain([rules_text.as_str()])
    {
        for name in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("trackgate_") || word.starts_with("process_"))
        {
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            let known = exported.contains(&format!("# TYPE {base} "))
                || exported.contains(&format!("\"{base}\""));
            if !known && !missing.contains(&base.to_owned()) {
                missing.push(base.to_owned());
            }
        }
    }
    assert!(missing.is_empty(), "not exported: {missing:?}");
    app.finish().await;
}

#[tokio::test]
async fn signed_webhooks_pass_through_nginx_with_the_shipped_config() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("sandbox", "SBX-NGINX1", None).await;
    let gateway_port = url::Url::parse(&app.base).unwrap().port().unwrap();
    let nginx_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(repository().join("deploy/nginx/trackgate.conf")).unwrap();
    let site = shipped
        .replace(
            "server 127.0.0.1:8080;",
            &format!("server 127.0.0.1:{gateway_port};"),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{nginx_port};"));
    assert_ne!(
        site, shipped,
        "the upstream and listen lines are where the test expects them"
    );
    let prefix = dir.path();
    std::fs::write(prefix.join("trackgate.conf"), site).unwrap();
    std::fs::write(
        prefix.join("nginx.conf"),
        format!(
            "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{}}\nhttp {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  include {p}/trackgate.conf;\n}}\n",
            p = prefix.display()
        ),
    )
    .unwrap();
    let conf = prefix.join("nginx.conf");
    run(
        "nginx",
        &[
            "-t",
            "-p",
            prefix.to_str().unwrap(),
            "-c",
            conf.to_str().unwrap(),
        ],
    );
    let mut nginx = Command::new("nginx")
        .args([
            "-p",
            prefix.to_str().unwrap(),
            "-c",
            conf.to_str().unwrap(),
            "-g",
            "daemon off;",
        ])
        .spawn()
        .expect("nginx starts");
    let through = format!("http://127.0.0.1:{nginx_port}");
    wait_until("nginx listens", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", nginx_port))
            .await
            .is_ok()
    })
    .await;

    // A signed webhook through nginx: byte for byte, so the signature verifies and it is stored.
    let body = sandbox_event("SBX-NGINX1", "n1", "2026-11-20T08:00:00+01:00", "PU");
    let response = post_sandbox_webhook(&app.http, &through, &body).await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers().get("x-request-id").cloned();
    app.settled().await;
    let (_, stored) = app
        .get_json("/v1/track/SBX-NGINX1", &app.keys.support)
        .await;
    assert_eq!(stored["shipments"][0]["status"], "picked_up", "{stored}");
    // nginx's $request_id is the gateway's request id.
    let request_id = request_id.expect("the answer carries the request id");
    assert_eq!(request_id.len(), 32, "nginx's $request_id: {request_id:?}");

    // A forged one is refused by the gateway, not by nginx; too large a body by nginx.
    let forged = app
        .http
        .post(format!("{through}/webhooks/sandbox"))
        .header(trackgate::carriers::sandbox::SIGNATURE_HEADER, "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let huge = app
        .http
        .post(format!("{through}/webhooks/sandbox"))
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // The tracking pages are public; metrics are not (a loopback client is "private" here, so
    // only the route's existence is checked).
    let metrics = app
        .http
        .get(format!("{through}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    // A stop through nginx itself, so its workers go with it.
    run(
        "nginx",
        &[
            "-p",
            prefix.to_str().unwrap(),
            "-c",
            conf.to_str().unwrap(),
            "-s",
            "stop",
        ],
    );
    let _ = nginx.wait();
    app.finish().await;
}

/// With `server.admin_listen`, the operator's routes move to their own port: the main port
/// (the one nginx exposes to carriers) no longer answers `/metrics` or `/v1/admin/…`.
#[tokio::test]
async fn the_admin_listener_takes_metrics_and_admin_off_the_main_port() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("server.admin_listen", serde_json::json!("127.0.0.1:0"))],
    )
    .await;
    let admin_port = app
        .running
        .as_ref()
        .unwrap()
        .admin_port
        .expect("an admin listener");
    let admin = format!("http://127.0.0.1:{admin_port}");
    let get = |base: String, path: &'static str| {
        let http = app.http.clone();
        let key = app.keys.admin.clone();
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(app.base.clone(), "/metrics").await, 404);
    assert_eq!(get(app.base.clone(), "/v1/admin/carriers").await, 404);
    assert_eq!(get(app.base.clone(), "/healthz").await, 200);
    assert_eq!(get(admin.clone(), "/metrics").await, 200);
    assert_eq!(get(admin.clone(), "/v1/admin/carriers").await, 200);
    assert_eq!(get(admin.clone(), "/v1/shipments?order_id=x").await, 404);
    // Webhooks still arrive on the main port.
    app.register("sandbox", "SBX-ADMIN1", None).await;
    let body = sandbox_event("SBX-ADMIN1", "a1", "2026-11-20T08:00:00+01:00", "PU");
    assert_eq!(
        post_sandbox_webhook(&app.http, &app.base, &body)
            .await
            .status(),
        200
    );
    app.finish().await;
}
