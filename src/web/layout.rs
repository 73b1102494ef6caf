//! The frame around every page (head, header, navigation), and how times are shown: the event's
//! local time *and* its zone, since a parcel crosses zones and "14:05" alone misleads.

use chrono::{DateTime, FixedOffset, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::Staff;

/// What the frame needs to know about the page.
pub struct Chrome<'a> {
    pub title: &'a str,
    pub staff: Option<&'a Staff>,
    pub customer: Option<Brand<'a>>,
    pub lang: &'a str,
}

/// The customer page's branding (from `[web]`).
pub struct Brand<'a> {
    pub name: &'a str,
    pub logo_url: &'a str,
}

impl<'a> Chrome<'a> {
    pub fn console(title: &'a str, staff: Option<&'a Staff>) -> Chrome<'a> {
        Chrome {
            title,
            staff,
            customer: None,
            lang: "en",
        }
    }
}

pub fn page(chrome: &Chrome<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(chrome.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (chrome.title) " · " (chrome.customer.as_ref().map_or("trackgate support", |b| b.name)) }
                link rel="stylesheet" href="/assets/app.css";
                @if chrome.customer.is_some() {
                    link rel="stylesheet" href="/t/brand.css";
                    script src="/assets/track.js" defer {}
                } @else {
                    script src="/assets/console.js" defer {}
                }
            }
            body.customer[chrome.customer.is_some()] {
                @if let Some(brand) = &chrome.customer {
                    header.top.brand {
                        @if !brand.logo_url.is_empty() {
                            img.logo src=(brand.logo_url) alt="";
                        }
                        span.name { (brand.name) }
                    }
                } @else {
                    header.top {
                        a.name href="/support" { "trackgate" span.muted { " support" } }
                        @if let Some(staff) = chrome.staff {
                            nav {
                                a href="/support" { "Search" }
                                a href="/support/dashboard" { "Dashboard" }
                                form.inline method="post" action="/support/logout" {
                                    input type="hidden" name="csrf" value=(staff.csrf);
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A time in its own zone: ("2026-11-30 14:05", "UTC+08:00"), the zone marked "inferred" when
/// the carrier did not give it and we derived it from the place.
pub fn local_time(
    at: DateTime<Utc>,
    offset_seconds: Option<i32>,
    inferred: bool,
) -> (String, String) {
    let Some(offset) = offset_seconds.and_then(FixedOffset::east_opt) else {
        return (at.format("%Y-%m-%d %H:%M").to_string(), "UTC".into());
    };
    let local = at.with_timezone(&offset);
    let zone = if offset.local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        format!("UTC{}", local.format("%:z"))
    };
    let zone = if inferred {
        format!("{zone} (inferred)")
    } else {
        zone
    };
    (local.format("%Y-%m-%d %H:%M").to_string(), zone)
}

/// A UTC instant for staff: "2026-11-30 06:05:09 UTC".
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "3 min ago" / "in 2 h" for an instant relative to now.
pub fn relative(at: DateTime<Utc>) -> String {
    let secs = (at - Utc::now()).num_seconds();
    let (amount, future) = (secs.unsigned_abs(), secs > 0);
    let text = match amount {
        0..=59 => format!("{amount} s"),
        60..=3599 => format!("{} min", amount / 60),
        3600..=172_799 => format!("{} h", amount / 3600),
        _ => format!("{} days", amount / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A `<time>` element showing `text`, its `datetime` the exact instant.
pub fn time_tag(at: DateTime<Utc>, text: &str) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (text) } }
}

/// Nothing: for optional cells.
pub fn dash() -> Markup {
    PreEscaped("&ndash;".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_shows_the_zone() {
        let at: DateTime<Utc> = "2026-11-30T06:05:00Z".parse().unwrap();
        assert_eq!(
            local_time(at, Some(8 * 3600), false),
            ("2026-11-30 14:05".into(), "UTC+08:00".into())
        );
        assert_eq!(
            local_time(at, Some(-5 * 3600), true),
            ("2026-11-30 01:05".into(), "UTC-05:00 (inferred)".into())
        );
        assert_eq!(
            local_time(at, None, false),
            ("2026-11-30 06:05".into(), "UTC".into())
        );
    }
}
