//! Built-in alerts end to end: a mall outage turns pushes into dead letters; every receiver
//! (a signed webhook, Slack, DingTalk with its signature, WeCom, and e-mail through a fake SMTP
//! server) gets one alert, a repeat at the interval and a resolved message after the replay;
//! a receiver that fails at first gets its messages by retry, without holding up the others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// A minimal SMTP server on loopback that keeps every message's DATA.
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

fn bodies(requests: &[wiremock::Request], at: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_mall_outage_alerts_once_repeats_and_resolves_after_replay() {
    let (smtp_port, mails) = fake_smtp().await;
    let alert_secret = new_signing_secret();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("retry.max_attempts", json!(1)),
            ("alerts.evaluate_secs", json!(1)),
            ("alerts.repeat_secs", json!(3)),
            ("alerts.delivery_attempts", json!(4)),
            ("alerts.webhook.url", json!("{mall}/alerts/webhook")),
            ("alerts.webhook.secret", json!(alert_secret)),
            ("alerts.slack.url", json!("{mall}/alerts/slack")),
            (
                "alerts.dingtalk.url",
                json!("{mall}/alerts/dingtalk?access_token=t0k"),
            ),
            ("alerts.dingtalk.secret", json!("SECding")),
            ("alerts.wecom.url", json!("{mall}/alerts/wecom?key=k3y")),
            ("alerts.email.smtp_host", json!("127.0.0.1")),
            ("alerts.email.smtp_port", json!(smtp_port)),
            ("alerts.email.tls", json!("none")),
            ("alerts.email.from", json!("trackgate@example.com")),
            ("alerts.email.to", json!(["oncall@example.com"])),
        ],
    )
    .await;
    // The mall is down; WeCom fails twice before it answers.
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&app.mall)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts/wecom"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .up_to_n_times(2)
        .mount(&app.mall)
        .await;
    for receiver in ["webhook", "slack", "dingtalk", "wecom"] {
        Mock::given(method("POST"))
            .and(path(format!("/alerts/{receiver}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 0})))
            .with_priority(2)
            .mount(&app.mall)
            .await;
    }
    app.register("sandbox", "SBX-ALERT1", None).await;
    app.sandbox_webhook(&sandbox_event(
        "SBX-ALERT1",
        "a1",
        "2026-11-20T08:00:00+01:00",
        "PU",
    ))
    .await;

    let webhook_states = || async {
        let requests = app.mall.received_requests().await.unwrap_or_default();
        bodies(&requests, "/alerts/webhook")
            .into_iter()
            .filter(|b| b["rule"] == "dead_letters")
            .map(|b| b["state"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    wait_until(
        "the alert and a repeat",
        Duration::from_secs(30),
        || async {
            let states = webhook_states().await;
            states.contains(&"firing".to_owned()) && states.contains(&"repeat".to_owned())
        },
    )
    .await;
    let states = webhook_states().await;
    assert_eq!(
        states.iter().filter(|s| *s == "firing").count(),
        1,
        "{states:?}"
    );

    // The mall is back; the operator replays; the alert resolves.
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&app.mall)
        .await;
    let (_, letters) = app
        .get_json("/v1/admin/dead-letters", &app.keys.admin)
        .await;
    let letter = letters["dead_letters"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .post_json(
            &format!("/v1/admin/dead-letters/{letter}/replay"),
            &app.keys.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    wait_until("the resolved message", Duration::from_secs(30), || async {
        webhook_states().await.contains(&"resolved".to_owned())
    })
    .await;
    let states = webhook_states().await;
    assert_eq!(
        states.iter().filter(|s| *s == "firing").count(),
        1,
        "fired once: {states:?}"
    );
    assert_eq!(states.last().unwrap(), "resolved");

    // Every receiver has the firing and the resolution, in its own format.
    wait_until(
        "every receiver has the resolution",
        Duration::from_secs(30),
        || async {
            let requests = app.mall.received_requests().await.unwrap_or_default();
            let texts = |at: &str, field: &str| -> Vec<String> {
                bodies(&requests, at)
                    .iter()
                    .map(|b| {
                        b.pointer(field)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect()
            };
            let all_have = |texts: Vec<String>| {
                texts
                    .iter()
                    .any(|t| t.contains("[trackgate FIRING]") && t.contains("dead letter"))
                    && texts.iter().any(|t| t.contains("[trackgate RESOLVED]"))
            };
            let mail = mails.lock().unwrap().join("\n");
            all_have(texts("/alerts/slack", "/text"))
                && all_have(texts("/alerts/dingtalk", "/text/content"))
                && all_have(texts("/alerts/wecom", "/text/content"))
                && mail.contains("FIRING")
                && mail.contains("RESOLVED")
        },
    )
    .await;

    let requests = app.mall.received_requests().await.unwrap();
    // The signed webhook verifies with the alert secret; DingTalk's URL carries its signature.
    let verifier = standardwebhooks::Webhook::new(&alert_secret).unwrap();
    for request in requests
        .iter()
        .filter(|r| r.url.path() == "/alerts/webhook")
    {
        let headers = header_map(request);
        verifier
            .verify(&request.body, &headers)
            .expect("alert webhooks are signed");
    }
    let ding = requests
        .iter()
        .find(|r| r.url.path() == "/alerts/dingtalk")
        .unwrap();
    let query: std::collections::HashMap<_, _> = ding.url.query_pairs().into_owned().collect();
    assert_eq!(query["access_token"], "t0k");
    let timestamp: i64 = query["timestamp"].parse().unwrap();
    let expected =
        trackgate::alerts::dingtalk_signed("http://x/?a=b", "SECding", timestamp).unwrap();
    assert!(expected.ends_with(&format!(
        "sign={}",
        form_urlencoded::byte_serialize(query["sign"].as_bytes()).collect::<String>()
    )));
    // WeCom failed twice, then got everything by retry.
    let wecom = requests
        .iter()
        .filter(|r| r.url.path() == "/alerts/wecom")
        .count();
    assert!(wecom >= 4, "retries reached WeCom: {wecom} requests");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("trackgate_alert_deliveries_total{receiver=\"email\",result=\"sent\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("trackgate_dead_letters_open 0"));
    app.finish().await;
}

/// A fault on the real PostgreSQL: the gateway's database refuses every connection (its
/// connection limit set to 0 and its sessions terminated, as an outage would). The process
/// alerts "store unreachable" through a receiver that does not depend on the store, and sends
/// the resolution once the database takes connections again; nothing is left firing.
#[tokio::test]
async fn an_unreachable_database_alerts_and_resolves_on_postgres_rabbitmq() {
    let app = TestApp::spawn_with(
        Backend::PostgresRabbit,
        &[
            ("alerts.evaluate_secs", json!(1)),
            ("alerts.slack.url", json!("{mall}/alerts/slack")),
            ("database.max_connections", json!(2)),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/alerts/slack"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.mall)
        .await;
    let admin = sea_orm::Database::connect(crate::helpers::postgres_admin_url())
        .await
        .unwrap();
    let database = app.database_name();
    use sea_orm::ConnectionTrait;
    let sql = |text: String| {
        let admin = admin.clone();
        async move { admin.execute_unprepared(&text).await.unwrap() }
    };
    sql(format!("ALTER DATABASE \"{database}\" CONNECTION LIMIT 0")).await;
    sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    ))
    .await;
    let slack = || async {
        let requests = app.mall.received_requests().await.unwrap_or_default();
        bodies(&requests, "/alerts/slack")
            .iter()
            .map(|b| b["text"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    wait_until("the store alert", Duration::from_secs(60), || async {
        slack()
            .await
            .iter()
            .any(|t| t.contains("FIRING") && t.contains("store_unreachable"))
    })
    .await;
    sql(format!("ALTER DATABASE \"{database}\" CONNECTION LIMIT -1")).await;
    wait_until(
        "the store alert resolved",
        Duration::from_secs(60),
        || async {
            slack()
                .await
                .iter()
                .any(|t| t.contains("RESOLVED") && t.contains("store_unreachable"))
        },
    )
    .await;
    let firing = slack()
        .await
        .iter()
        .filter(|t| t.contains("[trackgate FIRING]") && t.contains("store_unreachable"))
        .count();
    assert_eq!(firing, 1, "fired once: {:?}", slack().await);
    wait_until("nothing left firing", Duration::from_secs(20), || async {
        !app.metrics_text()
            .await
            .contains("trackgate_alerts_firing{rule=\"store_unreachable\"")
    })
    .await;
    app.finish().await;
}
