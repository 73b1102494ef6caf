//! Times as defined carriers send them: the formats a definition lists, tried in order, and
//! the zone a local time is read in.
//!
//! A time with an offset keeps it. A local time (a pattern without `%z`) is resolved in the
//! definition's zone: UTC, a fixed offset, an IANA zone, or the event's country through the
//! zone table ([`crate::zones`]) — flagged as inferred, never silently taken as UTC.

use super::node::Node;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::Instant;

#[derive(Debug, Clone)]
pub enum TimeFormat {
    Rfc3339,
    EpochSeconds,
    EpochMillis,
    /// `/Date(1580000000000+0100)/`
    DotnetDate,
    /// 100-nanosecond ticks since 0001-01-01 (a .NET `DateTime`).
    DotnetTicks,
    /// A chrono pattern; `has_offset` when it contains `%z`/`%:z`.
    Pattern {
        pattern: String,
        has_offset: bool,
        has_time: bool,
    },
}

impl TimeFormat {
    pub fn parse(name: &str) -> Result<TimeFormat, String> {
        Ok(match name {
            "rfc3339" => TimeFormat::Rfc3339,
            "epoch_seconds" => TimeFormat::EpochSeconds,
            "epoch_millis" => TimeFormat::EpochMillis,
            "dotnet_date" => TimeFormat::DotnetDate,
            "dotnet_ticks" => TimeFormat::DotnetTicks,
            pattern if pattern.contains('%') => {
                // chrono reports a bad pattern only when parsing: check it on a formatted
                // instant, which must read back.
                let items: Vec<_> = chrono::format::StrftimeItems::new(pattern).collect();
                if items.contains(&chrono::format::Item::Error) {
                    return Err(format!("`{pattern}` is not a valid time pattern"));
                }
                TimeFormat::Pattern {
                    pattern: pattern.to_owned(),
                    has_offset: pattern.contains("%z")
                        || pattern.contains("%:z")
                        || pattern.contains("%#z"),
                    has_time: pattern.contains("%H")
                        || pattern.contains("%I")
                        || pattern.contains("%T")
                        || pattern.contains("%R"),
                }
            }
            other => {
                return Err(format!(
                    "unknown time format `{other}`: rfc3339, epoch_seconds, epoch_millis, dotnet_date, dotnet_ticks or a pattern with `%`"
                ));
            }
        })
    }
}

/// Where a local time is.
#[derive(Debug, Clone)]
pub enum Zone {
    /// Only times that carry their offset are accepted.
    Payload,
    Utc,
    Fixed(FixedOffset),
    Named(Tz),
    /// The event's country (and subdivision) through the zone table.
    Country,
}

impl Zone {
    pub fn parse(name: Option<&str>) -> Result<Zone, String> {
        let Some(name) = name else {
            return Ok(Zone::Payload);
        };
        if let Some(offset) = parse_offset(name) {
            return Ok(Zone::Fixed(offset));
        }
        Ok(match name {
            "payload" => Zone::Payload,
            "utc" | "UTC" => Zone::Utc,
            "country" => Zone::Country,
            other => Zone::Named(other.parse().map_err(|_| {
                format!("unknown zone `{other}`: payload, utc, country, an offset like +08:00 or an IANA name")
            })?),
        })
    }
}

/// `+08:00`, `+0800`, `-05`, `Z`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    if text == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits.get(2..).map_or(Some(0), |m| m.parse().ok())?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// What the event says about where it happened, for [`Zone::Country`].
#[derive(Default)]
pub struct Place<'a> {
    pub country: Option<&'a str>,
    pub subdivision: Option<&'a str>,
    /// An offset given beside the local time.
    pub offset: Option<FixedOffset>,
}

/// Read `value` with the first format that fits; `Err` says why none did. A local time at a
/// place whose zone cannot be known is read as UTC (flagged as inferred) with a note for the
/// caller's problems, as the built-in adapters do, rather than dropped.
pub fn read(
    value: &Node<'_>,
    formats: &[TimeFormat],
    zone: &Zone,
    place: &Place<'_>,
) -> Result<(Instant, Option<String>), String> {
    let text = match value {
        Node::Text(s) => std::borrow::Cow::Borrowed(s.trim()),
        Node::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        other => return Err(format!("`{other}` is not a time")),
    };
    for format in formats {
        let parsed = match format {
            TimeFormat::Rfc3339 => Instant::parse_rfc3339(&text).map(|i| Ok(Local::Known(i))),
            TimeFormat::EpochSeconds => {
                epoch(&text, 1).map(|utc| Ok(Local::Known(utc_instant(utc, zone))))
            }
            TimeFormat::EpochMillis => {
                epoch(&text, 1000).map(|utc| Ok(Local::Known(utc_instant(utc, zone))))
            }
            TimeFormat::DotnetDate => dotnet_date(&text).map(|i| Ok(Local::Known(i))),
            TimeFormat::DotnetTicks => ticks(&text).map(|naive| local(naive, zone, place)),
            TimeFormat::Pattern {
                pattern,
                has_offset: true,
                ..
            } => DateTime::parse_from_str(&text, pattern).ok().map(|t| {
                Ok(Local::Known(Instant {
                    utc: t.with_timezone(&Utc),
                    offset_seconds: Some(t.offset().local_minus_utc()),
                    offset_inferred: false,
                }))
            }),
            TimeFormat::Pattern {
                pattern, has_time, ..
            } => {
                let naive = if *has_time {
                    NaiveDateTime::parse_from_str(&text, pattern).ok()
                } else {
                    NaiveDate::parse_from_str(&text, pattern)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                };
                naive.map(|n| local(n, zone, place))
            }
        };
        if let Some(result) = parsed {
            return result.map(|instant| match instant {
                Local::Known(i) => (i, None),
                Local::AsUtc(i, note) => (i, Some(note)),
            });
        }
    }
    Err(format!(
        "time `{text}` matches none of the definition's formats"
    ))
}

