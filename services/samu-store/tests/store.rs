//! The store against real databases: SQLite and PostgreSQL, same tests.

use chrono::{TimeDelta, TimeZone, Utc};
use samu_domain::{
    BaseId, CentralId, CrewMember, CrewRole, GeoPoint, MemberId, UnitId, UnitStatus, UnitType,
};
use samu_fleet::{
    CrewStatusOutcome, CrewStatusReport, Fix, FleetConfig, FleetState, PositionKind,
    PositionOutcome, UnitRecord,
};
use samu_store::{BaseRow, CentralRow, PositionRow, Role, Store, UnitRow, WriteBatch};
use samu_testkit::{backend_tests, TestBackend};

backend_tests! {
    registry_round_trips => registry_round_trips;
    batches_are_idempotent_and_restore_the_fleet => batches_are_idempotent_and_restore_the_fleet;
    credentials_issue_and_revoke => credentials_issue_and_revoke;
    the_track_keeps_every_field_and_a_partly_stored_batch_completes =>
        the_track_keeps_every_field_and_a_partly_stored_batch_completes;
}

async fn store(backend: TestBackend) -> (Store, samu_testkit::TestDatabase) {
    let db = backend.fresh().await;
    let store = Store::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    // Migrating twice is a no-op.
    store.migrate().await.expect("migrate again");
    (store, db)
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

async fn seed(store: &Store) -> UnitRecord {
    let central = CentralId::parse("c", "3106200").unwrap();
    store
        .upsert_central(
            &CentralRow {
                id: central.clone(),
                name: "SAMU BH".into(),
                time_zone: "America/Sao_Paulo".into(),
                population: 2_523_794,
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .upsert_base(&BaseRow {
            id: BaseId::parse("b", "bh-centro").unwrap(),
            central: central.clone(),
            name: "Base Centro".into(),
            location: GeoPoint::new("", -19.92, -43.94).unwrap(),
        })
        .await
        .unwrap();
    let record = UnitRecord {
        id: UnitId::parse("u", "bh-usa-01").unwrap(),
        central,
        unit_type: UnitType::Usa,
        base: Some(BaseId::parse("b", "bh-centro").unwrap()),
        label: "USA 01".into(),
    };
    store
        .upsert_unit(&UnitRow {
            record: record.clone(),
            habilitated_from: t0(),
            retired_at: None,
        })
        .await
        .unwrap();
    record
}

async fn registry_round_trips(backend: TestBackend) {
    let (store, _db) = store(backend).await;
    let record = seed(&store).await;
    let unit = store.unit(&record.id).await.unwrap().unwrap();
    assert_eq!(unit.record, record);
    assert_eq!(unit.habilitated_from, t0());
    let centrals = store.centrals().await.unwrap();
    assert_eq!(centrals.len(), 1);
    assert_eq!(centrals[0].population, 2_523_794);
    // Updating keeps one row.
    let mut renamed = unit.clone();
    renamed.record.label = "USA 1".into();
    store.upsert_unit(&renamed).await.unwrap();
    assert_eq!(store.units().await.unwrap(), vec![renamed.clone()]);
    // The central's first habilitation is its earliest unit's.
    let mut earlier = renamed;
    earlier.record.id = UnitId::parse("u", "bh-usb-02").unwrap();
    earlier.habilitated_from = t0() - TimeDelta::days(40);
    store.upsert_unit(&earlier).await.unwrap();
    assert_eq!(
        store.first_habilitation(&record.central).await.unwrap(),
        Some(t0() - TimeDelta::days(40))
    );
    let empty = CentralId::parse("c", "3170107").unwrap();
    assert_eq!(store.first_habilitation(&empty).await.unwrap(), None);
    // A unit of an unknown central is refused by the database.
    let mut orphan = unit;
    orphan.record.id = UnitId::parse("u", "orphan").unwrap();
    orphan.record.central = CentralId::parse("c", "3170107").unwrap();
    assert!(store.upsert_unit(&orphan).await.is_err());
    store.ping().await.unwrap();
}

async fn batches_are_idempotent_and_restore_the_fleet(backend: TestBackend) {
    let (store, _db) = store(backend).await;
    let record = seed(&store).await;
    let id = record.id.clone();
    let mut fleet = FleetState::new(FleetConfig::default());
    fleet.upsert_unit(record.clone(), t0());

    let mut batch = WriteBatch::default();
    let fix = Fix {
        at: t0(),
        point: GeoPoint::new("", -19.92, -43.94).unwrap(),
        speed_mps: Some(0.0),
        heading_deg: None,
        accuracy_m: Some(5.0),
    };
    let PositionOutcome::Taken {
        status_change,
        keep_in_track: true,
        ..
    } = fleet.apply_position(&id, 1, fix, t0()).unwrap()
    else {
        panic!()
    };
    batch.positions.push(PositionRow {
        unit: id.clone(),
        seq: 1,
        fix,
        kind: PositionKind::Applied,
    });
    batch.status_events.extend(status_change);
    let crew: Vec<CrewMember> = [CrewRole::Driver, CrewRole::Nurse, CrewRole::Physician]
        .into_iter()
        .enumerate()
        .map(|(i, role)| CrewMember {
            id: MemberId::parse("m", &format!("m{i}")).unwrap(),
            role,
        })
        .collect();
    let report = CrewStatusReport {
        reported_at: t0() + TimeDelta::seconds(1),
        status: UnitStatus::AvailableAtBase,
        out_of_service_reason: None,
        crew,
    };
    let CrewStatusOutcome::Applied {
        status_change,
        crew_change,
    } = fleet.apply_crew_status(&id, 2, report, t0()).unwrap()
    else {
        panic!()
    };
    batch.status_events.extend(status_change);
    batch
        .crew_changes
        .extend(crew_change.map(|c| (id.clone(), c)));
    batch
        .live_states
        .insert(id.clone(), fleet.unit(&id).unwrap().snapshot());

    store.write_batch(&batch, t0()).await.unwrap();
    // A retried batch stores nothing twice.
    store.write_batch(&batch, t0()).await.unwrap();

    assert_eq!(store.track(&id).await.unwrap().len(), 1);
    assert_eq!(store.track(&id).await.unwrap()[0].fix, fix);
    let history = store.status_history(&id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| (e.event_no, e.status))
            .collect::<Vec<_>>(),
        [
            (1, UnitStatus::OutOfService),
            (2, UnitStatus::AvailableAtBase)
        ]
    );
    assert_eq!(store.crew_shifts(&id).await.unwrap().len(), 3);

    // A crew member leaves: the shift is closed.
    let mut second = WriteBatch::default();
    let report = CrewStatusReport {
        reported_at: t0() + TimeDelta::seconds(60),
        status: UnitStatus::AvailableAtBase,
        out_of_service_reason: None,
        crew: fleet.unit(&id).unwrap().crew[..2].to_vec(),
    };
    let CrewStatusOutcome::Applied {
        status_change,
        crew_change,
    } = fleet.apply_crew_status(&id, 3, report, t0()).unwrap()
    else {
        panic!()
    };
    second.status_events.extend(status_change);
    second
        .crew_changes
        .extend(crew_change.map(|c| (id.clone(), c)));
    second
        .live_states
        .insert(id.clone(), fleet.unit(&id).unwrap().snapshot());
    store.write_batch(&second, t0()).await.unwrap();
    let shifts = store.crew_shifts(&id).await.unwrap();
    assert_eq!(shifts.iter().filter(|s| s.3.is_some()).count(), 1);
    assert!(
        !store
            .status_history(&id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .crew_complete
    );

    // Restore: the same live state comes back.
    let loaded = store.load_fleet(t0()).await.unwrap();
    assert_eq!(loaded.len(), 1);
    let (loaded_record, snapshot) = &loaded[0];
    assert_eq!(loaded_record, &record);
    assert_eq!(
        snapshot.as_ref().unwrap(),
        &fleet.unit(&id).unwrap().snapshot()
    );
}

async fn credentials_issue_and_revoke(backend: TestBackend) {
    let (store, _db) = store(backend).await;
    let record = seed(&store).await;
    let device = store
        .issue_credential(Role::Device, Some(&record.id), "app", None, t0())
        .await
        .unwrap();
    let wall = store
        .issue_credential(
            Role::Wall,
            None,
            "wall",
            Some(t0() + TimeDelta::hours(1)),
            t0(),
        )
        .await
        .unwrap();
    assert_ne!(device.token, wall.token);
    assert!(device.token.starts_with("samu_") && device.token.len() == 69);
    let active = store.active_credentials(t0()).await.unwrap();
    assert_eq!(active.len(), 2);
    let (hash, stored) = active.iter().find(|(_, c)| c.role == Role::Device).unwrap();
    assert_eq!(hash, &samu_store::credentials::token_hash(&device.token));
    assert_eq!(stored.unit.as_ref(), Some(&record.id));
    assert!(
        !active.iter().any(|(h, _)| h == &device.token),
        "never the secret"
    );
    let (_, stored_wall) = active.iter().find(|(_, c)| c.role == Role::Wall).unwrap();
    assert!(stored_wall.is_valid_at(t0()));
    assert!(!stored_wall.is_valid_at(t0() + TimeDelta::hours(2)));
    // Expired credentials are not active: only the device's is, later.
    let later = store
        .active_credentials(t0() + TimeDelta::hours(2))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].1.id, device.credential.id);

    // What changed since a moment: created then, or revoked then.
    let since = t0() + TimeDelta::minutes(10);
    assert!(store
        .credentials_changed_since(since)
        .await
        .unwrap()
        .is_empty());
    let session = store
        .issue_credential(Role::Wall, None, "wall 2", None, since)
        .await
        .unwrap();
    assert!(store
        .revoke_credential(&device.credential.id, since + TimeDelta::seconds(1))
        .await
        .unwrap());
    let mut changed = store.credentials_changed_since(since).await.unwrap();
    changed.sort_by(|a, b| a.1.label.cmp(&b.1.label));
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0].1.id, device.credential.id);
    assert_eq!(
        changed[0].1.revoked_at,
        Some(since + TimeDelta::seconds(1)),
        "a revocation comes with its time"
    );
    assert_eq!(changed[1].1.id, session.credential.id);
    assert_eq!(changed[1].1.revoked_at, None);
    assert_eq!(
        changed[1].0,
        samu_store::credentials::token_hash(&session.token)
    );
    assert!(store
        .credentials_changed_since(since + TimeDelta::seconds(2))
        .await
        .unwrap()
        .is_empty());

    assert!(!store.revoke_credential("no-such-id", t0()).await.unwrap());
    assert_eq!(store.active_credentials(t0()).await.unwrap().len(), 2);
}

