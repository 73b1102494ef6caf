//! The pages people use: the support console (`/support`, signed in with a support or admin
//! key) and the customer tracking page (`/t/{token}`), server-rendered by maud templates (every
//! interpolated value escaped) with a small stylesheet and two small scripts embedded in the
//! binary (`/assets/…`). Nothing to build, nothing fetched from elsewhere.
//!
//! Every page is served with a Content-Security-Policy that allows scripts and styles from this
//! origin only (no inline script, no `eval`), so even markup that slipped past escaping could not
//! run; frames, plug-ins and foreign form targets are refused too.

mod actions;
mod assets;
mod console;
mod customer;
mod dashboard;
pub mod labels;
mod layout;
mod session;

use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};
use maud::html;

use crate::store::StoreError;
use layout::{Chrome, page};

/// The pages' Content-Security-Policy: same-origin scripts, styles and connections; images
/// from anywhere over https (the brand logo); nothing inline.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

fn security_headers(cache: &'static str) -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("content-security-policy", CSP))
        .add(("x-content-type-options", "nosniff"))
        .add(("x-frame-options", "DENY"))
        .add(("referrer-policy", "no-referrer"))
        .add(("cache-control", cache))
}

/// Every page route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/assets")
            .wrap(security_headers("public, max-age=3600"))
            .route("/{name}", web::get().to(assets::serve)),
    )
    .service(
        web::scope("/t")
            .wrap(security_headers("no-store"))
            .route("/brand.css", web::get().to(customer::brand_css))
            .route("/{token}", web::get().to(customer::tracking_page))
            .route(
                "/{token}/timeline",
                web::get().to(customer::timeline_fragment),
            )
            .route("/{token}/live", web::get().to(customer::live)),
    )
    .service(
        web::scope("/support")
            .wrap(security_headers("no-store"))
            .guard(actix_web::guard::fn_guard(console_enabled))
            .route("", web::get().to(console::search))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/dashboard", web::get().to(dashboard::dashboard))
            .route("/shipments/{id}", web::get().to(console::shipment_page))
            .route(
                "/shipments/{id}/live",
                web::get().to(console::live_fragment),
            )
            .route("/shipments/{id}/refresh", web::post().to(actions::refresh))
            .route("/dead-letters/{id}/replay", web::post().to(actions::replay)),
    );
}

/// `web.console = false` turns `/support` into a 404.
fn console_enabled(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.app_data::<web::Data<crate::gateway::Gateway>>()
        .is_none_or(|gateway| gateway.settings.web.console)
}

/// Why a page could not be shown; rendered as a small HTML page (the API's problem+json is for
/// programs, these are for people).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in first")]
    SignIn,
    #[error(
        "this form has expired or did not come from this console; reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("something went wrong on our side: {0}")]
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            PageError::Unavailable("the database is busy or unreachable; try again".into())
        } else {
            PageError::Internal(err.to_string())
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Csrf | PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Gone(_) => StatusCode::GONE,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignIn = self {
            return HttpResponse::SeeOther()
                .insert_header(("location", "/support/login"))
                .finish();
        }
        if let PageError::Internal(detail) = self {
            tracing::error!(error = %detail, "page failed");
        }
        let status = self.status_code();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            section.card.narrow {
                h1 { (title) }
                p #problem { (self.to_string()) }
            }
        };
        let chrome = Chrome::console(title, None);
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(page(&chrome, body).into_string())
    }
}
