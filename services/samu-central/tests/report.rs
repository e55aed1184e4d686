//! The indicators from stored history: the monthly report (HTTP and CLI)
//! and the daily job.

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use samu_domain::{CentralId, MemberId, StaffRole, UnitId, UnitStatus};
use samu_fleet::{StatusChange, StatusSource};
use samu_proto::v1 as pb;
use samu_store::WriteBatch;
use samu_testkit::{backend_tests, TestBackend};

backend_tests! {
    october_indicators_from_stored_history => october_indicators_from_stored_history;
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn event(unit: &str, n: u64, at: chrono::DateTime<Utc>, status: UnitStatus) -> StatusChange {
    StatusChange {
        unit: UnitId::parse("u", unit).unwrap(),
        event_no: n,
        at,
        status,
        out_of_service_reason: (status == UnitStatus::OutOfService)
            .then_some(samu_domain::OutOfServiceReason::Maintenance),
        crew_complete: true,
        source: StatusSource::Crew,
    }
}

async fn october_indicators_from_stored_history(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let mut admin = app.admin().await;
    // A central of 100 000 people: minimum team 1 regulador, 3/2 TARM, 1 RO.
    admin
        .upsert_central(authed(
            &app.admin_token,
            pb::Central {
                id: BH.into(),
                name: "SAMU Teste".into(),
                population: 100_000,
                programmed_monthly_centavos: Some(2_315_200),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    // The units, habilitated from tomorrow (no finished day for the
    // server's own daily job to compute, whatever the hour) until the
    // history below is written: a pass of that job before the history
    // would store its days as without data, and a catch-up never computes
    // a stored day again.
    let september = ts(utc(2026, 9, 1, 3, 0));
    let tomorrow = ts(Utc::now() + chrono::Days::new(1));
    let units = [("usb-1", pb::UnitType::Usb), ("usa-1", pb::UnitType::Usa)];
    let unit = |id: &str, t: pb::UnitType, habilitated_from| pb::Unit {
        id: id.into(),
        central_id: BH.into(),
        r#type: t.into(),
        label: id.into(),
        habilitated_from,
        ..Default::default()
    };
    for (id, t) in units {
        admin
            .upsert_unit(authed(&app.admin_token, unit(id, t, Some(tomorrow))))
            .await
            .unwrap();
    }
    // The pass the server's job may make now, on a busy machine.
    assert_eq!(
        samu_runtime::reporting::catch_up(&app.store, Utc::now())
            .await
            .unwrap(),
        0
    );
    // Bad settings are refused by field.
    let status = admin
        .upsert_central(authed(
            &app.admin_token,
            pb::Central {
                id: BH.into(),
                name: "SAMU Teste".into(),
                population: 100_000,
                indicator_settings_json: Some("{\"weights\": 3}".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().starts_with("indicator_settings_json"));

    // History: both units available from mid-September; the USB is out of
    // service from 23:00 on 9 October to 02:00 on the 10th (local, -03:00).
    let batch = WriteBatch {
        status_events: vec![
            event(
                "usb-1",
                1,
                utc(2026, 9, 15, 12, 0),
                UnitStatus::AvailableAtBase,
            ),
            event(
                "usb-1",
                2,
                utc(2026, 10, 10, 2, 0),
                UnitStatus::OutOfService,
            ),
            event(
                "usb-1",
                3,
                utc(2026, 10, 10, 5, 0),
                UnitStatus::AvailableAtBase,
            ),
            event(
                "usa-1",
                1,
                utc(2026, 9, 15, 12, 0),
                UnitStatus::AvailableAtBase,
            ),
        ],
        ..Default::default()
    };
    app.store.write_batch(&batch, Utc::now()).await.unwrap();
    // The team: present all month, but the radio operator's relief comes
    // in 15 minutes late on the 20th at the 19:00 shift change.
    let central = CentralId::parse("c", BH).unwrap();
    let member = |s: &str| MemberId::parse("m", s).unwrap();
    let start = utc(2026, 9, 30, 12, 0);
    let now = Utc::now();
    for (m, role) in [
        ("med-1", StaffRole::Physician),
        ("tarm-1", StaffRole::Tarm),
        ("tarm-2", StaffRole::Tarm),
        ("tarm-3", StaffRole::Tarm),
    ] {
        app.store
            .clock_in(&central, &member(m), role, false, start, now)
            .await
            .unwrap();
    }
    let ro1 = app
        .store
        .clock_in(
            &central,
            &member("ro-1"),
            StaffRole::RadioOperator,
            false,
            start,
            now,
        )
        .await
        .unwrap();
    app.store
        .clock_out(&ro1.id, utc(2026, 10, 20, 21, 55))
        .await
        .unwrap();
    app.store
        .clock_in(
            &central,
            &member("ro-2"),
            StaffRole::RadioOperator,
            false,
            utc(2026, 10, 20, 22, 10),
            now,
        )
        .await
        .unwrap();
    // Reachable-only professionals never count.
    app.store
        .clock_in(
            &central,
            &member("ro-3"),
            StaffRole::RadioOperator,
            true,
            start,
            now,
        )
        .await
        .unwrap();

    // With the history stored, the units are habilitated from 1 September.
    for (id, t) in units {
        admin
            .upsert_unit(authed(&app.admin_token, unit(id, t, Some(september))))
            .await
            .unwrap();
    }

    let month = samu_indicators::YearMonth::parse("2026-10").unwrap();
    // The daily job catches up from the habilitation, 62 days per pass,
    // up to yesterday; running it again stores nothing new. The server's
    // own job may make a pass beside this one (on a busy machine it did,
    // taking the first 62 days): both read the same stored history and
    // upsert the same days, so what is checked is what is stored, not
    // which of the two computed it.
    let today = utc(2026, 11, 23, 12, 0);
    loop {
        let n = samu_runtime::reporting::catch_up(&app.store, today)
            .await
            .unwrap();
        assert!(n <= 62, "one pass computed {n} days");
        if n == 0 {
            break;
        }
    }
    // 1 September to 22 November, both units, every day once.
    let caught_up = app
        .store
        .unit_days(
            &central,
            chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(caught_up.len(), 2 * (30 + 31 + 22));
    assert_eq!(
        samu_runtime::reporting::catch_up(&app.store, today)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store.last_computed_day(&central).await.unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
    );
    let by_job = app
        .store
        .unit_days(&central, month.first_day(), month.last_day())
        .await
        .unwrap();
    let report = samu_runtime::reporting::monthly_report(&app.store, &central, month)
        .await
        .unwrap();
    let ind = &report.indicators;
    // USB: the 9th and the 10th both have minutes out: 29 of 31 days.
    assert_eq!((ind.usb.numerator, ind.usb.denominator), (29, 31));
    assert_eq!((ind.usa.numerator, ind.usa.denominator), (31, 31));
    // Team: the 20th has a 15-minute radio-operator gap: 30 of 31 days.
    assert_eq!((ind.team.numerator, ind.team.denominator), (30, 31));
    let gap_day = ind.team_days.iter().find(|d| !d.covered).unwrap();
    assert_eq!(
        gap_day.date,
        chrono::NaiveDate::from_ymd_opt(2026, 10, 20).unwrap()
    );
    assert_eq!(gap_day.short_ms, 15 * 60 * 1000);
    // The days were stored on the way.
    let stored = app
        .store
        .unit_days(&central, month.first_day(), month.last_day())
        .await
        .unwrap();
    assert_eq!(stored.len(), 62);
    assert_eq!(stored.iter().filter(|d| !d.in_operation).count(), 2);
    assert_eq!(by_job, stored, "the daily job and the report agree");

    // HTTP download for the manager role; others are refused.
    let manager = app
        .admin()
        .await
        .issue_access_token(authed(
            &app.admin_token,
            pb::IssueAccessTokenRequest {
                role: pb::Role::Manager.into(),
                label: "gestora".into(),
                ttl_s: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    let http = reqwest::Client::new();
    for (ext, content_type, magic) in [
        ("csv", "text/csv", &b"\xEF\xBB\xBF"[..]),
        ("xlsx", "application/vnd", b"PK"),
        ("pdf", "application/pdf", b"%PDF"),
    ] {
        let response = http
            .get(format!("{}/api/reports/{BH}/2026-10.{ext}", app.http_url))
            .bearer_auth(&manager)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{ext}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{ext}"
        );
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("relatorio-3106200-2026-10"));
        let body = response.bytes().await.unwrap();
        assert!(body.starts_with(magic), "{ext}");
        if ext == "csv" {
            let text = String::from_utf8(body.to_vec()).unwrap();
            assert!(text.contains("SAMU Teste"));
            assert!(text.contains(';'));
        }
    }
    // Found by the http_params fuzz target: a month with a trailing
    // carriage return is taken (trimmed), but nothing of the request's text
    // reaches the response header: the name is made of the parsed parts.
    let response = http
        .get(format!("{}/api/reports/{BH}/2026-10%0D.csv", app.http_url))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"relatorio-3106200-2026-10.csv\""
    );
    for (path, code) in [
        (format!("/api/reports/{BH}/2026-10.doc"), 400),
        (format!("/api/reports/{BH}/2026-13.csv"), 400),
        ("/api/reports/3170107/2026-10.csv".to_owned(), 404),
    ] {
        let response = http
            .get(format!("{}{path}", app.http_url))
            .bearer_auth(&manager)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), code, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let refused = http
        .get(format!(
            "{}/api/reports/{BH}/2026-10.csv?token={}",
            app.http_url, app.wall_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // The CLI of contracts.md writes the same report.
    let out = app.data_dir.0.join("relatorio.pdf");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_samu-central"))
        .args([
            "report",
            "--central",
            BH,
            "--month",
            "2026-10",
            "--format",
            "pdf",
            "--out",
        ])
        .arg(&out)
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF"));
    let csv = std::process::Command::new(env!("CARGO_BIN_EXE_samu-central"))
        .args([
            "report",
            "--central",
            BH,
            "--month",
            "2026-10",
            "--format",
            "csv",
        ])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(csv.status.success());
    assert!(String::from_utf8(csv.stdout)
        .unwrap()
        .contains("SAMU Teste"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_samu-central"))
        .args([
            "report",
            "--central",
            BH,
            "--month",
            "2026-1",
            "--format",
            "csv",
        ])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}
