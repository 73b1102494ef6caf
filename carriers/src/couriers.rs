//! The couriers behind the carriers: who actually moves a parcel, and their names.
//!
//! An aggregator's update names the courier in its own code — Kuaidi100 `com` (`zhongtong`),
//! AfterShip `slug` (`china-post`), a 17TRACK carrier number (`3011`), EasyPost's and
//! Shippo's `carrier` (`USPS`, `usps`) — and a carrier's own API is its own courier. This table
//! gives each courier one id and the names a person reads (English, and the courier's own
//! language where that differs), so pushes and lookups say "ZTO Express / 中通快递" instead of
//! `kuaidi100`.
//!
//! Codes come from each vendor's published list: Kuaidi100's company-code table
//! (快递公司编码), AfterShip's courier list
//! (`GET /couriers/all`), 17TRACK's carrier list (`res.17track.net/asset/carrier/info/
//! apicarrier.all.json`: `key` and `_name`), EasyPost's carrier names (`Tracker.carrier`) and
//! Shippo's carrier tokens. Only codes checked against those lists are here; an unknown code is
//! still kept as the shipment's `carrier_code`, it just has no name.

/// One courier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Courier {
    /// Stable, ours: `zto`, `sf-express`, `usps`.
    pub id: &'static str,
    /// The English name.
    pub name: &'static str,
    /// The name in the courier's own language, when it is not the English one.
    pub local_name: Option<&'static str>,
    /// `(kind, code)`: this courier's code at an aggregator kind (compared ignoring case).
    pub codes: &'static [(&'static str, &'static str)],
    /// Kinds that are this courier's own API (no code needed).
    pub own_kinds: &'static [&'static str],
}

impl Courier {
    /// "ZTO Express / 中通快递", or the English name alone.
    pub fn display_name(&self) -> String {
        match self.local_name {
            Some(local) => format!("{} / {local}", self.name),
            None => self.name.to_owned(),
        }
    }
}

const fn courier(
    id: &'static str,
    name: &'static str,
    local_name: Option<&'static str>,
    codes: &'static [(&'static str, &'static str)],
    own_kinds: &'static [&'static str],
) -> Courier {
    Courier {
        id,
        name,
        local_name,
        codes,
        own_kinds,
    }
}

/// Every courier we can name.
#[rustfmt::skip]
pub const COURIERS: &[Courier] = &[
    courier("sf-express", "SF Express", Some("顺丰速运"), &[("kuaidi100", "shunfeng"), ("aftership", "sf-express")], &[]),
    courier("zto", "ZTO Express", Some("中通快递"), &[("kuaidi100", "zhongtong"), ("aftership", "zto-express")], &[]),
    courier("yto", "YTO Express", Some("圆通速递"), &[("kuaidi100", "yuantong"), ("aftership", "yto")], &[]),
    courier("yunda", "Yunda Express", Some("韵达快递"), &[("kuaidi100", "yunda"), ("aftership", "yunda")], &[]),
    courier("sto", "STO Express", Some("申通快递"), &[("kuaidi100", "shentong"), ("aftership", "sto")], &[]),
    courier("jtexpress-cn", "J&T Express", Some("极兔速递"), &[("kuaidi100", "jtexpress")], &[]),
    courier("jd", "JD Logistics", Some("京东物流"), &[("kuaidi100", "jd")], &[]),
    courier("deppon", "Deppon Express", Some("德邦快递"), &[("kuaidi100", "debangkuaidi"), ("kuaidi100", "debangwuliu")], &[]),
    courier("best", "Best Express", Some("百世快递"), &[("kuaidi100", "huitongkuaidi")], &[]),
    courier("zjs", "ZJS Express", Some("宅急送"), &[("kuaidi100", "zhaijisong")], &[]),
    courier("china-ems", "China EMS", Some("EMS 中国邮政速递物流"), &[("kuaidi100", "ems"), ("aftership", "china-ems"), ("17track", "3013")], &[]),
    courier("china-post", "China Post", Some("中国邮政"), &[("kuaidi100", "youzhengguonei"), ("kuaidi100", "youzhengguoji"), ("aftership", "china-post"), ("17track", "3011")], &[]),
    courier("usps", "USPS", None, &[("kuaidi100", "usps"), ("aftership", "usps"), ("17track", "21051"), ("easypost", "USPS"), ("shippo", "usps")], &["usps"]),
    courier("ups", "UPS", None, &[("kuaidi100", "ups"), ("aftership", "ups"), ("17track", "100002"), ("easypost", "UPS"), ("shippo", "ups")], &["ups"]),
    courier("fedex", "FedEx", None, &[("kuaidi100", "fedex"), ("aftership", "fedex"), ("17track", "100003"), ("easypost", "FedEx"), ("shippo", "fedex")], &["fedex"]),
    courier("dhl-express", "DHL Express", None, &[("kuaidi100", "dhl"), ("aftership", "dhl"), ("17track", "100001"), ("easypost", "DHLExpress"), ("shippo", "dhl_express")], &["mydhl"]),
    courier("dhl", "DHL", None, &[], &["dhl"]),
    courier("royal-mail", "Royal Mail", None, &[("aftership", "royal-mail"), ("17track", "11031")], &["royalmail"]),
    courier("australia-post", "Australia Post", None, &[("aftership", "australia-post"), ("17track", "1151")], &["australiapost"]),
    courier("canada-post", "Canada Post", None, &[("aftership", "canada-post"), ("easypost", "CanadaPost"), ("shippo", "canada_post")], &[]),
    courier("la-poste", "La Poste / Colissimo", None, &[("aftership", "la-poste-colissimo")], &["laposte"]),
];

