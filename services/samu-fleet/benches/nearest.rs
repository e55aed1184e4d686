//! Benchmarks of the fleet state's hot paths (see `BENCHMARKS.md` at the repo root).
//!
//! - `nearest_usa_k5`: the 5 nearest dispatchable USA units to a random point
//!   of Minas Gerais, for fleets of 1 000, 10 000 and 100 000 units. `rtree`
//!   is [`FleetState::nearest`]; `linear_scan` is its peer, a brute-force
//!   haversine scan over the same dispatchable USA units keeping the 5
//!   smallest, measured in the same run so the ratio means something.
//! - `apply_position`: one GPS fix applied to a unit of a 10 000-unit fleet
//!   (the ingest hot path), units moving a few metres per fix.
//!
//! Fleets are generated from a fixed seed: about 70% USB, 20% USA, 10% MOTO,
//! about 80% dispatchable, the rest out of service or with an incomplete crew,
//! spread over ~50 centrals.
//!
//! Run with `cargo bench -p samu-fleet --bench nearest`.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{criterion_main, BatchSize, BenchmarkId, Criterion};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, OutOfServiceReason, UnitId, UnitStatus,
    UnitType,
};
use samu_fleet::{
    CrewStatusReport, Fix, FleetConfig, FleetState, NearestQuery, PositionKind, PositionOutcome,
    UnitRecord,
};

/// Minas Gerais, roughly: latitude and longitude ranges in degrees.
const LAT: (f64, f64) = (-22.9, -14.2);
const LON: (f64, f64) = (-51.0, -39.9);
/// Number of centrals the units belong to.
const CENTRALS: usize = 50;
/// Fleet sizes of the nearest-unit benchmark.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Fleet size of the ingest benchmark.
const INGEST_FLEET: usize = 10_000;
/// Units asked for.
const K: usize = 5;
/// Pre-generated query points, cycled.
const QUERIES: usize = 1024;
/// Queries checked for agreement between the R-tree and the scan.
const CHECKED: usize = 128;
/// Seed of every generator.
const SEED: u64 = 192;
/// Metres each unit moves per fix in the ingest benchmark.
const STEP_M: f64 = 5.0;
/// Metres per degree of latitude (mean Earth radius).
const M_PER_DEG: f64 = 111_195.0;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new("point", lat, lon).expect("coordinates in range")
}

fn random_point(rng: &mut StdRng) -> GeoPoint {
    point(
        rng.random_range(LAT.0..LAT.1),
        rng.random_range(LON.0..LON.1),
    )
}

fn fix(at: DateTime<Utc>, point: GeoPoint) -> Fix {
    Fix {
        at,
        point,
        speed_mps: None,
        heading_deg: None,
        accuracy_m: None,
    }
}

/// A crew meeting the default minimum of the type.
fn full_crew(unit: usize, unit_type: UnitType) -> Vec<CrewMember> {
    use CrewRole::*;
    let roles: &[CrewRole] = match unit_type {
        UnitType::Usb => &[Driver, NursingTechnician],
        UnitType::Usa => &[Driver, Nurse, Physician],
        UnitType::Moto => &[NursingTechnician],
        UnitType::Vir => &[Driver, Physician, Nurse],
        UnitType::Aero => &[Physician, Nurse],
        UnitType::Emb => &[Pilot, Nurse],
    };
    roles
        .iter()
        .enumerate()
        .map(|(k, &role)| CrewMember {
            id: MemberId::parse("member_id", &format!("m{unit}-{k}")).expect("valid member id"),
            role,
        })
        .collect()
}

/// A fleet of `n` units over Minas Gerais, and their ids in registration order.
fn build_fleet(n: usize, seed: u64) -> (FleetState, Vec<UnitId>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let centrals: Vec<CentralId> = (0..CENTRALS)
        .map(|c| CentralId::parse("central_id", &format!("31{c:05}")).expect("valid IBGE code"))
        .collect();
    let now = t0();
    let mut fleet = FleetState::new(FleetConfig::default());
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = UnitId::parse("unit_id", &format!("u{i:06}")).expect("valid unit id");
        let unit_type = match rng.random::<f64>() {
            r if r < 0.7 => UnitType::Usb,
            r if r < 0.9 => UnitType::Usa,
            _ => UnitType::Moto,
        };
        fleet.upsert_unit(
            UnitRecord {
                id: id.clone(),
                central: centrals[rng.random_range(0..CENTRALS)].clone(),
                unit_type,
                base: None,
                label: format!("{unit_type} {i}"),
            },
            now,
        );
        fleet
            .apply_position(&id, 1, fix(now, random_point(&mut rng)), now)
            .expect("first fix applies");
        // ~80% ready, ~10% out of service, ~10% available with a crew short of one.
        let mut crew = full_crew(i, unit_type);
        let status = match rng.random::<f64>() {
            r if r < 0.8 => UnitStatus::AvailableAtBase,
            r if r < 0.9 => UnitStatus::OutOfService,
            _ => {
                crew.pop();
                UnitStatus::AvailableAtBase
            }
        };
        let report = CrewStatusReport {
            reported_at: now,
            status,
            out_of_service_reason: (status == UnitStatus::OutOfService)
                .then_some(OutOfServiceReason::Maintenance),
            crew,
        };
        fleet
            .apply_crew_status(&id, 2, report, now)
            .expect("crew report applies");
        ids.push(id);
    }
    (fleet, ids)
}

