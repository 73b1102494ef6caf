//! Checking a registration before anything is stored: lengths, characters, shapes. Pure, so the
//! fuzzer can drive it with arbitrary bodies (`fuzz/fuzz_targets/api_bodies.rs`).
//!
//! Nothing that reaches the store may contain U+0000 (PostgreSQL refuses it in text): it is
//! refused here, field by field, with a problem naming the field — never a 500 from the store.

use super::ApiError;
use super::wire::ShipmentIn;

const MAX_TRACKING_NUMBER: usize = 64;
const MAX_ORDER_ID: usize = 128;
const MAX_CARRIER_CODE: usize = 64;
/// Metadata is stored as JSON text; beyond this it belongs in the mall, not here.
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// A registration whose every field is fit for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedShipment {
    pub carrier: Option<String>,
    pub tracking_number: String,
    pub order_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub carrier_code: Option<String>,
    pub phone_last4: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Validation(message.into())
}

/// A trimmed optional text, `None` when empty; refused when too long or with control characters.
fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(text) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`{field}` must be at most {max} characters without control characters"
        )));
    }
    Ok(Some(text))
}

/// Whether a JSON value holds U+0000 in any key or string.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn check_metadata(
    metadata: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    if !metadata.is_object() {
        return Err(invalid("`metadata` must be a JSON object"));
    }
    if holds_nul(&metadata) {
        return Err(invalid("`metadata` must not contain U+0000"));
    }
    if metadata.to_string().len() > MAX_METADATA_BYTES {
        return Err(invalid(format!(
            "`metadata` must be at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(Some(metadata))
}

/// The last four digits of a phone number written as people write them.
fn phone_last4(phone: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(phone) = phone.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    let well_formed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !well_formed || digits.len() < 4 {
        return Err(invalid(
            "`phone` must be a phone number (digits, spaces, + - ( ) .) with at least 4 digits",
        ));
    }
    Ok(Some(digits[digits.len() - 4..].to_owned()))
}

impl ShipmentIn {
    /// Check every field; the first problem found is the answer (422, naming the field).
    pub fn check(self) -> Result<CheckedShipment, ApiError> {
        let tracking_number = self.tracking_number.trim().to_owned();
        if tracking_number.is_empty() {
            return Err(invalid("`tracking_number` must not be empty"));
        }
        // Spaces and dashes as people type them are fine: the carrier's rule removes them
        // (`CarrierInstance::number_rule`); control characters other than whitespace are not.
        if tracking_number.chars().count() > MAX_TRACKING_NUMBER
            || tracking_number
                .chars()
                .any(|c| c.is_control() && !c.is_whitespace())
        {
            return Err(invalid(format!(
                "`tracking_number` must be at most {MAX_TRACKING_NUMBER} characters without control characters"
            )));
        }
        if !tracking_number.chars().any(char::is_alphanumeric) {
            return Err(invalid(
                "`tracking_number` must contain a letter or a digit",
            ));
        }
        Ok(CheckedShipment {
            carrier: optional_text(self.carrier, "carrier", 64)?,
            tracking_number,
            order_id: optional_text(self.order_id, "order_id", MAX_ORDER_ID)?,
            metadata: check_metadata(self.metadata)?,
            carrier_code: optional_text(self.carrier_code, "carrier_code", MAX_CARRIER_CODE)?,
            phone_last4: phone_last4(self.phone)?,
        })
    }
}

impl CheckedShipment {
    /// Whether every field is fit for any of the stores (what [`ShipmentIn::check`] promises).
    pub fn is_storable(&self) -> bool {
        let texts = [
            Some(&self.tracking_number),
            self.order_id.as_ref(),
            self.carrier_code.as_ref(),
            self.phone_last4.as_ref(),
            self.carrier.as_ref(),
        ];
        texts
            .into_iter()
            .flatten()
            .all(|t| !t.contains('\0') && !t.is_empty())
            && self.metadata.as_ref().is_none_or(|m| !holds_nul(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: serde_json::Value) -> ShipmentIn {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn nul_is_refused_in_every_field_that_is_stored() {
        let cases = [
            json!({"tracking_number": "SBX\u{0}1"}),
            json!({"tracking_number": "SBX1", "order_id": "ORD\u{0}"}),
            json!({"tracking_number": "SBX1", "carrier_code": "zto\u{0}"}),
            json!({"tracking_number": "SBX1", "metadata": {"note": "a\u{0}b"}}),
            json!({"tracking_number": "SBX1", "metadata": {"k\u{0}": 1}}),
            json!({"tracking_number": "SBX1", "metadata": {"deep": [{"x": "\u{0}"}]}}),
        ];
        for case in cases {
            let refused = input(case.clone()).check().unwrap_err();
            assert!(
                matches!(refused, ApiError::Validation(_)),
                "{case}: {refused:?}"
            );
        }
        let fine = input(json!({"tracking_number": " SBX1 ", "order_id": " O-1 ", "phone": "+49 (30) 1234-5678"}))
            .check()
            .unwrap();
        assert_eq!(fine.tracking_number, "SBX1");
        assert_eq!(fine.order_id.as_deref(), Some("O-1"));
        assert_eq!(fine.phone_last4.as_deref(), Some("5678"));
        assert!(fine.is_storable());
    }

    #[test]
    fn numbers_as_people_type_them_are_accepted_as_sent() {
        let typed = input(json!({"tracking_number": " sf 1400-1234\t5678 "}))
            .check()
            .unwrap();
        assert_eq!(typed.tracking_number, "sf 1400-1234\t5678");
        for refused in [" - ", "..", "SF\u{7}1"] {
            let outcome = input(json!({ "tracking_number": refused })).check();
            assert!(
                matches!(outcome, Err(ApiError::Validation(_))),
                "{refused:?}"
            );
        }
    }
}
