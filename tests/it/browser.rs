//! The console and the customer page in a real browser: Debian's chromium, driven through
//! chromedriver (installed by `scripts/test.sh`; nothing downloads a browser of its own). Sign
//! in, search by another spelling, read the timeline and the pushes, watch a webhook sent during
//! the test appear without a reload, refresh, the XSS case, the dashboard, replay a dead letter
//! as admin, the customer page from a link, and edited or expired links refused.
//!
//! With `TRACKGATE_SCREENSHOTS=1` the screenshots are written to `docs/screenshots/` (the ones
//! the README shows); otherwise to `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};
use crate::restart::free_port;

struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    async fn start() -> Browser {
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&chromedriver).exists()
                && std::path::Path::new(&chromium).exists(),
            "the browser tests need Debian's chromium and chromium-driver ({chromium}, \
             {chromedriver}); scripts/test.sh installs them"
        );
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,900", "--lang=en-US"],
            }),
        );
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(err) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "chromedriver did not start a session: {err}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        Browser { driver, client }
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = if std::env::var_os("TRACKGATE_SCREENSHOTS").is_some() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The text of `css` once the page shows it (up to 10 s): after a form posted from a page
    /// back to the same page, the address is the same before and after, so only the element
    /// tells that the new page is there.
    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no `{css}` on the page within 10 s: {err}"))
            .text()
            .await
            .unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Wait until `#live` (re-rendered by the stream) contains `needle`; returns how long.
    async fn until_live_contains(&self, needle: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let text = self
                .js("return document.getElementById('live').textContent")
                .await;
            if text.as_str().unwrap_or("").contains(needle) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "`{needle}` did not appear on the open page within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn until_stream_open(&self) {
        let started = Instant::now();
        while self
            .js("return document.body.getAttribute('data-stream')")
            .await
            != json!("open")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the page's stream did not open"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait until the browser is at `path` (a click that submits a form returns before the
    /// navigation it starts has finished).
    async fn until_at(&self, path: &str) {
        let started = Instant::now();
        loop {
            let url = self.client.current_url().await.unwrap();
            if url.path() == path
                && self.js("return document.readyState").await == json!("complete")
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still at {url}, not {path}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no `{css}` to click: {err}"))
            .click()
            .await
            .unwrap();
    }

    async fn sign_in(&self, base: &str, key: &str) {
        self.client.goto(&format!("{base}/support")).await.unwrap();
        self.until_at("/support/login").await;
        self.client
            .find(Locator::Css("#api_key"))
            .await
            .unwrap()
            .send_keys(key)
            .await
            .unwrap();
        self.click("form button[type=submit]").await;
        self.until_at("/support").await;
    }

    async fn close(self) {
        let Browser { mut driver, client } = self;
        let _ = client.close().await;
        let _ = driver.kill();
        let _ = driver.wait();
    }
}

fn webhook_with(number: &str, id: &str, time: &str, code: &str, description: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"shipments": [{"tracking_number": number, "events": [
        {"id": id, "time": time, "code": code, "description": description, "location": "Hangzhou, CN"}
    ]}]}))
    .unwrap()
}

