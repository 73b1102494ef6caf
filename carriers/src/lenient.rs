//! Reading an answer in one pass without letting an odd shape fail it: a list that must be a
//! list, an object that must be an object, anything else read as absent — the way
//! `value.pointer(…).and_then(as_array)` read a `serde_json::Value`, but straight from the
//! bytes. The items are kept as `RawValue` slices of the body, so each is read on its own and
//! one bad item is a problem, not a refusal. Without this, every level kept raw is scanned again
//! by the level below it: four nested raw levels cost four passes over the body.
//!
//! An answer that reads strictly — every item of the expected shape, the common case — is read
//! in one pass with its items [`Ready`]; only when that fails is it read again tolerantly, with
//! its items raw ([`ItemOf`] lets one answer type describe both).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::ParseError;

/// The scalar visits of a visitor that reads every scalar as `$none`.
macro_rules! not_this_shape {
    ($none:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// A whole answer read as `T` when it is a JSON object; valid JSON of another shape reads as
/// `T::default()` (an answer without the expected parts), invalid JSON is a body error.
pub(crate) fn answer<'a, T: Deserialize<'a> + Default>(body: &'a [u8]) -> Result<T, ParseError> {
    if body.trim_ascii_start().starts_with(b"{") {
        crate::common::json(body)
    } else {
        crate::common::json::<IgnoredAny>(body)?;
        Ok(T::default())
    }
}

/// An item of a list, as an answer type holds it: already read ([`Ready`], in the one-pass
/// read) or kept raw and read when asked (after the one-pass read failed), so one type
/// describes both reads and the code after them is the same.
pub(crate) trait ItemOf<'a, T>: Deserialize<'a> {
    fn item(self) -> Result<T, serde_json::Error>;
}

impl<'a, T: Deserialize<'a>> ItemOf<'a, T> for &'a RawValue {
    fn item(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }
}

/// An item read in the same pass as the answer around it.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Ready<T>(pub T);

impl<'a, T: Deserialize<'a>> ItemOf<'a, T> for Ready<T> {
    fn item(self) -> Result<T, serde_json::Error> {
        Ok(self.0)
    }
}

/// `raw` read as `T` only when it is a JSON object (a struct would read an array positionally).
pub(crate) fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    raw.get()
        .starts_with('{')
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// Field readers for `deserialize_with` that never fail on the value's shape, as reading a
/// `serde_json::Value` with `get(…).as_str()` / `as_bool()` did.
///
/// A key that is there, even when its value is `null` (serde's `Option` reads `null` as absent).
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Text, or nothing when the value is anything else.
pub(crate) fn text_only<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::borrow::Cow<'de, str>>, D::Error> {
    let raw = <&'de RawValue>::deserialize(d)?;
    Ok(crate::common::borrowed_text(raw))
}

/// A boolean, or nothing when the value is anything else.
pub(crate) fn bool_only<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match <&RawValue>::deserialize(d)?.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })
}

/// The items of a JSON array, each as its raw text; `None` when the value is not an array.
#[derive(Debug, Default)]
pub(crate) struct RawList<'a>(pub Option<Vec<&'a RawValue>>);

impl<'de: 'a, 'a> Deserialize<'de> for RawList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
            type Value = RawList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawList<'a>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(RawList(Some(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawList<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawList(None))
            }
            not_this_shape!(RawList(None));
        }
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

/// `T` read from a JSON object; `None` when the value is not an object. Inside the object `T`
/// reads as usual: its own errors are errors.
#[derive(Debug)]
pub(crate) struct ObjectOr<T>(pub Option<T>);

impl<T> Default for ObjectOr<T> {
    fn default() -> Self {
        ObjectOr(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = ObjectOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ObjectOr<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| ObjectOr(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectOr<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ObjectOr(None))
            }
            not_this_shape!(ObjectOr(None));
        }
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc<'a> {
        #[serde(default, borrow)]
        list: RawList<'a>,
        #[serde(default)]
        inner: ObjectOr<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn other_shapes_read_as_absent_and_items_stay_raw() {
        let doc: Doc =
            serde_json::from_str(r#"{"list":[1,{"a":[2]},"x"],"inner":{"n":3}}"#).unwrap();
        let items: Vec<&str> = doc.list.0.unwrap().iter().map(|r| r.get()).collect();
        assert_eq!(items, ["1", r#"{"a":[2]}"#, r#""x""#]);
        assert_eq!(doc.inner.0.unwrap().n, 3);
        for odd in [r#"{"a":1}"#, "[1,2]", r#""s""#, "1.5", "-1", "true", "null"] {
            let list = if odd.starts_with('[') { "{}" } else { odd };
            let inner = if odd.starts_with('{') { "[]" } else { odd };
            let text = format!(r#"{{"list":{list},"inner":{inner}}}"#);
            let doc: Doc = serde_json::from_str(&text).unwrap();
            assert!(doc.list.0.is_none() && doc.inner.0.is_none(), "{odd}");
        }
        let absent: Doc = serde_json::from_str("{}").unwrap();
        assert!(absent.list.0.is_none() && absent.inner.0.is_none());
        // Inside an object the type's own rules hold.
        assert!(serde_json::from_str::<Doc>(r#"{"inner":{"n":"x"}}"#).is_err());
    }
}