backend_tests! {
    nulls_and_values_alternate_in_the_same_statement => nulls_and_values_alternate_in_the_same_statement;
}

/// A unit with no fix yet (NULL coordinates) and, in the next batch of the
/// same shape, a unit with one: the same SQL text with other parameter
/// types must still write (found by the 10 000-vehicle load run).
async fn nulls_and_values_alternate_in_the_same_statement(backend: TestBackend) {
    let (store, _db) = store(backend).await;
    let record = seed(&store).await;
    let mut fleet = FleetState::new(FleetConfig::default());
    fleet.upsert_unit(record.clone(), t0());
    let id = record.id.clone();
    let mut without_fix = WriteBatch::default();
    without_fix
        .live_states
        .insert(id.clone(), fleet.unit(&id).unwrap().snapshot());
    store.write_batch(&without_fix, t0()).await.unwrap();
    let fix = Fix {
        at: t0(),
        point: GeoPoint::new("", -19.92, -43.94).unwrap(),
        speed_mps: Some(1.0),
        heading_deg: Some(2.0),
        accuracy_m: Some(3.0),
    };
    fleet.apply_position(&id, 1, fix, t0()).unwrap();
    let mut with_fix = WriteBatch::default();
    with_fix
        .live_states
        .insert(id.clone(), fleet.unit(&id).unwrap().snapshot());
    for _ in 0..3 {
        store.write_batch(&with_fix, t0()).await.unwrap();
        store.write_batch(&without_fix, t0()).await.unwrap();
    }
}

