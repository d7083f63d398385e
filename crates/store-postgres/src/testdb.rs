//! A throw-away PostgreSQL schema per test (feature `testkit`).
//!
//! The server is `S1BRIDGE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`, the
//! development and CI machines' PostgreSQL 15 with trust auth). Every [`TestDb`] creates its own
//! schema, points `search_path` at it, and drops it (CASCADE) when dropped, so tests run in
//! parallel without seeing each other. When the server is unreachable, [`TestDb::create`] returns
//! `None` after printing why (the test then skips) — unless `CI=true`, where it panics: CI must
//! fail, not skip, without its database.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::PgStore;

/// The default test server.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One schema of the test server, dropped with this value.
pub struct TestDb {
    base_url: String,
    schema: String,
}

impl TestDb {
    /// The test server's URL (`S1BRIDGE_TEST_PG` or [`DEFAULT_TEST_URL`]).
    pub fn server_url() -> String {
        std::env::var("S1BRIDGE_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_URL.to_string())
    }

    /// Whether CI demands the database (`CI=true`).
    pub fn required() -> bool {
        std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
    }

    /// Create a fresh, empty schema. `None` (with a message) when the server is unreachable
    /// outside CI; a panic inside CI.
    pub async fn create() -> Option<TestDb> {
        let base_url = Self::server_url();
        let schema = format!(
            "s1b_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        let connected = tokio_postgres::connect(&base_url, tokio_postgres::NoTls).await;
        let (client, conn) = match connected {
            Ok(c) => c,
            Err(e) => {
                let msg = format!(
                    "PostgreSQL at {} is unreachable ({e}); set S1BRIDGE_TEST_PG or start the server",
                    crate::redact_url(&base_url)
                );
                if Self::required() {
                    panic!("CI=true and {msg}");
                }
                eprintln!("skipping a PostgreSQL test: {msg}");
                return None;
            }
        };
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap_or_else(|e| panic!("creating test schema {schema}: {e}"));
        drop(client);
        let _ = task.await;
        Some(TestDb { base_url, schema })
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A URL whose connections use this schema (`options=-csearch_path=…`) and are named after
    /// it (`application_name`), so that dropping the schema can end the ones still open.
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-csearch_path%3D{}&application_name={}",
            self.base_url, self.schema, self.schema
        )
    }

    /// A migrated store on this schema.
    pub async fn store(&self) -> PgStore {
        PgStore::open(&self.url())
            .await
            .unwrap_or_else(|e| panic!("opening the test store: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.base_url.clone();
        let schema = self.schema.clone();
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test schema");
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    let task = tokio::spawn(conn);
                    // The test's own connections may still be open (their runtime is blocked in
                    // this drop), some inside a transaction whose locks would make DROP SCHEMA
                    // wait forever: end them first.
                    let _ = client
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE application_name = $1 AND pid <> pg_backend_pid()",
                            &[&schema],
                        )
                        .await;
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                    drop(client);
                    let _ = task.await;
                }
            });
        })
        .join();
    }
}
