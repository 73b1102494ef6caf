//! Webhook signatures from a fixed menu: HMAC-SHA256 (hex or base64) over the body or over
//! `timestamp.body` with a tolerance, MD5 of a form field plus a salt (Kuaidi100's scheme), and
//! SHA-256 of the body plus a key. A definition picks one and names the secret setting; it
//! cannot describe anything else, so a definition cannot weaken the check. Comparisons are in
//! constant time.

use base64::Engine as _;
use hmac::Mac;
use md5::Digest as _;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::DefinitionError;
use super::spec::WebhookSection;
use crate::common::hmac_sha256;
use crate::{Inbound, SignatureError, Unverified};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone)]
pub enum Scheme {
    HmacSha256 {
        header: String,
        encoding: Encoding,
        prefix: String,
        timestamp: Option<Timestamp>,
    },
    Md5Form {
        form_field: String,
        sign_field: String,
    },
    Sha256BodyKey {
        header: String,
        encoding: Encoding,
        prefix: String,
    },
}

/// Where the signed timestamp is, and how old it may be.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// Its own header, or `None` when it is a part (`t=`) of the signature header.
    pub header: Option<String>,
    pub part: String,
    pub signature_part: String,
    pub tolerance_seconds: u64,
}

impl Scheme {
    pub fn compile(section: &WebhookSection) -> Result<Scheme, DefinitionError> {
        let encoding = match section.encoding.as_deref().unwrap_or("hex") {
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            other => {
                return Err(DefinitionError::at(
                    "webhook.encoding",
                    format!("unknown encoding `{other}`: hex or base64"),
                ));
            }
        };
        let header = || {
            section
                .header
                .as_ref()
                .map(|h| h.to_ascii_lowercase())
                .ok_or_else(|| {
                    DefinitionError::at(
                        "webhook.header",
                        "this scheme needs the signature's header",
                    )
                })
        };
        let prefix = section.prefix.clone().unwrap_or_default();
        Ok(match section.scheme.as_str() {
            "hmac_sha256" => {
                let timestamp = match section.signed.as_deref().unwrap_or("body") {
                    "body" => None,
                    "timestamp.body" => Some(Timestamp {
                        header: section
                            .timestamp_header
                            .as_ref()
                            .map(|h| h.to_ascii_lowercase()),
                        part: section.timestamp_part.clone().unwrap_or_else(|| "t".into()),
                        signature_part: section
                            .signature_part
                            .clone()
                            .unwrap_or_else(|| "v1".into()),
                        tolerance_seconds: section.tolerance_seconds.unwrap_or(300),
                    }),
                    other => {
                        return Err(DefinitionError::at(
                            "webhook.signed",
                            format!("unknown signed content `{other}`: body or timestamp.body"),
                        ));
                    }
                };
                Scheme::HmacSha256 {
                    header: header()?,
                    encoding,
                    prefix,
                    timestamp,
                }
            }
            "md5_form" => Scheme::Md5Form {
                form_field: section.form_field.clone().unwrap_or_else(|| "param".into()),
                sign_field: section.sign_field.clone().unwrap_or_else(|| "sign".into()),
            },
            "sha256_body_key" => Scheme::Sha256BodyKey {
                header: header()?,
                encoding,
                prefix,
            },
            other => {
                return Err(DefinitionError::at(
                    "webhook.scheme",
                    format!("unknown scheme `{other}`: hmac_sha256, md5_form or sha256_body_key"),
                ));
            }
        })
    }

