//! Clock-in and clock-out of the regulation room's staff.

mod common;

use common::*;
use samu_proto::v1::{self as pb, team_client::TeamClient};
use samu_store::Role;
use samu_testkit::{backend_tests, TestBackend};
use tonic::Code;

backend_tests! {
    staff_clock_in_and_out => staff_clock_in_and_out;
}

async fn staff_clock_in_and_out(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let physician = {
        let central = app.store.clone();
        drop(central);
        let mut admin = app.admin().await;
        admin
            .issue_access_token(authed(
                &app.admin_token,
                pb::IssueAccessTokenRequest {
                    role: pb::Role::Physician.into(),
                    label: "Dra. Regina".into(),
                    ttl_s: 0,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .token
    };
    let mut team = TeamClient::new(app.channel().await);
    let clock_in = |member: &str, role: pb::StaffRole, reachable_only: bool| pb::ClockInRequest {
        central_id: BH.into(),
        member_id: member.into(),
        role: role.into(),
        reachable_only,
        at: None,
    };
    let first = team
        .clock_in(authed(
            &physician,
            clock_in("med-1", pb::StaffRole::Physician, false),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(first.ended_at.is_none());
    // Clocking in twice keeps the open presence.
    let again = team
        .clock_in(authed(
            &physician,
            clock_in("med-1", pb::StaffRole::Physician, false),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.presence_id, first.presence_id);
    team.clock_in(authed(
        &app.admin_token,
        clock_in("tarm-1", pb::StaffRole::Tarm, false),
    ))
    .await
    .unwrap();
    let on_call = team
        .clock_in(authed(
            &app.admin_token,
            clock_in("med-2", pb::StaffRole::Physician, true),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(on_call.reachable_only);

    let on_duty = team
        .on_duty(authed(
            &app.wall_token,
            pb::OnDutyRequest {
                central_id: BH.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .presences;
    assert_eq!(on_duty.len(), 3);

    // The wall shows the team on duty against the minimum of the shift
    // (2.5 million people: 14 to 20 professionals); reachable-only never counts.
    let figures = eventually("the team figure on the wall", || async {
        let (mut wall, _) = tokio_tungstenite::connect_async(format!(
            "ws://{}/ws/wall?token={}&central={BH}",
            app.http_addr, app.wall_token
        ))
        .await
        .ok()?;
        let frame = futures::StreamExt::next(&mut wall).await?.ok()?;
        let frame: serde_json::Value = serde_json::from_str(frame.to_text().ok()?).ok()?;
        let team = frame["indicators"][BH]["team"].clone();
        (team["on_duty"] == 2).then_some(frame["indicators"][BH].clone())
    })
    .await;
    assert!(
        [14, 20].contains(&figures["team"]["minimum"].as_u64().unwrap()),
        "{figures}"
    );
    assert!(
        figures["faltam"]
            .as_str()
            .unwrap()
            .contains("rádio-operador"),
        "{figures}"
    );

    let out = team
        .clock_out(authed(
            &physician,
            pb::ClockOutRequest {
                presence_id: first.presence_id.clone(),
                at: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(out.ended_at.is_some());
    let on_duty = team
        .on_duty(authed(
            &app.wall_token,
            pb::OnDutyRequest {
                central_id: BH.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .presences;
    assert_eq!(on_duty.len(), 2);
    let stored = app
        .store
        .presence(&first.presence_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role, samu_domain::StaffRole::Physician);
    assert!(stored.ended_at.is_some());

    // Bad input and wrong roles.
    let future = ts(chrono::Utc::now() + chrono::TimeDelta::hours(1));
    let status = team
        .clock_in(authed(
            &physician,
            pb::ClockInRequest {
                at: Some(future),
                ..clock_in("med-3", pb::StaffRole::Physician, false)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("at"), "{status}");
    let status = team
        .clock_in(authed(
            &physician,
            clock_in("med-3", pb::StaffRole::Unspecified, false),
        ))
        .await
        .unwrap_err();
    assert!(status.message().starts_with("role"), "{status}");
    let status = team
        .clock_in(authed(
            &physician,
            pb::ClockInRequest {
                central_id: "3170107".into(),
                ..clock_in("med-3", pb::StaffRole::Physician, false)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let before = ts(chrono::Utc::now() - chrono::TimeDelta::hours(2));
    let tarm_presence = team
        .clock_in(authed(
            &app.admin_token,
            clock_in("tarm-1", pb::StaffRole::Tarm, false),
        ))
        .await
        .unwrap()
        .into_inner();
    let status = team
        .clock_out(authed(
            &app.admin_token,
            pb::ClockOutRequest {
                presence_id: tarm_presence.presence_id,
                at: Some(before),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = team
        .clock_out(authed(
            &app.admin_token,
            pb::ClockOutRequest {
                presence_id: "nope".into(),
                at: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = team
        .clock_in(authed(
            &app.wall_token,
            clock_in("x", pb::StaffRole::Tarm, false),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let _ = Role::Wall;
}
