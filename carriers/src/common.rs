//! Pieces several adapters share: HMAC-SHA256 over a message given in parts, and a postal
//! address as most tracking APIs send it (city, state, zip, country), joined for display.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// An HMAC-SHA256 over the concatenation of `parts`; `finalize` it, or `verify_slice` a given
/// tag (constant time).
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The one number of a poll whose API takes a single number in its path, percent-encoded.
pub(crate) fn single_number_in_path(
    targets: &[crate::PollTarget],
) -> Result<String, crate::ParseError> {
    let target = targets
        .first()
        .ok_or(crate::ParseError::NotSupported("an empty poll"))?;
    Ok(form_urlencoded::byte_serialize(target.tracking_number.as_bytes()).collect())
}

/// The non-empty parts, trimmed and joined with ", ".
pub(crate) fn join_non_empty<'a>(
    parts: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    let parts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `{city, state, zip, country}`, every field optional.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Address {
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

impl Address {
    pub fn joined(&self) -> Option<String> {
        join_non_empty([&self.city, &self.state, &self.zip, &self.country].map(|p| p.as_deref()))
    }
}

/// A JSON value as text when it is a string — borrowed when it has no escapes — and `None` for
/// anything else (serde's own `Cow<str>` always copies).
pub(crate) fn borrowed_text(
    raw: &serde_json::value::RawValue,
) -> Option<std::borrow::Cow<'_, str>> {
    let json = raw.get();
    if !json.starts_with('"') {
        return None;
    }
    serde_json::from_str::<&str>(json)
        .map(std::borrow::Cow::Borrowed)
        .or_else(|_| serde_json::from_str::<String>(json).map(std::borrow::Cow::Owned))
        .ok()
}

/// A whole body read as JSON: checked as UTF-8 once, then read as text. Read from bytes,
/// serde_json checks every string on its own, which cost more than the rest of reading in the
/// profile of the karrio corpus.
pub(crate) fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, crate::ParseError> {
    let text = std::str::from_utf8(body)
        .map_err(|err| crate::ParseError::Body(format!("not UTF-8: {err}")))?;
    serde_json::from_str(text).map_err(|err| crate::ParseError::Body(err.to_string()))
}
