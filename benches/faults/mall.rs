//! The fake mall of the fault harness: a real HTTP server on loopback that verifies every push
//! and follows docs/mall-integration.md to the letter — dedupe on `webhook-id`, keep the events
//! of every push by their id, apply a status only when its `sequence` is greater than the last
//! one applied — and records what a mall would notice: duplicates, pushes that arrived after a
//! newer one of the same shipment (out of order). It can be taken down (answers 503).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Deserialize;

#[derive(Deserialize)]
struct Push {
    shipment_id: String,
    sequence: i64,
    status: String,
    events: Vec<PushEvent>,
}

#[derive(Deserialize)]
struct PushEvent {
    id: String,
}

/// What the mall knows about one shipment, by the documented rules.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub sequence: i64,
    pub status: String,
    pub events: BTreeSet<String>,
    /// The highest sequence that arrived so far, applied or not.
    pub highest_arrived: i64,
}

#[derive(Debug, Default)]
pub struct Books {
    pub shipments: BTreeMap<String, Applied>,
    pub webhook_ids: HashSet<String>,
    pub deliveries: u64,
    pub duplicates: u64,
    /// Pushes that arrived after a newer one of the same shipment (first deliveries only).
    pub out_of_order: u64,
    pub refused_while_down: u64,
    pub bad_signatures: u64,
}

#[derive(Clone)]
struct State {
    verifier: Arc<standardwebhooks::Webhook>,
    books: Arc<Mutex<Books>>,
    down: Arc<AtomicBool>,
    delay: Duration,
}

pub struct Mall {
    pub port: u16,
    books: Arc<Mutex<Books>>,
    down: Arc<AtomicBool>,
}

impl Mall {
    pub fn start(secret: &str, delay: Duration) -> anyhow::Result<Mall> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = State {
            verifier: Arc::new(standardwebhooks::Webhook::new(secret)?),
            books: Arc::default(),
            down: Arc::default(),
            delay,
        };
        let (books, down) = (state.books.clone(), state.down.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(state.clone()))
                        .app_data(web::PayloadConfig::default().limit(1 << 20))
                        .route("/push", web::post().to(push))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        Ok(Mall { port, books, down })
    }

    /// Answer 503 to every push (an outage), or answer again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn with_books<T>(&self, f: impl FnOnce(&Books) -> T) -> T {
        f(&self.books.lock().unwrap())
    }
}

async fn push(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    if state.down.load(Ordering::SeqCst) {
        state.books.lock().unwrap().refused_while_down += 1;
        return HttpResponse::ServiceUnavailable().finish();
    }
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(name, value);
        }
    }
    let webhook_id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if state.verifier.verify(&body, &headers).is_err() {
        state.books.lock().unwrap().bad_signatures += 1;
        return HttpResponse::Unauthorized().finish();
    }
    let Ok(push) = serde_json::from_slice::<Push>(&body) else {
        state.books.lock().unwrap().bad_signatures += 1;
        return HttpResponse::BadRequest().finish();
    };
    apply(&mut state.books.lock().unwrap(), webhook_id, push);
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    HttpResponse::Ok().finish()
}

/// The documented rules, as a mall would write them.
fn apply(books: &mut Books, webhook_id: String, push: Push) {
    books.deliveries += 1;
    if !books.webhook_ids.insert(webhook_id) {
        books.duplicates += 1;
        return;
    }
    let shipment = books.shipments.entry(push.shipment_id).or_default();
    if push.sequence < shipment.highest_arrived {
        books.out_of_order += 1;
    }
    shipment.highest_arrived = shipment.highest_arrived.max(push.sequence);
    shipment
        .events
        .extend(push.events.into_iter().map(|event| event.id));
    if push.sequence > shipment.sequence {
        shipment.sequence = push.sequence;
        shipment.status = push.status;
    }
}
