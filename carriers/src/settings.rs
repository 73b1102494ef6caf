//! Lenient field readers for adapter settings.
//!
//! The gateway reads carrier settings from `config.toml` and from environment variables; an
//! environment value such as a numeric salt (`12345`) arrives typed as a number, and a batch size
//! may arrive as a string. These helpers accept either form so a secret is never rejected for
//! looking like a number.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Unsigned(n) => n.to_string(),
            Scalar::Signed(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// An optional string that may have arrived as a number or boolean.
pub fn optional_string<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(de)?.map(Scalar::into_string))
}

/// A count that may have arrived as a string.
pub fn count<'de, D: Deserializer<'de>>(de: D) -> Result<usize, D::Error> {
    let text = Scalar::deserialize(de)?.into_string();
    text.trim()
        .parse()
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a non-negative integer")))
}