/// Track rows `seqs` of `unit`, their optional fields set or not by seq,
/// their fixes told apart by `lat_offset`.
fn track_rows(
    unit: &UnitId,
    seqs: std::ops::RangeInclusive<u64>,
    lat_offset: f64,
) -> Vec<PositionRow> {
    seqs.map(|seq| {
        let n = seq as f64;
        PositionRow {
            unit: unit.clone(),
            seq,
            fix: Fix {
                at: t0() + TimeDelta::milliseconds(i64::try_from(seq).unwrap() * 1_000 + 7),
                point: GeoPoint::new("", -19.9 - n / 1e4 - lat_offset, -43.9 + n / 1e4).unwrap(),
                speed_mps: (seq % 2 == 0).then_some(n as f32 / 3.0),
                heading_deg: (seq % 3 == 0).then_some(359.5),
                accuracy_m: (seq % 5 != 0).then_some(4.25),
            },
            kind: match seq % 3 {
                0 => PositionKind::Applied,
                1 => PositionKind::Stale,
                _ => PositionKind::Flagged,
            },
        }
    })
    .collect()
}

async fn the_track_keeps_every_field_and_a_partly_stored_batch_completes(backend: TestBackend) {
    let (store, _db) = store(backend).await;
    let record = seed(&store).await;
    let id = record.id.clone();

    // A batch of moves alone (on PostgreSQL one binary COPY).
    let first = track_rows(&id, 1..=50, 0.0);
    let batch = WriteBatch {
        positions: first.clone(),
        ..WriteBatch::default()
    };
    store.write_batch(&batch, t0()).await.unwrap();
    assert_eq!(store.track(&id).await.unwrap(), first);

    // A batch overlapping what is stored (seqs 41-50 again, with other
    // fixes) and carrying a status event and a live state: the stored rows
    // stay as they were, the new ones are added, the event is written,
    // nothing twice.
    let positions = track_rows(&id, 41..=80, 1.0);
    let mut fleet = FleetState::new(FleetConfig::default());
    fleet.upsert_unit(record, t0());
    let PositionOutcome::Taken { status_change, .. } = fleet
        .apply_position(&id, 41, positions[0].fix, t0())
        .unwrap()
    else {
        panic!()
    };
    let status_events: Vec<_> = status_change.into_iter().collect();
    assert_eq!(status_events.len(), 1);
    let overlap = WriteBatch {
        positions,
        status_events: status_events.clone(),
        live_states: [(id.clone(), fleet.unit(&id).unwrap().snapshot())].into(),
        ..WriteBatch::default()
    };
    store.write_batch(&overlap, t0()).await.unwrap();
    let mut expected = first;
    expected.extend(track_rows(&id, 51..=80, 1.0));
    assert_eq!(store.track(&id).await.unwrap(), expected);
    assert_eq!(store.track_len().await.unwrap(), 80);
    assert_eq!(store.status_history(&id).await.unwrap(), status_events);

    // The same overlapping batch again, as a retry: nothing changes.
    store.write_batch(&overlap, t0()).await.unwrap();
    assert_eq!(store.track(&id).await.unwrap(), expected);
    assert_eq!(store.status_history(&id).await.unwrap(), status_events);
    store.ping().await.unwrap();
}

