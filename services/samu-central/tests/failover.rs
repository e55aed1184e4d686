//! Instance failover: two instances share the store and Redis; a vehicle
//! app that knows both addresses streams to one, which stops mid-stream; the
//! app reconnects to the other and resends what was not acknowledged.
//! Nothing acknowledged is lost, nothing is stored twice, and the survivor
//! owns the unit from then on (its signal, its history).

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::*;
use samu_demo::link::VehicleLink;
use samu_proto::v1::{self as pb, vehicle_report::Body};
use samu_testkit::TestBackend;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_moves_to_the_other_instance_when_its_own_stops() {
    let channel_name = test_channel();
    let tweak = |c: &mut samu_central::config::Config| {
        c.redis_url = Some(samu_testkit::redis_url());
        c.fanout.channel = channel_name.clone();
        // Keep every fix, so the stored track can be counted.
        c.fleet.track.min_interval_s = 0;
        c.fleet.track.min_distance_m = 0.0;
        c.runtime.credential_refresh_s = 1;
    };
    let mut a = TestApp::spawn_with(TestBackend::Postgres, tweak).await;
    let b = a.peer(tweak).await;
    a.seed_central().await;
    let token = a.add_unit("bh-usb-01", pb::UnitType::Usb).await;
    // A token issued on A is valid on B after B's next credential refresh.
    eventually("B knows the device token", || async {
        b.central.authenticate(&token).ok().map(|_| ())
    })
    .await;

    // The app is given A's address first and B's as the fallback.
    let endpoints = [&a.grpc_url, &b.grpc_url].map(|url| {
        Endpoint::from_shared(url.clone())
            .unwrap()
            .connect_timeout(Duration::from_millis(500))
    });
    let [first, second] = endpoints;
    let channel = first.connect_lazy();
    let fallback = second.connect_lazy();
    let shutdown = CancellationToken::new();
    let (link, handle) = VehicleLink::spawn_with_window(
        channel,
        "bh-usb-01".into(),
        token.clone(),
        1,
        16,
        shutdown.clone(),
    );
    let stats = link.stats().clone();
    const N: u64 = 300;
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(N as i64 + 30);
    let fix = move |i: u64| {
        let at = start + chrono::TimeDelta::seconds(i as i64);
        Body::Position(pb::Position {
            fix_time: Some(ts(at)),
            latitude: -19.92 - 0.00001 * i as f64,
            longitude: -43.94,
            speed_mps: Some(1.0),
            heading_deg: Some(180.0),
            accuracy_m: Some(5.0),
        })
    };
    for i in 0..N / 3 {
        assert!(link.send(fix(i)).await);
    }
    eventually("A acknowledged the first third", || async {
        (stats.acked.load(Ordering::Relaxed) >= N / 3).then_some(())
    })
    .await;
    assert!(a.central.with_fleet(|f| f
        .unit(&unit_id())
        .is_some_and(|u| !u.is_remote() && u.last_seq() > 0)));

    // A stops. The app's first address is gone: like an app with a list of
    // addresses, it moves on to the next (here: a new link over B's address,
    // numbering on from where the first one got, resending what was not
    // acknowledged).
    a.stop().await;
    shutdown.cancel();
    let _ = handle.await;
    let acked_on_a = stats.acked.load(Ordering::Relaxed);
    let shutdown_b = CancellationToken::new();
    let (link_b, handle_b) = VehicleLink::spawn_with_window(
        fallback,
        "bh-usb-01".into(),
        token,
        acked_on_a + 1,
        16,
        shutdown_b.clone(),
    );
    for i in acked_on_a..N {
        assert!(link_b.send(fix(i)).await);
    }
    let stats_b = link_b.stats().clone();
    eventually("B acknowledged the rest", || async {
        (stats_b.acked.load(Ordering::Relaxed) >= N - acked_on_a).then_some(())
    })
    .await;
    assert_eq!(stats_b.rejected.load(Ordering::Relaxed), 0);

    // The survivor owns the unit now, and the store holds every fix once.
    assert!(b
        .central
        .with_fleet(|f| f.unit(&unit_id()).is_some_and(|u| !u.is_remote())));
    let state = b.unit_state("bh-usb-01").await;
    assert!((state.position.unwrap().latitude - (-19.92 - 0.00001 * (N - 1) as f64)).abs() < 1e-9);
    let track = eventually("every fix stored", || async {
        let t = b.store.track(&unit_id()).await.ok()?;
        (t.len() as u64 >= N).then_some(t)
    })
    .await;
    let seqs: Vec<u64> = track.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (1..=N).collect::<Vec<_>>(),
        "nothing lost, nothing twice"
    );
    shutdown_b.cancel();
    let _ = handle_b.await;
}

fn unit_id() -> samu_domain::UnitId {
    samu_domain::UnitId::parse("unit", "bh-usb-01").unwrap()
}

/// Credentials issued and revoked on one instance reach the other through
/// its refresh, which reads only what changed (with a full read far off):
/// a new token becomes valid there, a revoked one invalid, and a stream
/// open there with it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_and_revoked_on_one_instance_reach_the_other() {
    let tweak = |c: &mut samu_central::config::Config| {
        c.runtime.credential_refresh_s = 1;
        c.runtime.credential_full_refresh_s = 3600;
    };
    let a = TestApp::spawn_with(TestBackend::Postgres, tweak).await;
    a.seed_central().await;
    a.add_unit("bh-usb-01", pb::UnitType::Usb).await;
    // B starts after the unit exists (it loads it from the store), before
    // the token is issued.
    let b = a.peer(tweak).await;
    let issued = a
        .admin()
        .await
        .issue_device_token(authed(
            &a.admin_token,
            pb::IssueDeviceTokenRequest {
                unit_id: "bh-usb-01".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    eventually("B knows the token issued on A", || async {
        b.central.authenticate(&issued.token).ok().map(|_| ())
    })
    .await;
    let mut vehicle = b.vehicle(&issued.token).await.unwrap();
    vehicle
        .report("bh-usb-01", 1, position(-19.92, -43.94))
        .await;

    a.admin()
        .await
        .revoke_token(authed(
            &a.admin_token,
            pb::RevokeTokenRequest {
                token_id: issued.token_id,
            },
        ))
        .await
        .unwrap();
    eventually("B refuses the token revoked on A", || async {
        b.central.authenticate(&issued.token).is_err().then_some(())
    })
    .await;
    // The stream open on B with it ends by itself.
    let status = loop {
        match vehicle.reply().await {
            Ok(_) => continue,
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
}