/// The courier of a shipment of carrier kind `kind`: the one whose code at that kind is `code`,
/// else, without a code, the courier whose own API `kind` is.
pub fn find(kind: &str, code: Option<&str>) -> Option<&'static Courier> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => COURIERS.iter().find(|courier| {
            courier
                .codes
                .iter()
                .any(|(at, known)| *at == kind && known.eq_ignore_ascii_case(code))
        }),
        None => COURIERS.iter().find(|c| c.own_kinds.contains(&kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CATALOG;

    #[test]
    fn aggregator_codes_name_their_courier() {
        let zto = find("kuaidi100", Some("zhongtong")).unwrap();
        assert_eq!(zto.display_name(), "ZTO Express / 中通快递");
        assert_eq!(find("17track", Some("3011")).unwrap().id, "china-post");
        assert_eq!(find("easypost", Some("usps")).unwrap().id, "usps");
        assert_eq!(find("shippo", Some("USPS")).unwrap().id, "usps");
        assert_eq!(
            find("aftership", Some("fedex")).unwrap().display_name(),
            "FedEx"
        );
        assert_eq!(find("ups", None).unwrap().id, "ups");
        assert!(find("kuaidi100", Some("no-such-company")).is_none());
        assert!(
            find("kuaidi100", None).is_none(),
            "an aggregator is nobody's courier"
        );
    }

    #[test]
    fn the_table_is_consistent() {
        let mut ids: Vec<&str> = COURIERS.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), COURIERS.len(), "a courier id is listed twice");
        let kinds: Vec<&str> = CATALOG.iter().map(|k| k.kind).collect();
        let mut codes = Vec::new();
        for courier in COURIERS {
            for (kind, code) in courier.codes {
                assert!(kinds.contains(kind), "{}: unknown kind {kind}", courier.id);
                codes.push((*kind, code.to_ascii_lowercase()));
            }
            for kind in courier.own_kinds {
                assert!(kinds.contains(kind), "{}: unknown kind {kind}", courier.id);
            }
        }
        let listed = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), listed, "a code names two couriers");
        for kind in &kinds {
            let owners = COURIERS
                .iter()
                .filter(|c| c.own_kinds.contains(kind))
                .count();
            assert!(owners <= 1, "{kind} is the own API of {owners} couriers");
        }
    }
}