/// One text column `v` of a one-row catalog query on PostgreSQL, bound to
/// one argument.
async fn catalog_text(url: &str, query: &str, arg: &str) -> String {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(query)
        .bind(arg)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("v")
}

/// A table's options on PostgreSQL, as `name=value,…`.
async fn reloptions(url: &str, table: &str) -> String {
    let query = "SELECT COALESCE(array_to_string(reloptions, ','), '') AS v \
                 FROM pg_class WHERE oid = $1::regclass";
    catalog_text(url, query, table).await
}

/// PostgreSQL only: SQLite has no autovacuum to pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_paces_the_histories_autovacuum_and_keeps_a_dbas_own_pace() {
    let (store, db) = store(TestBackend::Postgres).await;
    for table in ["unit_positions", "unit_status_events"] {
        let options = reloptions(&db.url, table).await;
        assert!(
            options.contains("autovacuum_vacuum_cost_delay=20")
                && options.contains("autovacuum_vacuum_cost_limit=100"),
            "{table}: {options}"
        );
    }
    // Updated in place: its dead rows are reclaimed at the default pace.
    assert_eq!(reloptions(&db.url, "unit_live_state").await, "");

    // A DBA's own pace survives the next start's migrate.
    {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        conn.execute("ALTER TABLE unit_positions SET (autovacuum_vacuum_cost_delay = 5)")
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();
    let options = reloptions(&db.url, "unit_positions").await;
    assert!(
        options.contains("autovacuum_vacuum_cost_delay=5")
            && !options.contains("autovacuum_vacuum_cost_delay=20"),
        "{options}"
    );
}

/// The access method of an index on PostgreSQL (`btree`, `brin`).
async fn index_method(url: &str, index: &str) -> String {
    let query = "SELECT a.amname::text AS v FROM pg_class i JOIN pg_am a ON a.oid = i.relam \
                 WHERE i.oid = to_regclass($1)";
    catalog_text(url, query, index).await
}