/// The linear-scan peer's data: positions and ids of the dispatchable units of
/// a type, in separate arrays so the scan reads only positions. This is the
/// best case for a scan (already filtered, contiguous), so the ratio to the
/// R-tree is, if anything, understated.
struct Candidates {
    points: Vec<GeoPoint>,
    ids: Vec<UnitId>,
}

fn dispatchable_of(fleet: &FleetState, unit_type: UnitType) -> Candidates {
    let (points, ids) = fleet
        .units()
        .filter(|u| u.record.unit_type == unit_type && u.is_dispatchable())
        .map(|u| {
            (
                u.fix.expect("dispatchable units have a fix").point,
                u.record.id.clone(),
            )
        })
        .unzip();
    Candidates { points, ids }
}

/// The `K` closest points to `target` by haversine distance, closest first,
/// as (metres, index into `points`): one pass keeping a sorted top-K.
fn linear_scan(points: &[GeoPoint], target: GeoPoint) -> [(f64, usize); K] {
    let mut best = [(f64::INFINITY, usize::MAX); K];
    for (i, &p) in points.iter().enumerate() {
        let d = target.distance_m(p);
        if d < best[K - 1].0 {
            let mut j = K - 1;
            while j > 0 && best[j - 1].0 > d {
                best[j] = best[j - 1];
                j -= 1;
            }
            best[j] = (d, i);
        }
    }
    best
}

fn query(point: GeoPoint) -> NearestQuery<'static> {
    NearestQuery {
        point,
        types: &[UnitType::Usa],
        limit: K,
        central: None,
    }
}

/// Both methods must give the same units at the same distances, or the
/// comparison is meaningless.
fn check_agreement(fleet: &FleetState, usa: &Candidates, queries: &[GeoPoint]) {
    for &q in &queries[..CHECKED] {
        let tree = fleet.nearest(&query(q));
        let scan = linear_scan(&usa.points, q);
        assert_eq!(tree.len(), K, "fewer than {K} dispatchable USA units");
        for (t, &(d, i)) in tree.iter().zip(&scan) {
            assert_eq!(
                t.unit.record.id, usa.ids[i],
                "R-tree and scan disagree at {q:?}"
            );
            assert!((t.distance_m - d).abs() < 0.01, "{} vs {d} m", t.distance_m);
        }
    }
}

fn bench_nearest(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let queries: Vec<GeoPoint> = (0..QUERIES).map(|_| random_point(&mut rng)).collect();

    let mut group = c.benchmark_group("nearest_usa_k5");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let (fleet, _) = build_fleet(n, SEED ^ n as u64);
        let usa = dispatchable_of(&fleet, UnitType::Usa);
        let dispatchable = fleet.units().filter(|u| u.is_dispatchable()).count();
        eprintln!(
            "fleet of {n}: {dispatchable} dispatchable, {} of them USA",
            usa.points.len()
        );
        check_agreement(&fleet, &usa, &queries);

        group.bench_function(BenchmarkId::new("rtree", n), |b| {
            let mut q = 0usize;
            b.iter(|| {
                let point = queries[q % QUERIES];
                q += 1;
                fleet.nearest(&query(black_box(point)))
            });
        });
        group.bench_function(BenchmarkId::new("linear_scan", n), |b| {
            let mut q = 0usize;
            b.iter(|| {
                let point = queries[q % QUERIES];
                q += 1;
                linear_scan(&usa.points, black_box(point))
            });
        });
    }
    group.finish();
}

/// Queries for one central's units at 10 000 units over the 50 centrals,
/// beside the same query for the whole state: a central that has them
/// (its own tree is walked, not the state's filtered), and one that has
/// none, which finds no tree to walk.
fn bench_nearest_of_central(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let queries: Vec<GeoPoint> = (0..QUERIES).map(|_| random_point(&mut rng)).collect();
    let (fleet, _) = build_fleet(10_000, SEED ^ 10_000);
    let with_units = CentralId::parse("central_id", "3100000").expect("valid IBGE code");
    let without = CentralId::parse("central_id", "3199999").expect("valid IBGE code");
    assert!(fleet.dispatchable_count(&with_units, UnitType::Usa) >= K);
    assert_eq!(fleet.dispatchable_count(&without, UnitType::Usa), 0);
    let mut group = c.benchmark_group("nearest_of_central_usa_k5");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, central) in [
        ("whole_state", None),
        ("central_with_units", Some(&with_units)),
        ("central_without", Some(&without)),
    ] {
        group.bench_function(BenchmarkId::new(name, 10_000), |b| {
            let mut q = 0usize;
            b.iter(|| {
                let point = queries[q % QUERIES];
                q += 1;
                fleet.nearest(&NearestQuery {
                    central,
                    ..query(black_box(point))
                })
            });
        });
    }
    group.finish();
}

