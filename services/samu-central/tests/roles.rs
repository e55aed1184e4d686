//! Walks every cell of the RPC × role table (`docs/roles.md`) against a
//! running server, through both doors where a call has two (gRPC and the
//! HTTP JSON facade): an allowed role is never refused for its role, any
//! other gets PERMISSION_DENIED (HTTP 403). Inputs are deliberately unknown
//! or incomplete, so allowed calls end in NOT_FOUND or INVALID_ARGUMENT
//! without changing anything; authorization always comes first.

mod common;

use common::*;
use samu_proto::v1::{
    self as pb, accounts_client::AccountsClient, regulation_client::RegulationClient,
    team_client::TeamClient,
};
use samu_runtime::access::Rpc;
use samu_store::Role;
use samu_testkit::TestBackend;
use tonic::Code;

/// What a call answered: `Ok`, or the refusal's gRPC code / HTTP status.
#[derive(Debug, PartialEq)]
enum Answer {
    Allowed,
    Denied,
    Unauthenticated,
}

fn grpc<T>(result: Result<T, tonic::Status>) -> Answer {
    match result {
        Err(s) if s.code() == Code::PermissionDenied => Answer::Denied,
        Err(s) if s.code() == Code::Unauthenticated => Answer::Unauthenticated,
        _ => Answer::Allowed,
    }
}

fn http(status: u16) -> Answer {
    match status {
        403 => Answer::Denied,
        401 => Answer::Unauthenticated,
        _ => Answer::Allowed,
    }
}

