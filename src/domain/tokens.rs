//! Signed, expiring tokens: support sessions, stream tokens the mall mints for a browser, and
//! customer tracking links.
//!
//! A token is `<purpose>.<claims>.<mac>`: the claims are JSON in unpadded base64url, and the mac
//! is HMAC-SHA256 over the purpose and the claims with the gateway's web key. The purpose is part
//! of what is signed, so a tracking link cannot be replayed as a stream token or a session, and
//! any edit of the claims (another shipment id, a later expiry) breaks the mac. Nothing is stored:
//! every process that shares the key accepts every token, which is what several gateways behind
//! one load balancer need. Claims are readable by whoever holds the token, so they hold ids only,
//! never a secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, before any decoding (bounds the work an attacker can ask for).
const MAX_TOKEN_LEN: usize = 4096;

/// What a token is for; signed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    Stream,
    Tracking,
    Csrf,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::Session => "ses",
            Purpose::Stream => "str",
            Purpose::Tracking => "trk",
            Purpose::Csrf => "csrf",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match (edited, or minted with another key)")]
    BadSignature,
    #[error("the token expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Claims that expire.
pub trait Expiring {
    fn expires_at(&self) -> DateTime<Utc>;
}

/// Signs tokens with one key and checks them against it and the keys being rotated out.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
    /// Keys still accepted (a rotation's previous keys), never used to sign.
    previous: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<redacted>)")
    }
}

impl TokenSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> TokenSigner {
        TokenSigner {
            key: key.into(),
            previous: Vec::new(),
        }
    }

    /// Also accept tokens signed with `keys` (a rotation: the new key signs, old tokens live on).
    pub fn accepting(mut self, keys: impl IntoIterator<Item = Vec<u8>>) -> TokenSigner {
        self.previous.extend(keys);
        self
    }

    /// A key derived from another secret for this use only (HMAC of a fixed label), so the
    /// tokens never reveal anything about that secret.
    pub fn derived_from(secret: &[u8]) -> TokenSigner {
        TokenSigner::new(Self::derive(secret))
    }

    /// The key [`Self::derived_from`] uses.
    pub fn derive(secret: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"trackgate web tokens v1");
        mac.finalize().into_bytes().to_vec()
    }

    /// A fresh random key (tokens die with the process).
    pub fn random() -> TokenSigner {
        TokenSigner::new(rand::random::<[u8; 32]>().to_vec())
    }

    fn mac(&self, purpose: Purpose, claims: &str) -> HmacSha256 {
        Self::mac_with(&self.key, purpose, claims)
    }

    /// Whether `mac` is the MAC of `claims` under the key or one of the previous keys
    /// (each compared in constant time).
    fn verifies(&self, purpose: Purpose, claims: &str, mac: &[u8]) -> bool {
        std::iter::once(&self.key).chain(&self.previous).any(|key| {
            Self::mac_with(key, purpose, claims)
                .verify_slice(mac)
                .is_ok()
        })
    }

    fn mac_with(key: &[u8], purpose: Purpose, claims: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(purpose.tag().as_bytes());
        mac.update(b".");
        mac.update(claims.as_bytes());
        mac
    }

    pub fn sign<T: Serialize>(&self, purpose: Purpose, claims: &T) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialize");
        let claims = URL_SAFE_NO_PAD.encode(json);
        let mac = self.mac(purpose, &claims).finalize().into_bytes();
        format!("{}.{claims}.{}", purpose.tag(), URL_SAFE_NO_PAD.encode(mac))
    }

    /// The claims of a token of this purpose, if its signature holds and it has not expired.
    pub fn verify<T: DeserializeOwned + Expiring>(
        &self,
        purpose: Purpose,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(tag), Some(claims), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if tag != purpose.tag() {
            return Err(TokenError::BadSignature);
        }
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        // Constant-time comparison (hmac's verify_slice), per key.
        if !self.verifies(purpose, claims, &mac) {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| TokenError::Malformed)?;
        let claims: T = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.expires_at() <= now {
            return Err(TokenError::Expired(claims.expires_at()));
        }
        Ok(claims)
    }

    /// A value derived from `input` under this key (CSRF tokens bound to a session).
    pub fn tag_of(&self, purpose: Purpose, input: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, input).finalize().into_bytes())
    }

    /// Whether `tag` is [`Self::tag_of`] `input`, compared in constant time.
    pub fn check_tag(&self, purpose: Purpose, input: &str, tag: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(tag)
            .is_ok_and(|mac| self.verifies(purpose, input, &mac))
    }
}

