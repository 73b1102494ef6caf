//! The console and customer pages over plain HTTP: sign-in rules, cookie flags, CSRF, session end
//! on key revocation, search by every handle, escaping of carrier text, security headers, and
//! the customer page's language and brand.

use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, sandbox_event};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of a `set-cookie` header for `name`, with the header's attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|header| {
            let pair = header.split(';').next().unwrap().to_owned();
            (pair, header.to_owned())
        })
}

/// An `application/x-www-form-urlencoded` request body.
trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn csrf_in(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

/// Sign in with `key`: the login answer, and the session cookie when one was set.
async fn sign_in(
    app: &TestApp,
    key: &str,
    extra: &[(&str, &str)],
) -> (reqwest::Response, Option<String>) {
    let http = client();
    let form = http
        .get(format!("{}/support/login", app.base))
        .send()
        .await
        .unwrap();
    let (pre, _) = set_cookie(&form, "tg_login").expect("a sign-in nonce cookie");
    let csrf = csrf_in(&form.text().await.unwrap());
    let mut request = http
        .post(format!("{}/support/login", app.base))
        .header("cookie", pre)
        .form_body(&[("api_key", key), ("csrf", csrf.as_str())]);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let session = set_cookie(&response, "tg_session").map(|(pair, _)| pair);
    (response, session)
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}{path}", app.base));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_console_signs_in_support_and_admin_keys_only_and_checks_every_form() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("server.api_key_cache_secs", json!(0))]).await;
    let shipment = app.register("sandbox", "SBX7000001", None).await;
    let id = shipment["id"].as_str().unwrap();

    let anonymous = get(&app, "/support", None).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/support/login");
    let login = get(&app, "/support/login", None).await;
    let csp = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(login.headers()["x-frame-options"], "DENY");

    let (refused, session) = sign_in(&app, &app.keys.mall, &[]).await;
    assert_eq!((refused.status().as_u16(), session), (403, None));
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("mall key cannot sign in")
    );
    let (refused, _) = sign_in(&app, "tg_support_nonsense", &[]).await;
    assert_eq!(refused.status(), 401);
    // A sign-in form not from this console (no nonce cookie) is refused.
    let forged = client()
        .post(format!("{}/support/login", app.base))
        .form_body(&[("api_key", app.keys.support.as_str()), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let (signed_in, session) = sign_in(&app, &app.keys.support, &[]).await;
    assert_eq!(signed_in.status(), 303);
    let (_, attributes) = set_cookie(&signed_in, "tg_session").unwrap();
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/support",
        "Max-Age=28800",
    ] {
        assert!(attributes.contains(flag), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain HTTP: {attributes}");
    let session = session.unwrap();
    let page = get(&app, "/support", Some(&session)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");

    // Forms need this session's CSRF token.
    let refresh = |csrf: &str| {
        client()
            .post(format!("{}/support/shipments/{id}/refresh", app.base))
            .header("cookie", &session)
            .form_body(&[("csrf", csrf)])
            .send()
    };
    assert_eq!(refresh("not-the-token").await.unwrap().status(), 403);
    let shipment_page = get(&app, &format!("/support/shipments/{id}"), Some(&session)).await;
    let csrf = csrf_in(&shipment_page.text().await.unwrap());
    let done = refresh(&csrf).await.unwrap();
    assert_eq!(done.status(), 303);
    assert!(
        done.headers()["location"]
            .to_str()
            .unwrap()
            .contains("notice=Refresh+queued")
    );
    // A support agent may not replay dead letters, whatever the form says.
    let replay = client()
        .post(format!("{}/support/dead-letters/1/replay", app.base))
        .header("cookie", &session)
        .form_body(&[("csrf", csrf.as_str()), ("shipment", id)])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);

    // Signing out ends the session for every copy of its cookie.
    let (_, admin_session) = sign_in(&app, &app.keys.admin, &[]).await;
    let admin_session = admin_session.unwrap();
    let home = get(&app, "/support", Some(&admin_session)).await;
    let admin_csrf = csrf_in(&home.text().await.unwrap());
    let signed_out = client()
        .post(format!("{}/support/logout", app.base))
        .header("cookie", &admin_session)
        .form_body(&[("csrf", admin_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    let (_, removal) = set_cookie(&signed_out, "tg_session").unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(
        get(&app, "/support", Some(&admin_session)).await.status(),
        303,
        "a signed-out session is over, even replayed"
    );
    // An edited session cookie is no session.
    let tampered = format!("{}x", session);
    assert_eq!(get(&app, "/support", Some(&tampered)).await.status(), 303);
    // Revoking the key behind a session ends it.
    let store = &app.gateway().store;
    let keys = store.api_keys().await.unwrap();
    let support = keys
        .iter()
        .find(|k| k.scope == trackgate::store::states::Scope::Support)
        .unwrap();
    store.revoke_api_key(&support.id).await.unwrap();
    let after = get(&app, "/support", Some(&session)).await;
    assert_eq!(after.status(), 303, "a revoked key's session is over");

    // Behind a TLS-terminating proxy the cookie is Secure.
    let (_, _) = sign_in(&app, &app.keys.admin, &[]).await;
    let (tls, _) = sign_in(&app, &app.keys.admin, &[("x-forwarded-proto", "https")]).await;
    let (_, attributes) = set_cookie(&tls, "tg_session").unwrap();
    assert!(attributes.contains("Secure"), "{attributes}");
    app.finish().await;
}

#[tokio::test]
async fn console_search_finds_every_handle_and_carrier_text_stays_text() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    let a = app
        .register("sandbox", "SBX-7000011", Some("ORDER-SEARCH"))
        .await;
    app.register("sandbox", "SBX7000012", Some("ORDER-SEARCH"))
        .await;
    let body = serde_json::to_vec(&json!({"shipments": [{"tracking_number": "SBX-7000011", "events": [
        {"id": "e1", "time": "2026-11-20T10:00:00+01:00", "code": "PU",
         "description": "<script>alert(1)</script>", "location": "<b onmouseover=alert(2)>Berlin</b>"}
    ]}]}))
    .unwrap();
    app.sandbox_webhook(&body).await;
    let (_, session) = sign_in(&app, &app.keys.support, &[]).await;
    let session = session.unwrap();
    let id = a["id"].as_str().unwrap();

    for q in ["sbx-7000011", " SBX-7000011 ", id] {
        let found = get(
            &app,
            &format!("/support?q={}", q.replace(" ", "+")),
            Some(&session),
        )
        .await;
        assert_eq!(found.status(), 303, "{q}");
        assert_eq!(
            found.headers()["location"],
            format!("/support/shipments/{id}")
        );
    }
    let order = get(&app, "/support?q=ORDER-SEARCH", Some(&session)).await;
    let html = order.text().await.unwrap();
    assert!(html.contains("2 shipments for ORDER-SEARCH"), "{html}");
    let none = get(&app, "/support?q=NOTHING-HERE", Some(&session)).await;
    assert!(none.text().await.unwrap().contains("Nothing found"));

    let page = get(&app, &format!("/support/shipments/{id}"), Some(&session)).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped description"
    );
    assert!(
        !html.contains("<script>alert"),
        "no carrier markup in the page"
    );
    assert!(
        !html.contains("<b onmouseover"),
        "no carrier markup in the page"
    );
    assert!(html.contains("Picked up · 已揽收"));
    assert!(html.contains("UTC+01:00"));
    // Every script on the page comes from this origin.
    assert!(!html.contains("<script>") && html.contains("<script src=\"/assets/console.js\""));
    let fragment = get(
        &app,
        &format!("/support/shipments/{id}/live"),
        Some(&session),
    )
    .await;
    assert!(fragment.text().await.unwrap().contains("&lt;script&gt;"));
    let asset = get(&app, "/assets/console.js", None).await;
    assert_eq!(asset.status(), 200);
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    app.finish().await;
}

#[tokio::test]
async fn the_customer_page_speaks_the_configured_language_and_brand() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("web.language", json!("zh")),
            ("web.brand_name", json!("好物商城")),
            ("web.brand_color", json!("#ff5500")),
            ("web.brand_logo_url", json!("https://cdn.example/logo.png")),
            ("web.console", json!(false)),
        ],
    )
    .await;
    app.mall_accepts_pushes().await;
    let shipment = app
        .register("sandbox", "SBX7000021", Some("ORDER-ZH"))
        .await;
    app.sandbox_webhook(&sandbox_event(
        "SBX7000021",
        "e1",
        "2026-11-20T10:00:00+08:00",
        "DL",
    ))
    .await;
    // No body at all: the link's default lifetime.
    let link: Value = app
        .http
        .post(format!(
            "{}/v1/shipments/{}/tracking-link",
            app.base,
            shipment["id"].as_str().unwrap()
        ))
        .bearer_auth(&app.keys.mall)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = get(
        &app,
        &format!("/t/{}", link["token"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        "lang=\"zh-CN\"",
        "好物商城",
        "已签收",
        "物流详情",
        "https://cdn.example/logo.png",
    ] {
        assert!(html.contains(expected), "missing {expected}: {html}");
    }
    for internal in [shipment["id"].as_str().unwrap(), "ORDER-ZH"] {
        assert!(!html.contains(internal));
    }
    let css = get(&app, "/t/brand.css", None).await.text().await.unwrap();
    assert!(css.contains("--brand: #ff5500"));
    // The console is off: /support is not served at all.
    assert_eq!(get(&app, "/support/login", None).await.status(), 404);
    // A malformed link is a 404 page, not an error.
    assert_eq!(get(&app, "/t/not-a-token", None).await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn bad_web_settings_are_refused_by_name() {
    for (key, value, named) in [
        ("web.brand_color", json!("red"), "web.brand_color"),
        (
            "web.brand_logo_url",
            json!("javascript:alert(1)"),
            "web.brand_logo_url",
        ),
        ("web.stream_token_secs", json!(0), "web.stream_token_secs"),
        ("live.heartbeat_secs", json!(0), "live.heartbeat_secs"),
        ("web.language", json!("fr"), "web.language"),
    ] {
        let err = trackgate::config::Settings::with_overrides(&[(key, value)]).unwrap_err();
        assert!(err.to_string().contains(named), "{key}: {err}");
    }
}
