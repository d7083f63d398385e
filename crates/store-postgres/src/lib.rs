//! PostgreSQL backend of the s1bridge store, for several workers sharing one database, and the
//! job queue of the scale-out mode (`s1bridge worker`).
//!
//! Layout:
//! - `lib.rs` — connecting (`postgres://` URLs, TLS per `sslmode`), the pool and the embedded
//!   migrations, applied under an advisory lock so that N workers starting together migrate once.
//! - `store.rs` — `impl Store for PgStore` (the conformance suite of `s1bridge-store` runs
//!   against it exactly as against SQLite).
//! - `jobs.rs` — the job queue: claims with `FOR UPDATE SKIP LOCKED`, leases, heartbeats, the
//!   single scheduler (advisory lock) and `LISTEN/NOTIFY` wake-ups.
//! - `testdb.rs` — a throw-away schema per test (feature `testkit`).
//!
//! Architecture invariant (ARCHITECTURE.md): nothing outside the storage layer writes SQL; this
//! crate is part of the storage layer.

use s1bridge_store::StoreError;

/// One embedded migration. Versions are applied in ascending order, each in its own transaction;
/// the applied ones are recorded in `s1bridge_migrations`. 1..=99 belong to the store, 100.. to
/// the job queue.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration of this backend, in order. Append only; never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[];

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: deadpool_postgres::Pool,
}

impl PgStore {
    /// The connection pool (for the job queue and the tests of this crate).
    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }
}

#[allow(dead_code)] // used by store.rs and jobs.rs as they land
/// Map a driver error into the store's error, never echoing the connection string.
pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}
