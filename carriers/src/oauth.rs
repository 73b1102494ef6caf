//! OAuth 2.0 client credentials, as UPS, FedEx and USPS ask for them: the token request each
//! carrier expects, and a token response parser tolerant of the carriers' variations (UPS sends
//! `expires_in` as a string, the others as a number).
//!
//! The gateway caches the token and refreshes it once on a 401 (`src/poller.rs`); adapters only
//! describe the request and read the answer.

use base64::Engine as _;
use serde::Deserialize;

use crate::{AccessToken, HttpMethod, HttpRequest, ParseError};

/// How a carrier wants the client credentials presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsIn {
    /// `Authorization: Basic base64(id:secret)`, body `grant_type=client_credentials` (UPS).
    BasicHeader,
    /// Form body with `client_id` and `client_secret` (FedEx).
    FormBody,
    /// JSON body with `client_id` and `client_secret` (USPS v3).
    JsonBody,
}

/// The token request for `client_id`/`client_secret` at `url`.
pub fn token_request(
    url: String,
    client_id: &str,
    client_secret: &str,
    credentials_in: CredentialsIn,
) -> HttpRequest {
    let form = |with_credentials: bool| {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if with_credentials {
            form.append_pair("client_id", client_id)
                .append_pair("client_secret", client_secret);
        }
        form.finish().into_bytes()
    };
    let form_type = (
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    );
    let (headers, body) = match credentials_in {
        CredentialsIn::BasicHeader => {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{client_id}:{client_secret}"));
            (
                vec![
                    form_type,
                    ("authorization".into(), format!("Basic {basic}")),
                ],
                form(false),
            )
        }
        CredentialsIn::FormBody => (vec![form_type], form(true)),
        CredentialsIn::JsonBody => (
            vec![("content-type".into(), "application/json".into())],
            serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            })
            .to_string()
            .into_bytes(),
        ),
    };
    HttpRequest {
        method: HttpMethod::Post,
        url,
        headers,
        body: Some(body),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<Seconds>,
}

/// Parse a token response; a missing or unreadable lifetime counts as one hour.
pub fn parse_token_response(body: &[u8]) -> Result<AccessToken, ParseError> {
    let token: TokenResponse = serde_json::from_slice(body)
        .map_err(|err| ParseError::Body(format!("token response: {err}")))?;
    let seconds = match token.expires_in {
        Some(Seconds::Number(n)) => n,
        Some(Seconds::Text(text)) => text.trim().parse().unwrap_or(3600),
        None => 3600,
    };
    Ok(AccessToken {
        token: token.access_token,
        expires_in: std::time::Duration::from_secs(seconds),
    })
}

/// The base URL without a trailing slash, joined with `path`.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_as_text_or_number_are_read() {
        let ups = br#"{"token_type":"Bearer","access_token":"abc","expires_in":"14399","status":"approved"}"#;
        assert_eq!(
            parse_token_response(ups).unwrap().expires_in.as_secs(),
            14399
        );
        let fedex =
            br#"{"access_token":"x","token_type":"bearer","expires_in":3599,"scope":"CXS"}"#;
        assert_eq!(
            parse_token_response(fedex).unwrap().expires_in.as_secs(),
            3599
        );
    }

    #[test]
    fn basic_credentials_stay_out_of_the_body() {
        let request = token_request("u".into(), "id", "secret", CredentialsIn::BasicHeader);
        assert_eq!(request.body.unwrap(), b"grant_type=client_credentials");
        assert!(
            request
                .headers
                .contains(&("authorization".into(), "Basic aWQ6c2VjcmV0".into()))
        );
    }
}
