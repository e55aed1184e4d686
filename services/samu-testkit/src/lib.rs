//! Test support shared by the crates' integration tests.
//!
//! `scripts/test.sh` starts a throwaway PostgreSQL and Redis and exports
//! `SAMU_TEST_PG_URL` and `SAMU_TEST_REDIS_URL`; each test gets a database of
//! its own (named by UUID) or a SQLite file in its own temporary folder, so
//! tests never share state and can run in parallel.
#![forbid(unsafe_code)]

use std::str::FromStr;

use sqlx::{any::AnyConnectOptions, ConnectOptions, Connection, Executor};

/// The store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database in the throwaway PostgreSQL.
    Postgres,
}

/// A database URL that lives as long as this value (the SQLite folder is
/// removed on drop; PostgreSQL databases go with the throwaway cluster).
#[derive(Debug)]
pub struct TestDatabase {
    /// What to pass as `DATABASE_URL`.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

fn env_or_panic(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with ./scripts/test.sh, which starts \
             a throwaway PostgreSQL and Redis for the tests"
        )
    })
}

/// The throwaway Redis of the test run.
pub fn redis_url() -> String {
    env_or_panic("SAMU_TEST_REDIS_URL")
}

impl TestBackend {
    /// A new, empty database of this kind.
    pub async fn fresh(self) -> TestDatabase {
        match self {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}/samu.db", dir.path().display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                }
            }
            TestBackend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin = env_or_panic("SAMU_TEST_PG_URL");
                let name = format!("samu_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = AnyConnectOptions::from_str(&admin)
                    .expect("SAMU_TEST_PG_URL parses")
                    .connect()
                    .await
                    .expect("connect to the test PostgreSQL");
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create the test database");
                conn.close().await.ok();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    _dir: None,
                }
            }
        }
    }
}

/// Runs an async test body once per backend: defines `NAME_sqlite` and
/// `NAME_postgres`, each calling `body(TestBackend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$body($crate::TestBackend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$body($crate::TestBackend::Postgres).await;
                }
            }
        )+
    };
}