    /// The part of a body that carries the payload (the form field for `md5_form`).
    pub fn payload<'a>(&self, body: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self {
            Scheme::Md5Form { form_field, .. } => form_urlencoded::parse(body)
                .find(|(k, _)| k == form_field)
                .map(|(_, v)| std::borrow::Cow::Owned(v.into_owned().into_bytes()))
                .unwrap_or(std::borrow::Cow::Borrowed(b"")),
            _ => std::borrow::Cow::Borrowed(body),
        }
    }

    pub fn check(
        &self,
        inbound: &Inbound<Unverified>,
        secret: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        match self {
            Scheme::HmacSha256 {
                header,
                encoding,
                prefix,
                timestamp,
            } => {
                let given = inbound
                    .header(header)
                    .ok_or(SignatureError::Missing("the definition's signature header"))?;
                let (signed_at, signature) = match timestamp {
                    None => (None, strip(given, prefix)?),
                    Some(ts) => {
                        let parts = |name: &str| {
                            given.split(',').find_map(|p| {
                                let (k, v) = p.trim().split_once('=')?;
                                (k == name).then(|| v.to_owned())
                            })
                        };
                        let at = match &ts.header {
                            Some(h) => inbound.header(h).map(str::to_owned),
                            None => parts(&ts.part),
                        }
                        .ok_or(SignatureError::Missing("the signed timestamp"))?;
                        let signature = match &ts.header {
                            Some(_) => strip(given, prefix)?,
                            None => parts(&ts.signature_part).ok_or_else(|| {
                                SignatureError::Malformed(format!(
                                    "no `{}=` part",
                                    ts.signature_part
                                ))
                            })?,
                        };
                        let seconds: i64 = at.trim().parse().map_err(|_| {
                            SignatureError::Malformed("timestamp is not a number".into())
                        })?;
                        if now.abs_diff(seconds) > ts.tolerance_seconds {
                            return Err(SignatureError::Malformed(
                                "timestamp outside the tolerance".into(),
                            ));
                        }
                        (Some(at), signature)
                    }
                };
                let given = decode(*encoding, &signature)?;
                signed_mac(secret, signed_at.as_deref().map(str::trim), inbound.body())
                    .verify_slice(&given)
                    .map_err(|_| SignatureError::Mismatch)
            }
            Scheme::Md5Form {
                form_field,
                sign_field,
            } => {
                let field = |name: &str| {
                    form_urlencoded::parse(inbound.body())
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                };
                let param =
                    field(form_field).ok_or(SignatureError::Missing("the signed form field"))?;
                let sign =
                    field(sign_field).ok_or(SignatureError::Missing("the form's sign field"))?;
                let expected =
                    hex::encode_upper(md5::Md5::digest(format!("{param}{secret}").as_bytes()));
                equal(
                    expected.as_bytes(),
                    sign.trim().to_ascii_uppercase().as_bytes(),
                )
            }
            Scheme::Sha256BodyKey {
                header,
                encoding,
                prefix,
            } => {
                let given = inbound
                    .header(header)
                    .ok_or(SignatureError::Missing("the definition's signature header"))?;
                let given = decode(*encoding, &strip(given, prefix)?)?;
                equal(&body_key_digest(inbound.body(), secret), &given)
            }
        }
    }

    /// Sign `body` as a carrier would (tests, the demo, `trackgate` tooling).
    pub fn sign(&self, secret: &str, body: &[u8], now: i64) -> Vec<(String, String)> {
        match self {
            Scheme::HmacSha256 {
                header,
                encoding,
                prefix,
                timestamp,
            } => {
                let at = now.to_string();
                let mac = signed_mac(secret, timestamp.as_ref().map(|_| at.as_str()), body);
                let signature = encode(*encoding, &mac.finalize().into_bytes());
                match timestamp {
                    None => vec![(header.clone(), format!("{prefix}{signature}"))],
                    Some(Timestamp {
                        header: Some(ts_header),
                        ..
                    }) => vec![
                        (header.clone(), format!("{prefix}{signature}")),
                        (ts_header.clone(), at),
                    ],
                    Some(ts) => vec![(
                        header.clone(),
                        format!("{}={at},{}={signature}", ts.part, ts.signature_part),
                    )],
                }
            }
            Scheme::Md5Form { .. } => Vec::new(),
            Scheme::Sha256BodyKey {
                header,
                encoding,
                prefix,
            } => {
                let digest = body_key_digest(body, secret);
                vec![(
                    header.clone(),
                    format!("{prefix}{}", encode(*encoding, &digest)),
                )]
            }
        }
    }
}

/// HMAC-SHA256 of the body, or of `timestamp.body` when the scheme signs a timestamp.
fn signed_mac(secret: &str, timestamp: Option<&str>, body: &[u8]) -> hmac::Hmac<Sha256> {
    match timestamp {
        Some(at) => hmac_sha256(secret.as_bytes(), &[at.as_bytes(), b".", body]),
        None => hmac_sha256(secret.as_bytes(), &[body]),
    }
}

/// SHA-256 of the body followed by the key.
fn body_key_digest(body: &[u8], secret: &str) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(body);
    digest.update(secret.as_bytes());
    digest.finalize().to_vec()
}

fn strip(given: &str, prefix: &str) -> Result<String, SignatureError> {
    given
        .trim()
        .strip_prefix(prefix)
        .map(str::to_owned)
        .ok_or_else(|| SignatureError::Malformed(format!("expected `{prefix}…`")))
}

fn decode(encoding: Encoding, text: &str) -> Result<Vec<u8>, SignatureError> {
    match encoding {
        Encoding::Hex => {
            hex::decode(text.trim()).map_err(|_| SignatureError::Malformed("not hex".into()))
        }
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SignatureError::Malformed("not base64".into())),
    }
}

fn encode(encoding: Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

fn equal(a: &[u8], b: &[u8]) -> Result<(), SignatureError> {
    if a.len() == b.len() && bool::from(a.ct_eq(b)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}
