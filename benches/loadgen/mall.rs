//! The fake mall: a real HTTP server on loopback that verifies every push's Standard Webhooks
//! signature, records what arrived and when, and answers 200 after a configurable delay.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One push as the mall received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at_micros: u64,
    pub tracking_number: String,
    pub sequence: i64,
    pub status: String,
    /// The newest event the push brought in.
    pub newest_event: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Push {
    tracking_number: String,
    sequence: i64,
    status: String,
    events: Vec<PushEvent>,
}

#[derive(Deserialize)]
struct PushEvent {
    occurred_at: DateTime<Utc>,
}

#[derive(Clone)]
struct State {
    started: Instant,
    delay: Duration,
    verifier: Arc<standardwebhooks::Webhook>,
    received: Arc<Mutex<Vec<Received>>>,
    rejected: Arc<Mutex<u64>>,
}

pub struct Mall {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    rejected: Arc<Mutex<u64>>,
}

impl Mall {
    /// Serve on its own thread (one worker) so the load generator's runtime is not slowed.
    pub fn start(secret: &str, delay: Duration, started: Instant) -> anyhow::Result<Mall> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = State {
            started,
            delay,
            verifier: Arc::new(standardwebhooks::Webhook::new(secret)?),
            received: Arc::new(Mutex::new(Vec::new())),
            rejected: Arc::new(Mutex::new(0)),
        };
        let (received, rejected) = (state.received.clone(), state.rejected.clone());
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
        Ok(Mall {
            port,
            received,
            rejected,
        })
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn rejected(&self) -> u64 {
        *self.rejected.lock().unwrap()
    }
}

async fn push(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let at_micros = state.started.elapsed().as_micros() as u64;
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(name, value);
        }
    }
    if state.verifier.verify(&body, &headers).is_err() {
        *state.rejected.lock().unwrap() += 1;
        return HttpResponse::Unauthorized().finish();
    }
    let Ok(push) = serde_json::from_slice::<Push>(&body) else {
        *state.rejected.lock().unwrap() += 1;
        return HttpResponse::BadRequest().finish();
    };
    state.received.lock().unwrap().push(Received {
        at_micros,
        tracking_number: push.tracking_number,
        sequence: push.sequence,
        status: push.status,
        newest_event: push.events.iter().map(|e| e.occurred_at).max(),
    });
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    HttpResponse::Ok().finish()
}
