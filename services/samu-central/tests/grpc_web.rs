//! Browsers reach the gRPC services through gRPC-Web (tonic-web) on the gRPC
//! port, over plain HTTP/1.1: the regulation queue answered to a
//! `application/grpc-web+proto` POST, roles checked as over gRPC.

mod common;

use common::*;
use prost::Message;
use samu_proto::v1 as pb;
use samu_store::Role;
use samu_testkit::TestBackend;

/// One gRPC-Web data frame: flag 0, big-endian length, message.
fn frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// (HTTP status, body, `grpc-status` header when the answer is trailers-only).
async fn call(app: &TestApp, token: &str) -> (u16, Vec<u8>, Option<String>) {
    let response = reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .post(format!(
            "{}/samu.v1.Regulation/ListOccurrences",
            app.grpc_url
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .bearer_auth(token)
        .body(frame(&pb::ListOccurrencesRequest {
            central_id: BH.into(),
        }))
        .send()
        .await
        .expect("an HTTP/1.1 answer");
    let status = response.status().as_u16();
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.bytes().await.unwrap().to_vec(),
        grpc_status,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_lists_the_queue_over_grpc_web() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    app.seed_central().await;
    let physician = app.login_as(Role::Physician, "medico.web").await;
    let (status, body, _) = call(&app, &physician).await;
    assert_eq!(status, 200);
    // A data frame with the (empty) list, then the trailers frame saying OK.
    assert_eq!(body[0], 0, "data frame first");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let list = pb::ListOccurrencesResponse::decode(&body[5..5 + len]).unwrap();
    assert!(list.occurrences.is_empty());
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]).to_ascii_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // The wall role is refused here as over native gRPC.
    let (_, body, header) = call(&app, &app.wall_token).await;
    let text = String::from_utf8_lossy(&body).to_ascii_lowercase();
    assert!(
        header.as_deref() == Some("7") || text.contains("grpc-status:7"),
        "PERMISSION_DENIED expected: {header:?} {text}"
    );
}