fn epoch(text: &str, per_second: i64) -> Option<DateTime<Utc>> {
    let number: f64 = text.parse().ok()?;
    if !number.is_finite() {
        return None;
    }
    let millis = (number * 1000.0 / per_second as f64).round() as i64;
    DateTime::from_timestamp_millis(millis)
}

fn utc_instant(utc: DateTime<Utc>, zone: &Zone) -> Instant {
    // An epoch is an instant; the zone only says which local offset to show it in.
    let offset = match zone {
        Zone::Fixed(offset) => Some(offset.local_minus_utc()),
        Zone::Named(tz) => Some(
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        ),
        _ => Some(0),
    };
    Instant {
        utc,
        offset_seconds: offset,
        offset_inferred: !matches!(zone, Zone::Payload | Zone::Utc),
    }
}

fn dotnet_date(text: &str) -> Option<Instant> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let split = inner[1..].find(['+', '-']).map(|i| i + 1);
    let (millis, offset) = match split {
        Some(i) => (&inner[..i], parse_offset(&inner[i..])),
        None => (inner, None),
    };
    let utc = DateTime::from_timestamp_millis(millis.parse().ok()?)?;
    Some(Instant {
        utc,
        offset_seconds: Some(offset.map_or(0, |o| o.local_minus_utc())),
        offset_inferred: false,
    })
}

fn ticks(text: &str) -> Option<NaiveDateTime> {
    let ticks: i64 = text.parse().ok()?;
    let base = NaiveDate::from_ymd_opt(1, 1, 1)?.and_hms_opt(0, 0, 0)?;
    base.checked_add_signed(chrono::Duration::microseconds(ticks / 10))
}

/// A local time resolved, or read as UTC with a note saying why.
enum Local {
    Known(Instant),
    AsUtc(Instant, String),
}

fn local(naive: NaiveDateTime, zone: &Zone, place: &Place<'_>) -> Result<Local, String> {
    if let Some(offset) = place.offset {
        return from_offset(naive, offset, false).map(Local::Known);
    }
    let known = match zone {
        Zone::Payload => Err(format!(
            "local time {naive} has no offset and the definition names no zone"
        )),
        Zone::Utc => from_offset(naive, FixedOffset::east_opt(0).expect("zero"), false),
        Zone::Fixed(offset) => from_offset(naive, *offset, true),
        Zone::Named(tz) => crate::zones::resolve_local(naive, *tz)
            .or_else(|| crate::zones::resolve_local(naive + chrono::Duration::hours(1), *tz))
            .ok_or_else(|| format!("{naive} does not exist in {tz}")),
        Zone::Country => {
            return Ok(
                match crate::zones::local_at(naive, place.country, place.subdivision) {
                    (instant, None) => Local::Known(instant),
                    (instant, Some(note)) => Local::AsUtc(instant, note),
                },
            );
        }
    };
    known.map(Local::Known)
}

fn from_offset(
    naive: NaiveDateTime,
    offset: FixedOffset,
    inferred: bool,
) -> Result<Instant, String> {
    let local = offset
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(|| format!("{naive} cannot be placed at {offset}"))?;
    Ok(Instant {
        utc: local.with_timezone(&Utc),
        offset_seconds: Some(offset.local_minus_utc()),
        offset_inferred: inferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: serde_json::Value, formats: &[&str], zone: &str) -> Result<Instant, String> {
        let text = Node::from(&text);
        let formats: Vec<_> = formats
            .iter()
            .map(|f| TimeFormat::parse(f).unwrap())
            .collect();
        read(
            &text,
            &formats,
            &Zone::parse(Some(zone)).unwrap(),
            &Place::default(),
        )
        .map(|(i, _)| i)
    }

    #[test]
    fn every_format_reads_its_own_shape() {
        let rfc = at(
            json!("2021-05-28T10:03:20.000+10:00"),
            &["rfc3339"],
            "payload",
        )
        .unwrap();
        assert_eq!(rfc.offset_seconds, Some(36000));
        let epoch = at(json!(1578439750000i64), &["epoch_millis"], "utc").unwrap();
        assert_eq!(epoch.utc.to_rfc3339(), "2020-01-07T23:29:10+00:00");
        let dotnet = at(
            json!("/Date(1580000000000+0100)/"),
            &["dotnet_date"],
            "payload",
        )
        .unwrap();
        assert_eq!(dotnet.offset_seconds, Some(3600));
        let local = at(
            json!("28/05/2021 10:03"),
            &["rfc3339", "%d/%m/%Y %H:%M"],
            "Europe/Paris",
        )
        .unwrap();
        assert_eq!(local.utc.to_rfc3339(), "2021-05-28T08:03:00+00:00");
        assert!(local.offset_inferred);
        let date = at(json!("2024-01-17"), &["%Y-%m-%d"], "+08:00").unwrap();
        assert_eq!(date.utc.to_rfc3339(), "2024-01-16T16:00:00+00:00");
        let ticks = at(json!("638000000000000000"), &["dotnet_ticks"], "utc").unwrap();
        assert_eq!(ticks.utc.to_rfc3339(), "2022-09-28T22:13:20+00:00");
    }

    #[test]
    fn a_local_time_without_a_zone_is_refused_not_guessed() {
        assert!(at(json!("2021-05-28 10:03"), &["%Y-%m-%d %H:%M"], "payload").is_err());
        assert!(at(json!("yesterday"), &["rfc3339"], "utc").is_err());
        assert!(TimeFormat::parse("%Q").is_err());
        assert!(Zone::parse(Some("Mars/Olympus")).is_err());
    }
}
