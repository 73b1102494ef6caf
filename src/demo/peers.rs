//! The demo's two peers on loopback: a mall receiver that verifies every push's signature and
//! fails its first calls on purpose, and a sandbox carrier tracking API for the poller.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Deserialize;

/// Serve `configure`'s routes with `data` on a fresh loopback port; returns the base URL.
fn serve_loopback<T: Send + Sync + 'static>(
    data: web::Data<T>,
    configure: fn(&mut web::ServiceConfig),
) -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((base, handle))
}

/// One POST the mall saw.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub webhook_id: String,
    pub sequence: i64,
    pub tracking_number: String,
    pub status: String,
    pub signature_ok: bool,
    pub answered: u16,
}

#[derive(Default)]
struct MallState {
    calls: usize,
    fail_first: usize,
    receipts: Vec<Receipt>,
}

/// A mall backend that verifies Standard Webhooks signatures.
#[derive(Clone)]
pub struct MallReceiver {
    pub url: String,
    state: Arc<Mutex<MallState>>,
    _server: actix_web::dev::ServerHandle,
}

#[derive(Deserialize)]
struct PushView {
    sequence: i64,
    tracking_number: String,
    status: String,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    data: web::Data<(Arc<Mutex<MallState>>, Arc<standardwebhooks::Webhook>)>,
) -> HttpResponse {
    let (state, verifier) = data.get_ref();
    let mut headers = http::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(name, value);
        }
    }
    let signature_ok = verifier.verify(&body, &headers).is_ok();
    let view: Option<PushView> = serde_json::from_slice(&body).ok();
    let mut state = state.lock().expect("not poisoned");
    state.calls += 1;
    let answered = if state.calls <= state.fail_first {
        500
    } else if signature_ok {
        200
    } else {
        401
    };
    state.receipts.push(Receipt {
        webhook_id: req
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        sequence: view.as_ref().map(|v| v.sequence).unwrap_or(-1),
        tracking_number: view
            .as_ref()
            .map(|v| v.tracking_number.clone())
            .unwrap_or_default(),
        status: view.map(|v| v.status).unwrap_or_default(),
        signature_ok,
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).expect("valid status"))
        .finish()
}

impl MallReceiver {
    pub fn start(secret: &str, fail_first: usize) -> anyhow::Result<MallReceiver> {
        let state = Arc::new(Mutex::new(MallState {
            fail_first,
            ..Default::default()
        }));
        let verifier =
            Arc::new(standardwebhooks::Webhook::new(secret).map_err(|e| anyhow::anyhow!("{e}"))?);
        let data = web::Data::new((state.clone(), verifier));
        let (base, handle) = serve_loopback(data, |cfg| {
            cfg.route("/trackgate/push", web::post().to(receive));
        })?;
        let url = format!("{base}/trackgate/push");
        Ok(MallReceiver {
            url,
            state,
            _server: handle,
        })
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.state.lock().expect("not poisoned").receipts.clone()
    }
}

/// Events the fake carrier reports, by tracking number.
type CarrierEvents = Arc<Mutex<BTreeMap<String, Vec<serde_json::Value>>>>;

/// A sandbox carrier's tracking API: `GET /v1/track?numbers=A,B` answers from in-memory state.
#[derive(Clone)]
pub struct SandboxCarrier {
    pub url: String,
    events: CarrierEvents,
    _server: actix_web::dev::ServerHandle,
}

#[derive(Deserialize)]
struct TrackQuery {
    numbers: String,
}

async fn track(query: web::Query<TrackQuery>, data: web::Data<CarrierEvents>) -> HttpResponse {
    let events = data.lock().expect("not poisoned");
    let shipments: Vec<_> = query
        .numbers
        .split(',')
        .map(|n| serde_json::json!({"tracking_number": n, "events": events.get(n).cloned().unwrap_or_default()}))
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "shipments": shipments }))
}

impl SandboxCarrier {
    pub fn start() -> anyhow::Result<SandboxCarrier> {
        let events: CarrierEvents = Default::default();
        let data = web::Data::new(events.clone());
        let (url, handle) = serve_loopback(data, |cfg| {
            cfg.route("/v1/track", web::get().to(track));
        })?;
        Ok(SandboxCarrier {
            url,
            events,
            _server: handle,
        })
    }

    /// Make the carrier report one more event for `number` on its next poll.
    pub fn add_event(&self, number: &str, event: serde_json::Value) {
        self.events
            .lock()
            .expect("not poisoned")
            .entry(number.to_owned())
            .or_default()
            .push(event);
    }
}