/// Per-query timings at 10 000 units, for the p99 the load-test table asks
/// for (criterion reports the distribution of sample means, not of single
/// queries). Each query is timed on its own with `Instant`, whose ~25 ns
/// cost is included; the scan, its peer, is timed the same way.
fn nearest_percentiles() {
    const N: usize = 10_000;
    const ROUNDS: usize = 200_000;
    let (fleet, _) = build_fleet(N, SEED ^ N as u64);
    let usa = dispatchable_of(&fleet, UnitType::Usa);
    let mut rng = StdRng::seed_from_u64(SEED + 7);
    let queries: Vec<GeoPoint> = (0..QUERIES).map(|_| random_point(&mut rng)).collect();
    let time = |rounds: usize, run: &dyn Fn(GeoPoint)| -> Vec<u64> {
        let mut ns: Vec<u64> = (0..rounds)
            .map(|i| {
                let point = queries[i % QUERIES];
                let start = std::time::Instant::now();
                run(black_box(point));
                u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
            })
            .collect();
        ns.sort_unstable();
        ns
    };
    let at = |ns: &[u64], q: f64| {
        ns[((ns.len() as f64 * q).ceil() as usize).clamp(1, ns.len()) - 1] as f64 / 1000.0
    };
    let rtree = time(ROUNDS, &|p| {
        black_box(fleet.nearest(&query(p)));
    });
    let scan = time(ROUNDS / 10, &|p| {
        black_box(linear_scan(&usa.points, p));
    });
    for (name, ns) in [("rtree", &rtree), ("linear_scan", &scan)] {
        println!(
            "nearest_usa_k5/{name}/{N} per query: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs ({} queries)",
            at(ns, 0.5),
            at(ns, 0.99),
            at(ns, 0.999),
            ns.len()
        );
    }
}

/// A unit's walk in the ingest benchmark.
struct Walker {
    lat: f64,
    lon: f64,
    dlat: f64,
    dlon: f64,
    next_seq: u64,
}

fn bench_apply_position(c: &mut Criterion) {
    let (mut fleet, ids) = build_fleet(INGEST_FLEET, SEED ^ INGEST_FLEET as u64);
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let mut walkers: Vec<Walker> = ids
        .iter()
        .map(|id| {
            let at = fleet
                .unit(id)
                .and_then(|u| u.fix)
                .expect("every unit has a fix")
                .point;
            let heading = rng.random_range(0.0..std::f64::consts::TAU);
            Walker {
                lat: at.lat(),
                lon: at.lon(),
                dlat: STEP_M * heading.cos() / M_PER_DEG,
                dlon: STEP_M * heading.sin() / (M_PER_DEG * at.lat().to_radians().cos()),
                next_seq: 3,
            }
        })
        .collect();
    // Units report in turn, one fix per millisecond overall: each unit moves
    // STEP_M every INGEST_FLEET ms (10 s), a plausible speed, so every fix is
    // trusted and moves the unit in its tree when it is dispatchable.
    let mut now = t0();
    let mut turn = 0usize;
    let mut next_fix = move || {
        now += TimeDelta::milliseconds(1);
        let slot = turn;
        turn = (turn + 1) % INGEST_FLEET;
        let w = &mut walkers[slot];
        w.lat += w.dlat;
        w.lon += w.dlon;
        let seq = w.next_seq;
        w.next_seq += 1;
        (slot, seq, fix(now, point(w.lat, w.lon)), now)
    };
    // One full round outside the measurement, checking every fix is trusted.
    for _ in 0..INGEST_FLEET {
        let (slot, seq, f, now) = next_fix();
        let outcome = fleet.apply_position(&ids[slot], seq, f, now);
        assert!(
            matches!(
                outcome,
                Ok(PositionOutcome::Taken {
                    kind: PositionKind::Applied,
                    ..
                })
            ),
            "{outcome:?}"
        );
    }

    let mut group = c.benchmark_group("apply_position");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function(BenchmarkId::new("fleet", INGEST_FLEET), |b| {
        b.iter_batched(
            &mut next_fix,
            |(slot, seq, f, now)| fleet.apply_position(&ids[slot], seq, f, now),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Every benchmark of this file. Written out rather than through
/// `criterion_group!`, whose generated `pub fn` trips the `missing_docs` lint.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_nearest(&mut criterion);
    bench_nearest_of_central(&mut criterion);
    nearest_percentiles();
    bench_apply_position(&mut criterion);
}

criterion_main!(benches);