/// A stream token: what a browser may watch, minted by the mall (`POST /v1/stream-tokens`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamClaims {
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub shipment_ids: Vec<String>,
    pub exp: DateTime<Utc>,
}

/// A customer tracking link: one shipment, read-only (`/t/{token}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "s")]
    pub shipment_id: String,
    pub exp: DateTime<Utc>,
}

/// A support console session: the API key behind it (its SHA-256, checked against the store on
/// every request, so revoking the key ends the session) and a random id the CSRF token is tied
/// to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionClaims {
    #[serde(rename = "k")]
    pub key_hash: String,
    #[serde(rename = "i")]
    pub session_id: String,
    pub exp: DateTime<Utc>,
}

impl Expiring for StreamClaims {
    fn expires_at(&self) -> DateTime<Utc> {
        self.exp
    }
}
impl Expiring for LinkClaims {
    fn expires_at(&self) -> DateTime<Utc> {
        self.exp
    }
}
impl Expiring for SessionClaims {
    fn expires_at(&self) -> DateTime<Utc> {
        self.exp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        s: String,
        exp: DateTime<Utc>,
    }
    impl Expiring for Claims {
        fn expires_at(&self) -> DateTime<Utc> {
            self.exp
        }
    }

    fn claims(minutes: i64) -> Claims {
        Claims {
            s: "shp_1".into(),
            exp: Utc::now() + chrono::Duration::minutes(minutes),
        }
    }

    #[test]
    fn during_a_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key() {
        let old = TokenSigner::new(b"o".repeat(32));
        let rotated = TokenSigner::new(b"n".repeat(32)).accepting([b"o".repeat(32)]);
        let old_token = old.sign(Purpose::Tracking, &claims(5));
        assert!(
            rotated
                .verify::<Claims>(Purpose::Tracking, &old_token, Utc::now())
                .is_ok()
        );
        let new_token = rotated.sign(Purpose::Tracking, &claims(5));
        assert!(
            old.verify::<Claims>(Purpose::Tracking, &new_token, Utc::now())
                .is_err()
        );
        assert!(rotated.check_tag(Purpose::Csrf, "s", &old.tag_of(Purpose::Csrf, "s")));
        let done = TokenSigner::new(b"n".repeat(32));
        assert!(
            done.verify::<Claims>(Purpose::Tracking, &old_token, Utc::now())
                .is_err()
        );
    }

    #[test]
    fn a_token_round_trips_and_only_for_its_purpose() {
        let signer = TokenSigner::new(b"k".repeat(32));
        let token = signer.sign(Purpose::Tracking, &claims(5));
        let back: Claims = signer
            .verify(Purpose::Tracking, &token, Utc::now())
            .unwrap();
        assert_eq!(back.s, "shp_1");
        assert_eq!(
            signer.verify::<Claims>(Purpose::Stream, &token, Utc::now()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn edited_expired_and_foreign_tokens_are_refused() {
        let signer = TokenSigner::new(b"k".repeat(32));
        let token = signer.sign(Purpose::Tracking, &claims(5));
        // Another shipment id in the claims, the mac kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            s: "shp_2".into(),
            exp: Utc::now() + chrono::Duration::minutes(5),
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            signer.verify::<Claims>(Purpose::Tracking, &parts.join("."), Utc::now()),
            Err(TokenError::BadSignature)
        );
        let expired = signer.sign(Purpose::Tracking, &claims(-1));
        assert!(matches!(
            signer.verify::<Claims>(Purpose::Tracking, &expired, Utc::now()),
            Err(TokenError::Expired(_))
        ));
        let other = TokenSigner::new(b"x".repeat(32));
        assert_eq!(
            other.verify::<Claims>(Purpose::Tracking, &token, Utc::now()),
            Err(TokenError::BadSignature)
        );
        for junk in ["", "a.b", "trk.!!.??", "trk.a.b.c", &"a".repeat(5000)] {
            assert!(
                signer
                    .verify::<Claims>(Purpose::Tracking, junk, Utc::now())
                    .is_err()
            );
        }
    }

    #[test]
    fn tags_check_in_both_directions() {
        let signer = TokenSigner::derived_from(b"whsec_secret");
        let tag = signer.tag_of(Purpose::Csrf, "session-1");
        assert!(signer.check_tag(Purpose::Csrf, "session-1", &tag));
        assert!(!signer.check_tag(Purpose::Csrf, "session-2", &tag));
        assert!(!signer.check_tag(Purpose::Csrf, "session-1", "nope"));
    }
}
