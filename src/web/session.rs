//! Console sign-in: a support or admin API key exchanged for a session cookie, the [`Staff`]
//! extractor every console page takes, and CSRF tokens for every form that changes something.
//!
//! The cookie holds a signed session (the key's SHA-256, a random session id, the expiry),
//! `HttpOnly`, `SameSite=Strict`, `Path=/support`, `Secure` when the request came over TLS (or
//! `server.public_url` is https). The session is also a row (`console_sessions`): each request
//! checks that the row is live (signing out ends it, so a copy of the cookie stops working too)
//! and that the key behind it is still active (through the API's key cache), so revoking the key
//! signs its sessions out within `server.api_key_cache_secs`. A form carries a CSRF token tied to the session id (an HMAC
//! under the web key); the sign-in form, before any session exists, ties its token to a random
//! value in a short-lived cookie (double submit).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;

use super::PageError;
use super::layout::{Chrome, page};
use crate::api::auth::KeyCache;
use crate::domain::tokens::{Purpose, SessionClaims};
use crate::gateway::Gateway;
use crate::store::keys::hash_token;
use crate::store::states::Scope;

pub const SESSION_COOKIE: &str = "tg_session";
const LOGIN_COOKIE: &str = "tg_login";
const COOKIE_PATH: &str = "/support";

/// A signed-in support agent or admin.
#[derive(Debug, Clone)]
pub struct Staff {
    pub scope: Scope,
    /// Put in every form of the page as `csrf`.
    pub csrf: String,
    session_id: String,
}

impl Staff {
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Admin
    }

    /// Refuse a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, gateway: &Gateway, token: &str) -> Result<(), PageError> {
        if gateway
            .tokens
            .check_tag(Purpose::Csrf, &self.session_id, token)
        {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

impl FromRequest for Staff {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Staff, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let gateway = req.app_data::<web::Data<Gateway>>().cloned();
        let keys = req.app_data::<web::Data<KeyCache>>().cloned();
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let (Some(gateway), Some(keys)) = (gateway, keys) else {
                return Err(PageError::Internal("console state missing".into()));
            };
            let token = cookie.ok_or(PageError::SignIn)?;
            let claims: SessionClaims = gateway
                .tokens
                .verify(Purpose::Session, &token, Utc::now())
                .map_err(|_| PageError::SignIn)?;
            let scope = keys
                .scope_of_hash(&gateway.store, claims.key_hash.clone())
                .await?
                .filter(|scope| matches!(scope, Scope::Support | Scope::Admin))
                .ok_or(PageError::SignIn)?;
            // Signed out (or expired) sessions end everywhere, whatever copy of the cookie.
            if !gateway
                .store
                .console_session_live(&claims.session_id, &claims.key_hash)
                .await?
            {
                return Err(PageError::SignIn);
            }
            Ok(Staff {
                scope,
                csrf: gateway.tokens.tag_of(Purpose::Csrf, &claims.session_id),
                session_id: claims.session_id,
            })
        })
    }
}

/// Whether cookies must be `Secure`: the request came over TLS (directly or, per the
/// `Forwarded`/`X-Forwarded-Proto` headers, through the proxy) or the public URL is https.
fn secure(req: &HttpRequest, gateway: &Gateway) -> bool {
    req.connection_info().scheme() == "https"
        || gateway
            .settings
            .server
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
}

fn cookie<'a>(req: &HttpRequest, gateway: &Gateway, name: &'a str, value: String) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(req, gateway))
        .finish()
}

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// `GET /support/login`.
pub async fn login_form(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    login_page(&req, &gateway, None, HttpResponse::Ok())
}

fn login_page(
    req: &HttpRequest,
    gateway: &Gateway,
    error: Option<&str>,
    mut builder: actix_web::HttpResponseBuilder,
) -> HttpResponse {
    let nonce = random_id();
    let csrf = gateway
        .tokens
        .tag_of(Purpose::Csrf, &format!("login:{nonce}"));
    let mut pre = cookie(req, gateway, LOGIN_COOKIE, nonce);
    pre.set_max_age(CookieDuration::minutes(30));
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            p.muted { "Use a support or admin API key (" code { "trackgate keys create --scope support" } ")." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/support/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="api_key" { "API key" }
                input #api_key type="password" name="api_key" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        }
    };
    builder
        .cookie(pre)
        .content_type("text/html; charset=utf-8")
        .body(page(&Chrome::console("Sign in", None), body).into_string())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub api_key: String,
    pub csrf: String,
}

/// `POST /support/login`: a valid support or admin key starts a session.
pub async fn login(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    keys: web::Data<KeyCache>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let nonce = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    let fresh = nonce.is_some_and(|nonce| {
        gateway
            .tokens
            .check_tag(Purpose::Csrf, &format!("login:{nonce}"), &form.csrf)
    });
    if !fresh {
        return Err(PageError::Csrf);
    }
    let hash = hash_token(form.api_key.trim());
    let scope = keys.scope_of_hash(&gateway.store, hash.clone()).await?;
    match scope {
        Some(Scope::Support | Scope::Admin) => {}
        Some(Scope::Mall) => {
            let message = "A mall key cannot sign in here; use a support or admin key.";
            return Ok(login_page(
                &req,
                &gateway,
                Some(message),
                HttpResponse::Forbidden(),
            ));
        }
        None => {
            let message = "That key is unknown or revoked.";
            return Ok(login_page(
                &req,
                &gateway,
                Some(message),
                HttpResponse::Unauthorized(),
            ));
        }
    }
    let hours = gateway.settings.web.session_hours;
    let claims = SessionClaims {
        key_hash: hash,
        session_id: random_id(),
        exp: Utc::now() + Duration::hours(hours as i64),
    };
    gateway
        .store
        .start_console_session(&claims.session_id, &claims.key_hash, claims.exp)
        .await?;
    let mut session = cookie(
        &req,
        &gateway,
        SESSION_COOKIE,
        gateway.tokens.sign(Purpose::Session, &claims),
    );
    session.set_max_age(CookieDuration::hours(hours as i64));
    let mut spent = cookie(&req, &gateway, LOGIN_COOKIE, String::new());
    spent.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/support"))
        .cookie(session)
        .cookie(spent)
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /support/logout`.
pub async fn logout(
    req: HttpRequest,
    staff: Staff,
    gateway: web::Data<Gateway>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    staff.check_csrf(&gateway, &form.csrf)?;
    gateway.store.end_console_session(&staff.session_id).await?;
    let mut gone = cookie(&req, &gateway, SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/support/login"))
        .cookie(gone)
        .finish())
}