#[tokio::test]
async fn the_support_console_in_chromium() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("retry.max_attempts", json!(1))]).await;
    // The mall refuses the first push (it becomes a dead letter), then accepts everything.
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.mall)
        .await;
    app.mall_accepts_pushes().await;
    let shipment = app
        .register("sandbox", "sbx 6000001", Some("ORDER-UI"))
        .await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&sandbox_event(
        "SBX6000001",
        "ev-1",
        "2026-11-20T09:30:00+01:00",
        "PU",
    ))
    .await;
    let store = app.gateway().store.clone();
    wait_until(
        "the first push is a dead letter",
        Duration::from_secs(20),
        || async { !store.dead_letters(false, 10).await.unwrap().is_empty() },
    )
    .await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/support/login", app.base))
        .await
        .unwrap();
    browser.shot("console-login").await;
    browser.sign_in(&app.base, &app.keys.support).await;

    // Search by another spelling of the number: straight to the shipment.
    let search = browser.client.find(Locator::Css("#q")).await.unwrap();
    search.send_keys("SBX-6000001").await.unwrap();
    browser.click("form.search button").await;
    browser.until_at(&format!("/support/shipments/{id}")).await;
    let status = browser.text("#status").await;
    assert!(
        status.contains("Picked up") && status.contains("已揽收"),
        "{status}"
    );
    let timeline = browser.text("#timeline").await;
    assert!(
        timeline.contains("2026-11-20 09:30") && timeline.contains("UTC+01:00"),
        "{timeline}"
    );
    let pushes = browser.text("table.pushes").await;
    assert!(
        pushes.contains("HTTP 500") && pushes.contains("Dead letter"),
        "{pushes}"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("button.replay"))
            .await
            .is_err(),
        "a support agent cannot replay"
    );

    // A webhook sent while the page is open appears without a reload.
    browser.until_stream_open().await;
    let marker = browser.js("window.__sameDocument = 'yes'; return 1").await;
    assert_eq!(marker, json!(1));
    let sent = Instant::now();
    app.sandbox_webhook(&webhook_with(
        "SBX6000001",
        "ev-2",
        "2026-11-21T10:15:00+08:00",
        "IT",
        "Arrived at Hangzhou sorting centre",
    ))
    .await;
    browser
        .until_live_contains("Arrived at Hangzhou sorting centre", Duration::from_secs(5))
        .await;
    println!(
        "live update on the open console page {:?} after the webhook was sent",
        sent.elapsed()
    );
    assert_eq!(
        browser.js("return window.__sameDocument").await,
        json!("yes"),
        "no reload happened"
    );
    assert!(browser.text("#timeline").await.contains("UTC+08:00"));
    // Tall enough for the whole page in the screenshot.
    browser.client.set_window_size(1200, 1500).await.unwrap();
    browser.shot("console-shipment").await;
    browser.client.set_window_size(1200, 900).await.unwrap();

    // Carrier text is untrusted: shown as text, never run.
    let xss = "<img src=x onerror=alert(1)>";
    app.sandbox_webhook(&webhook_with(
        "SBX6000001",
        "ev-3",
        "2026-11-21T12:00:00+08:00",
        "IT",
        xss,
    ))
    .await;
    browser
        .until_live_contains(xss, Duration::from_secs(5))
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#live img').length")
            .await,
        json!(0)
    );
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no script ran"
    );
    browser.client.refresh().await.unwrap();
    assert!(browser.text("#timeline").await.contains(xss));
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no script ran on a full render"
    );

    // Refresh now.
    browser.click("#refresh").await;
    browser.until_at(&format!("/support/shipments/{id}")).await;
    let notice = browser.text(".notice").await;
    assert!(notice.contains("Refresh queued"), "{notice}");

    // The dashboard, after a little traffic sampled (the gateway samples every 10 s; here
    // faster, so the chart has a shape).
    app.gateway().metrics.sample();
    for round in 0..8 {
        for n in 0..(1 + round % 4) {
            app.sandbox_webhook(&sandbox_event(
                "SBX6000001",
                &format!("ev-load-{round}-{n}"),
                &format!("2026-11-21T13:{round:02}:{n:02}+08:00"),
                "IT",
            ))
            .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.gateway().metrics.sample();
    }
    browser
        .client
        .goto(&format!("{}/support/dashboard", app.base))
        .await
        .unwrap();
    assert_eq!(browser.text("#dead-letters").await, "1");
    assert!(browser.text("table.list").await.contains("sandbox"));
    browser.shot("console-dashboard").await;

    // Sign out; as admin, replay the dead letter.
    browser.click("button.link").await;
    browser.until_at("/support/login").await;
    browser.sign_in(&app.base, &app.keys.admin).await;
    browser
        .client
        .goto(&format!("{}/support/shipments/{id}", app.base))
        .await
        .unwrap();
    browser.click("button.replay").await;
    browser.until_at(&format!("/support/shipments/{id}")).await;
    let notice = browser.text(".notice").await;
    assert!(notice.contains("replayed"), "{notice}");
    wait_until(
        "the replayed push is delivered",
        Duration::from_secs(20),
        || async {
            store.dead_letters(false, 10).await.unwrap().is_empty()
                && app
                    .pushes_received()
                    .await
                    .iter()
                    .any(|p| p["sequence"] == 1)
        },
    )
    .await;

    // Phone-sized.
    browser.client.set_window_size(420, 900).await.unwrap();
    browser.client.refresh().await.unwrap();
    browser.shot("console-shipment-phone").await;
    browser.close().await;
    app.finish().await;
}

#[tokio::test]
async fn the_customer_page_in_chromium() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    let shipment = app
        .register("sandbox", "SBX6000002", Some("ORDER-SECRET-77"))
        .await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&webhook_with(
        "SBX6000002",
        "ev-1",
        "2026-11-20T09:30:00+08:00",
        "PU",
        "Picked up by courier",
    ))
    .await;
    let (status, link) = app
        .post_json(
            &format!("/v1/shipments/{id}/tracking-link"),
            &app.keys.mall,
            json!({"ttl_days": 7}),
        )
        .await;
    assert_eq!(status, 201);
    let url = link["url"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.client.set_window_size(420, 860).await.unwrap();
    browser.client.goto(&url).await.unwrap();
    assert_eq!(browser.text("#number").await, "SBX6000002");
    assert!(browser.text("#status").await.contains("Picked up"));
    let source = browser.client.source().await.unwrap();
    for internal in [id.as_str(), "ORDER-SECRET-77", "class=\"raw\"", "/support"] {
        assert!(
            !source.contains(internal),
            "the customer page shows `{internal}`"
        );
    }
    // Live, without a key.
    browser.until_stream_open().await;
    app.sandbox_webhook(&webhook_with(
        "SBX6000002",
        "ev-2",
        "2026-11-21T08:00:00+08:00",
        "OD",
        "Out for delivery with courier Li",
    ))
    .await;
    browser
        .until_live_contains("Out for delivery with courier Li", Duration::from_secs(5))
        .await;
    browser.shot("customer-page").await;

    // An edited token, and an expired one.
    let token = link["token"].as_str().unwrap();
    let mut edited = token.to_owned();
    let last = edited.pop().unwrap();
    edited.push(if last == 'A' { 'B' } else { 'A' });
    browser
        .client
        .goto(&format!("{}/t/{edited}", app.base))
        .await
        .unwrap();
    assert!(browser.text("#problem").await.contains("not valid"));
    let expired = app.gateway().tokens.sign(
        trackgate::domain::tokens::Purpose::Tracking,
        &trackgate::domain::tokens::LinkClaims {
            shipment_id: id.clone(),
            exp: chrono::Utc::now() - chrono::Duration::minutes(1),
        },
    );
    browser
        .client
        .goto(&format!("{}/t/{expired}", app.base))
        .await
        .unwrap();
    assert!(browser.text("#problem").await.contains("expired"));
    browser.close().await;

    // The same refusals over plain HTTP, with their status codes.
    let status = |path: String| {
        let http = app.http.clone();
        async move { http.get(path).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{}/t/{edited}", app.base)).await, 404);
    assert_eq!(status(format!("{}/t/{expired}", app.base)).await, 410);
    assert_eq!(status(format!("{}/t/{edited}/live", app.base)).await, 404);
    let page = app.http.get(&url).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    app.finish().await;
}
