//! The domain's parsers, which every adapter uses on untrusted text: ids
//! (IBGE codes, unit/base/member slugs), unit types, statuses, reasons,
//! staff roles, and checked coordinates.
//!
//! The first byte picks the parser; the rest is the input. Invariants: an
//! accepted value prints back to its (trimmed) input and parses again to
//! itself, through `parse` and through serde; a rejection names the field it
//! was given; a point is accepted exactly when both coordinates are finite
//! and in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samu_domain::{
    BaseId, CentralId, GeoPoint, MemberId, OutOfServiceReason, StaffRole, UnitId, UnitStatus,
    UnitType,
};

const FIELD: &str = "fuzzed.field";

fn json_round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).expect("serialises");
    let back: T = serde_json::from_str(&json).expect("what serialises deserialises");
    assert_eq!(&back, value, "{json}");
}

/// Equal within two units in the last place.
fn close(a: f64, b: f64) -> bool {
    a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= 2)
}

fn slug_ok(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

macro_rules! check_slug {
    ($t:ty, $raw:expr) => {{
        let raw: &str = $raw;
        match <$t>::parse(FIELD, raw) {
            Ok(id) => {
                assert!(slug_ok(raw), "{raw:?} accepted");
                assert_eq!(id.as_str(), raw);
                assert_eq!(id.to_string(), raw);
                assert_eq!(<$t>::parse(FIELD, id.as_str()).unwrap(), id);
                json_round_trip(&id);
            }
            Err(e) => {
                assert!(!slug_ok(raw), "{raw:?} refused: {e}");
                assert_eq!(e.field, FIELD);
            }
        }
        // serde validates too.
        let json = serde_json::to_string(raw).unwrap();
        assert_eq!(serde_json::from_str::<$t>(&json).is_ok(), slug_ok(raw));
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 8 == 7 {
        // Two f64 from 16 raw bytes: every bit pattern, NaNs included.
        if rest.len() < 16 {
            return;
        }
        let lat = f64::from_le_bytes(rest[..8].try_into().unwrap());
        let lon = f64::from_le_bytes(rest[8..16].try_into().unwrap());
        let valid = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        match GeoPoint::new("position", lat, lon) {
            Ok(p) => {
                assert!(valid, "{lat}, {lon} accepted");
                assert_eq!((p.lat(), p.lon()), (lat, lon));
                // serde_json (without its `float_roundtrip` feature) may read
                // a float back one ULP off: compare within two.
                let json = serde_json::to_string(&p).unwrap();
                let back: GeoPoint = serde_json::from_str(&json).expect("a point reads back");
                assert!(close(back.lat(), lat) && close(back.lon(), lon), "{json}");
                let d = p.distance_m(p);
                assert!(d.abs() < 1e-6, "distance to itself {d}");
                let v = p.unit_vector();
                let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                assert!((norm - 1.0).abs() < 1e-9, "{norm}");
                let antipode =
                    GeoPoint::new("p", -lat, if lon > 0.0 { lon - 180.0 } else { lon + 180.0 })
                        .expect("the antipode is a point");
                let d = p.distance_m(antipode);
                assert!(d.is_finite() && d <= 20_050_000.0, "{d}");
            }
            Err(e) => {
                assert!(!valid, "{lat}, {lon} refused: {e}");
                assert!(
                    e.field == "position.latitude" || e.field == "position.longitude",
                    "{}",
                    e.field
                );
            }
        }
        return;
    }
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 8 {
        0 => match CentralId::parse(FIELD, raw) {
            Ok(id) => {
                let t = raw.trim();
                assert_eq!(id.as_str(), t);
                assert!(t.len() == 7 && t.bytes().all(|b| b.is_ascii_digit()));
                let state: u8 = t[..2].parse().unwrap();
                assert!((11..=53).contains(&state));
                assert_eq!(CentralId::parse(FIELD, id.as_str()).unwrap(), id);
                json_round_trip(&id);
            }
            Err(e) => assert_eq!(e.field, FIELD),
        },
        1 => check_slug!(UnitId, raw),
        2 => check_slug!(BaseId, raw),
        3 => check_slug!(MemberId, raw),
        4 => match UnitType::parse(FIELD, raw) {
            Ok(t) => {
                assert!(t.code().eq_ignore_ascii_case(raw.trim()));
                assert_eq!(UnitType::parse(FIELD, t.code()).unwrap(), t);
                assert_eq!(UnitType::ALL[t.index()], t);
                json_round_trip(&t);
            }
            Err(e) => assert_eq!(e.field, FIELD),
        },
        5 => match UnitStatus::parse(FIELD, raw) {
            Ok(s) => {
                assert_eq!(s.as_str(), raw);
                assert!(!(s.is_available() && s.is_on_call()));
                assert!(!s.apco_code().is_empty());
                json_round_trip(&s);
            }
            Err(e) => assert_eq!(e.field, FIELD),
        },
        _ => {
            match OutOfServiceReason::parse(FIELD, raw) {
                Ok(r) => {
                    assert_eq!(r.as_str(), raw);
                    json_round_trip(&r);
                }
                Err(e) => assert_eq!(e.field, FIELD),
            }
            match StaffRole::parse(FIELD, raw) {
                Ok(r) => {
                    assert_eq!(r.as_str(), raw);
                    json_round_trip(&r);
                }
                Err(e) => assert_eq!(e.field, FIELD),
            }
        }
    }
});
