//! A message read from the Redis fan-out channel (another instance's change,
//! or its resync request), as `samu_fanout::Envelope::decode` reads it before
//! the subscriber applies it.
//!
//! Invariants: a message that decodes encodes again, and that decodes to the
//! same message (numbers within 2 ULP: serde_json's reading of floats is not
//! exact); its unit ids and central ids are valid ones (checked while
//! decoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use samu_domain::{CentralId, UnitId};
use samu_fanout::Envelope;
use samu_runtime::FleetEvent;
use serde_json::Value;

/// Equal JSON, numbers within two units in the last place.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if x.is_f64() || y.is_f64() => {
                p == q || (p.signum() == q.signum() && p.to_bits().abs_diff(q.to_bits()) <= 2)
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::decode(payload) else {
        return;
    };
    let text = envelope.encode().expect("a decoded message encodes");
    let again = Envelope::decode(&text).expect("what we encode decodes");
    // serde_json (without its `float_roundtrip` feature) may read a float
    // back one or two ULP off, even one it printed itself: numbers are
    // compared within that, everything else exactly.
    let (a, b) = (
        serde_json::to_value(&envelope).unwrap(),
        serde_json::to_value(&again).unwrap(),
    );
    assert!(same(&a, &b), "{payload}\n=> {text}");
    assert_eq!(again.instance, envelope.instance);
    assert_eq!(again.resync, envelope.resync);
    if let Some(FleetEvent::Unit(view)) = &envelope.event {
        assert_eq!(UnitId::parse("u", view.id.as_str()).unwrap(), view.id);
        assert_eq!(
            CentralId::parse("c", view.central.as_str()).unwrap(),
            view.central
        );
    }
});