/// The names of a table's indexes on PostgreSQL, sorted, comma-separated.
async fn index_names(url: &str, table: &str) -> String {
    let query = "SELECT string_agg(indexname, ',' ORDER BY indexname) AS v \
                 FROM pg_indexes WHERE tablename = $1";
    catalog_text(url, query, table).await
}

/// PostgreSQL only: the retention job's time index on the track becomes
/// BRIN (once; the migration made a B-tree), and the retention delete still
/// finds the old rows by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_makes_the_tracks_time_index_brin_and_retention_still_deletes_by_it() {
    let (store, db) = store(TestBackend::Postgres).await;
    assert_eq!(
        index_method(&db.url, "unit_positions_fix_at").await,
        "btree"
    );
    let indexes = index_names(&db.url, "unit_positions").await;
    assert!(store.track_time_index_to_brin().await.unwrap());
    assert_eq!(index_method(&db.url, "unit_positions_fix_at").await, "brin");
    assert_eq!(index_names(&db.url, "unit_positions").await, indexes);
    // Once: a second call and a later start's migrate leave it as it is.
    assert!(!store.track_time_index_to_brin().await.unwrap());
    store.migrate().await.unwrap();
    assert_eq!(index_method(&db.url, "unit_positions_fix_at").await, "brin");

    use sqlx::{Connection, Executor, Row};
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, kind) \
         SELECT 'U' || (g % 7), g, 1764000000000 + g * 1000, -19.9, -43.9, 'applied' \
         FROM generate_series(1, 20000) g",
    )
    .await
    .unwrap();
    // Summarized, as autovacuum would, so that the delete goes by the ranges.
    conn.execute("SELECT brin_summarize_new_values('unit_positions_fix_at')")
        .await
        .unwrap();
    let cut_off = Utc
        .timestamp_millis_opt(1_764_000_000_000 + 5_000 * 1000)
        .unwrap();
    let deleted = store.purge_positions_before(cut_off).await.unwrap();
    assert_eq!(deleted, 4_999);
    let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM unit_positions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
    assert_eq!(left, 15_001);
}

/// PostgreSQL only: the BRIN index is built while the track's writes go on.
/// A transaction that wrote to the track and stays open holds the build
/// (`CREATE INDEX CONCURRENTLY` waits for it); meanwhile another write must
/// pass. A build inside a transaction (a plain `DROP INDEX` and `CREATE
/// INDEX`) would queue it behind its lock, and its `lock_timeout` would fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_builds_the_brin_index_while_the_track_is_written() {
    use sqlx::{Connection, Executor, Row};
    let (store, db) = store(TestBackend::Postgres).await;
    let indexes = index_names(&db.url, "unit_positions").await;
    let insert = |seq: i64| {
        format!(
            "INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, kind) \
             VALUES ('U1', {seq}, 1764000000000, -19.9, -43.9, 'applied')"
        )
    };
    let mut holder = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder.execute(insert(1).as_str()).await.unwrap();

    let building = tokio::spawn({
        let store = store.clone();
        async move { store.track_time_index_to_brin().await }
    });
    let mut writer = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    // Until the build is under way (waiting for the holder's transaction).
    let mut waited = 0;
    loop {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pg_stat_progress_create_index \
             WHERE relid = 'unit_positions'::regclass",
        )
        .fetch_one(&mut writer)
        .await
        .unwrap()
        .get("n");
        if n > 0 {
            break;
        }
        waited += 1;
        assert!(waited < 500, "the build never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    writer.execute("SET lock_timeout = '5s'").await.unwrap();
    writer.execute(insert(2).as_str()).await.unwrap();
    assert!(
        !building.is_finished(),
        "the build cannot end before the holder"
    );

    holder.execute("COMMIT").await.unwrap();
    assert!(building.await.unwrap().unwrap());
    assert_eq!(index_method(&db.url, "unit_positions_fix_at").await, "brin");
    assert_eq!(index_names(&db.url, "unit_positions").await, indexes);
    assert_eq!(store.track_len().await.unwrap(), 2);
}

