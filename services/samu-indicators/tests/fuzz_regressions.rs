//! Inputs `scripts/fuzz.sh` found to break an invariant, kept as tests (the
//! same inputs are seeds of the fuzz targets, under `fuzz/seeds/`).

use samu_indicators::{
    weighted_score, CentralSettings, IncentiveRule, IndicatorKind, Weights, YearMonth,
};

#[test]
fn a_month_is_digits_only() {
    // http_params: "2019-+2" was read as February 2019 (`str::parse` takes a
    // sign), so `/api/reports/…/2019-+2.pdf` served the February report
    // under another name.
    for bad in [
        "2019-+2",
        "2026-+1",
        "+026-11",
        "2026- 1",
        "２０２６-11",
        "2026-1",
    ] {
        assert!(YearMonth::parse(bad).is_err(), "{bad:?}");
    }
    for (good, printed) in [("2019-02", "2019-02"), (" 2026-11\t", "2026-11")] {
        assert_eq!(YearMonth::parse(good).unwrap().to_string(), printed);
    }
}

#[test]
fn huge_or_tiny_weights_still_give_a_score_between_0_and_100() {
    // indicator_settings: weights are validated as finite and ≥ 0, but
    // 1e308 × 37.5 overflowed, and the score came out infinite (NaN with two
    // such weights), and the incentive with it.
    let json = r#"{"weights": {"usb": 0, "usa": 1e308, "team": 1e308}}"#;
    let settings: CentralSettings = serde_json::from_str(json).unwrap();
    settings.validate().unwrap();
    let kinds = [
        IndicatorKind::UsbInOperation,
        IndicatorKind::UsaInOperation,
        IndicatorKind::MinimumTeamDays,
    ];
    let score = weighted_score(
        &settings.weights,
        &[
            (kinds[0], None),
            (kinds[1], Some(37.5)),
            (kinds[2], Some(100.0)),
        ],
    )
    .unwrap();
    assert!((score - 68.75).abs() < 1e-9, "{score}");
    let score = weighted_score(&settings.weights, &[(kinds[1], Some(37.5))]).unwrap();
    assert!((score - 37.5).abs() < 1e-9, "{score}");
    assert!(IncentiveRule::Proportional.share_percent(score).is_finite());

    let tiny = Weights {
        usb: 5e-324,
        usa: 5e-324,
        team: 0.0,
    };
    let score = weighted_score(&tiny, &[(kinds[0], Some(37.5)), (kinds[1], Some(12.5))]).unwrap();
    assert!((score - 25.0).abs() < 1e-9, "{score}");

    // Ordinary weights give exactly what they always did.
    let score = weighted_score(
        &Weights::default(),
        &[
            (kinds[0], Some(90.0)),
            (kinds[1], Some(80.0)),
            (kinds[2], Some(50.0)),
        ],
    )
    .unwrap();
    assert_eq!(score, (35.0 * 90.0 + 35.0 * 80.0 + 30.0 * 50.0) / 100.0);
}