async fn grpc_probe(app: &TestApp, rpc: Rpc, token: &str) -> Answer {
    let channel = app.channel().await;
    let mut regulation = RegulationClient::new(channel.clone());
    let mut accounts = AccountsClient::new(channel.clone());
    let mut team = TeamClient::new(channel.clone());
    let nope = || pb::OccurrenceRef {
        occurrence_id: "nope".into(),
    };
    match rpc {
        Rpc::TelemetryStream => grpc(app.vehicle(token).await.map(|_| ())),
        Rpc::NearestUnits => grpc(
            app.fleet()
                .await
                .nearest_units(authed(token, pb::NearestUnitsRequest::default()))
                .await,
        ),
        Rpc::GetUnit => grpc(
            app.fleet()
                .await
                .get_unit(authed(
                    token,
                    pb::GetUnitRequest {
                        unit_id: "nope".into(),
                    },
                ))
                .await,
        ),
        Rpc::ListUnits => grpc(
            app.fleet()
                .await
                .list_units(authed(token, pb::ListUnitsRequest::default()))
                .await,
        ),
        Rpc::Admin => grpc(
            app.admin()
                .await
                .upsert_central(authed(token, pb::Central::default()))
                .await,
        ),
        Rpc::ClockInOut => grpc(
            team.clock_out(authed(
                token,
                pb::ClockOutRequest {
                    presence_id: "nope".into(),
                    at: None,
                },
            ))
            .await,
        ),
        Rpc::OnDuty => grpc(
            team.on_duty(authed(
                token,
                pb::OnDutyRequest {
                    central_id: BH.into(),
                },
            ))
            .await,
        ),
        Rpc::Session => grpc(accounts.who_am_i(authed(token, pb::WhoAmIRequest {})).await),
        Rpc::ManageUsers => grpc(
            accounts
                .disable_user(authed(
                    token,
                    pb::DisableUserRequest {
                        user_id: "nope".into(),
                    },
                ))
                .await,
        ),
        Rpc::OpenOccurrence => grpc(
            regulation
                .open_occurrence(authed(token, pb::OpenOccurrenceRequest::default()))
                .await,
        ),
        Rpc::MarkNonCase => grpc(
            regulation
                .mark_non_case(authed(
                    token,
                    pb::MarkNonCaseRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::Regulate => grpc(
            regulation
                .regulate(authed(
                    token,
                    pb::RegulateRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::Recommend => grpc(regulation.recommend(authed(token, nope())).await),
        Rpc::Dispatch => grpc(
            regulation
                .dispatch(authed(
                    token,
                    pb::DispatchRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::RecordUnitStep => grpc(
            regulation
                .record_unit_step(authed(
                    token,
                    pb::UnitStepRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::CorrectTime => grpc(
            regulation
                .correct_time(authed(
                    token,
                    pb::CorrectTimeRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::CloseOccurrence => grpc(
            regulation
                .close_occurrence(authed(
                    token,
                    pb::CloseOccurrenceRequest {
                        occurrence_id: "nope".into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::GetOccurrence => grpc(regulation.get_occurrence(authed(token, nope())).await),
        Rpc::ListOccurrences => grpc(
            regulation
                .list_occurrences(authed(token, pb::ListOccurrencesRequest::default()))
                .await,
        ),
        Rpc::ResponseTimes => grpc(
            regulation
                .response_times(authed(
                    token,
                    pb::ResponseTimesRequest {
                        central_id: BH.into(),
                        ..Default::default()
                    },
                ))
                .await,
        ),
        Rpc::AuditTrail => grpc(regulation.audit_trail(authed(token, nope())).await),
        Rpc::Report => {
            http_probe(app, "GET", &format!("/api/reports/{BH}/2026-11.csv"), token).await
        }
        Rpc::ExportOccurrence => {
            http_probe(app, "GET", "/api/v1/occurrences/nope/export", token).await
        }
        Rpc::WallFeed => {
            let request = http::Request::builder()
                .uri(format!("ws://{}/ws/wall", app.http_addr))
                .header("authorization", format!("Bearer {token}"))
                .header("host", app.http_addr.to_string())
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .body(())
                .unwrap();
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => Answer::Allowed,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => http(r.status().as_u16()),
                Err(e) => panic!("wall connect: {e}"),
            }
        }
    }
}

async fn http_probe(app: &TestApp, method: &str, path: &str, token: &str) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.http_url);
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&serde_json::json!({})),
    };
    http(
        request
            .bearer_auth(token)
            .send()
            .await
            .expect("HTTP answer")
            .status()
            .as_u16(),
    )
}

/// The HTTP facade's route for a regulation call, if it has one.
fn http_route(rpc: Rpc) -> Option<(&'static str, String)> {
    let o = "/api/v1/occurrences/nope";
    Some(match rpc {
        Rpc::Session => ("GET", "/api/v1/session".into()),
        Rpc::OpenOccurrence => ("POST", "/api/v1/occurrences".into()),
        Rpc::MarkNonCase => ("POST", format!("{o}/non-case")),
        Rpc::Regulate => ("POST", format!("{o}/regulation")),
        Rpc::Recommend => ("GET", format!("{o}/recommendation")),
        Rpc::Dispatch => ("POST", format!("{o}/dispatch")),
        Rpc::RecordUnitStep => ("POST", format!("{o}/units/bh-usa-01/steps")),
        Rpc::CorrectTime => ("POST", format!("{o}/corrections")),
        Rpc::CloseOccurrence => ("POST", format!("{o}/close")),
        Rpc::GetOccurrence => ("GET", o.into()),
        Rpc::ListOccurrences => ("GET", "/api/v1/occurrences".into()),
        Rpc::ResponseTimes => ("GET", format!("/api/v1/centrals/{BH}/response-times")),
        Rpc::AuditTrail => ("GET", format!("{o}/audit")),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_role_table_holds_through_both_doors() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    app.seed_central().await;
    let device = app.add_unit("bh-usa-01", pb::UnitType::Usa).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = match role {
            Role::Device => device.clone(),
            Role::Admin => app.admin_token.clone(),
            Role::Wall => app.wall_token.clone(),
            person => app.login_as(person, &format!("user.{person}")).await,
        };
        tokens.push((role, token));
    }
    let mut wrong = Vec::new();
    for rpc in Rpc::ALL {
        for (role, token) in &tokens {
            let expected = if rpc.allows(*role) {
                Answer::Allowed
            } else {
                Answer::Denied
            };
            let got = grpc_probe(&app, rpc, token).await;
            if got != expected {
                wrong.push(format!(
                    "{rpc:?} as {role}: expected {expected:?}, got {got:?}"
                ));
            }
            if let Some((method, path)) = http_route(rpc) {
                let got = http_probe(&app, method, &path, token).await;
                if got != expected {
                    wrong.push(format!(
                        "HTTP {method} {path} as {role}: expected {expected:?}, got {got:?}"
                    ));
                }
            }
        }
        // No token at all is never let in.
        let none = grpc_probe(&app, rpc, "").await;
        if none != Answer::Unauthenticated {
            wrong.push(format!("{rpc:?} without a token: {none:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the table does not hold:\n{}",
        wrong.join("\n")
    );
}