/// PostgreSQL only: a conversion stopped half way is finished by the next
/// one: an invalid index under the build's name (what a failed or cancelled
/// `CREATE INDEX CONCURRENTLY` leaves) is dropped and built again; a B-tree
/// left under the retired name after the swap is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_finishes_a_brin_conversion_stopped_half_way() {
    use sqlx::{Connection, Executor};
    let (store, db) = store(TestBackend::Postgres).await;
    let indexes = index_names(&db.url, "unit_positions").await;
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, kind) \
         SELECT 'U1', g, 1764000000000 + g * 1000, -19.9, -43.9, 'applied' \
         FROM generate_series(1, 100) g",
    )
    .await
    .unwrap();
    // A failed concurrent build: the unit ids repeat, so the unique index
    // fails, and stays behind, invalid.
    let failed = conn
        .execute(
            "CREATE UNIQUE INDEX CONCURRENTLY unit_positions_fix_at_brin \
             ON unit_positions (unit_id)",
        )
        .await;
    assert!(failed.is_err());
    assert_eq!(
        index_method(&db.url, "unit_positions_fix_at_brin").await,
        "btree"
    );
    assert!(store.track_time_index_to_brin().await.unwrap());
    assert_eq!(index_method(&db.url, "unit_positions_fix_at").await, "brin");
    assert_eq!(index_names(&db.url, "unit_positions").await, indexes);

    // Stopped between the swap of names and the retired B-tree's drop.
    conn.execute("CREATE INDEX unit_positions_fix_at_btree ON unit_positions (fix_at)")
        .await
        .unwrap();
    assert!(store.track_time_index_to_brin().await.unwrap());
    assert_eq!(index_names(&db.url, "unit_positions").await, indexes);
    assert!(!store.track_time_index_to_brin().await.unwrap());
}

/// PostgreSQL only: an instance that finds another converting (its
/// advisory lock held) leaves the work to it, without waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leaves_the_brin_conversion_to_the_instance_doing_it() {
    use sqlx::{Connection, Executor};
    let (store, db) = store(TestBackend::Postgres).await;
    let mut other = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    other
        .execute("SELECT pg_advisory_lock(8315178083082990190)::text")
        .await
        .unwrap();
    assert!(!store.track_time_index_to_brin().await.unwrap());
    assert_eq!(
        index_method(&db.url, "unit_positions_fix_at").await,
        "btree"
    );
    other
        .execute("SELECT pg_advisory_unlock(8315178083082990190)")
        .await
        .unwrap();
    assert!(store.track_time_index_to_brin().await.unwrap());
    assert_eq!(index_method(&db.url, "unit_positions_fix_at").await, "brin");
}

/// SQLite has no BRIN: its time index stays the migration's B-tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_tracks_time_index_as_the_migration_made_it() {
    use sqlx::{Connection, Row};
    let (store, db) = store(TestBackend::Sqlite).await;
    assert!(!store.track_time_index_to_brin().await.unwrap());
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let sql: String = sqlx::query(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'unit_positions_fix_at'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get("sql");
    assert!(sql.contains("(fix_at)"), "{sql}");
}

/// PostgreSQL only: a batch dropped while its `COPY` waits for the track's
/// lock (the writer's patience ran out on a busy store) leaves no backend
/// behind holding the track. Before, the backend got the lock later and
/// waited for `COPY` data forever, so the next session asking for a
/// conflicting lock queued behind it, and every later batch behind that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_dropped_half_way_leaves_no_backend_holding_the_track() {
    use sqlx::{Connection, Executor};
    let (store, db) = store(TestBackend::Postgres).await;
    let id = seed(&store).await.id;
    let batch = WriteBatch {
        positions: track_rows(&id, 1..=10, 0.0),
        ..WriteBatch::default()
    };

    let mut holder = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("LOCK TABLE unit_positions IN SHARE MODE")
        .await
        .unwrap();
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        store.write_batch(&batch, t0()),
    )
    .await;
    assert!(dropped.is_err(), "the COPY waits for the lock: {dropped:?}");
    holder.execute("COMMIT").await.unwrap();

    // Another session's conflicting lock is granted: nothing holds the track.
    let mut other = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    other.execute("SET lock_timeout = '10s'").await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other
        .execute("LOCK TABLE unit_positions IN SHARE MODE")
        .await
        .expect("no backend left holding the track");
    other.execute("COMMIT").await.unwrap();

    // And the store writes the batch as if nothing had happened.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.write_batch(&batch, t0()),
    )
    .await
    .expect("the write is not stuck")
    .unwrap();
    assert_eq!(store.track(&id).await.unwrap(), batch.positions);
}
