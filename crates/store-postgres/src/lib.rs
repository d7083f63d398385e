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

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use s1bridge_store::{Result, StoreError};
use tokio_postgres::config::SslMode;

mod access;
mod ai_agents;
mod findings;
mod indicators;
mod service;
mod store;
#[cfg(feature = "testkit")]
pub mod testdb;

pub mod jobs;
pub use jobs::PgJobQueue;

/// One embedded migration. Versions are applied in ascending order, each in its own transaction;
/// the applied ones are recorded in `s1bridge_migrations`. 1..=99 belong to the store, 100.. to
/// the job queue.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration of this backend, in ascending version order. Append only; never edit one that
/// has shipped.
pub const MIGRATIONS: &[Migration] = &[
    // 1..=99: the store (store.rs). 100..: the job queue (jobs.rs).
    Migration {
        version: 1,
        name: "store",
        sql: include_str!("../migrations/0001_store.sql"),
    },
    Migration {
        version: 2,
        name: "indicators",
        sql: include_str!("../migrations/0002_indicators.sql"),
    },
    Migration {
        version: 3,
        name: "findings cheaper writes",
        sql: include_str!("../migrations/0003_findings_cheaper_writes.sql"),
    },
    Migration {
        version: 100,
        name: "jobs",
        sql: include_str!("../migrations/0100_jobs.sql"),
    },
    Migration {
        version: 101,
        name: "worker heartbeat period",
        sql: include_str!("../migrations/0101_worker_heartbeat.sql"),
    },
];

/// Key of the advisory lock held while migrating (`pg_advisory_xact_lock`), so that workers
/// starting together apply each migration once. ("s1bmig" in ASCII.)
const MIGRATION_LOCK: i64 = 0x7331_626d_6967;

/// Connections kept per process unless the URL says otherwise (`pool_max_size`, read by
/// [`PgStore::open`] and removed before the URL reaches the driver).
pub const DEFAULT_POOL_SIZE: usize = 8;

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: Pool,
    /// The URL with any password removed, for messages.
    pub(crate) location: String,
    /// Per console, the latest findings pass this process stored a page of, and whether the
    /// console held no findings before that pass's first page (its pages are then plain
    /// inserts; see `findings.rs`).
    pub(crate) fresh_finding_passes: std::sync::Arc<std::sync::Mutex<HashMap<String, (i64, bool)>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/db?sslmode=…`), check that the
    /// server answers, and apply the pending migrations. `sslmode=disable|prefer|require` as in
    /// libpq (default `prefer`); certificates are checked against the platform's roots.
    /// Errors never contain the password.
    pub async fn open(url: &str) -> Result<Self> {
        let location = redact_url(url);
        let open_err = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        let (url, pool_size) = take_pool_size(url).map_err(open_err)?;
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| open_err(redact_text(&e.to_string(), &url)))?;
        Self::open_config(config, pool_size, location).await
    }

    /// Connect with an already built driver configuration (the test harness sets the schema
    /// through `options`). `location` is what messages call the database.
    pub async fn open_config(
        mut config: tokio_postgres::Config,
        pool_size: usize,
        location: String,
    ) -> Result<Self> {
        let open_err = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("s1bridge");
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        } else {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = {
                use rustls_platform_verifier::ConfigVerifierExt;
                rustls::ClientConfig::with_platform_verifier()
                    .map_err(|e| open_err(format!("TLS set-up failed: {e}")))?
            };
            Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            )
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let store = PgStore {
            pool,
            location: location.clone(),
            fresh_finding_passes: Default::default(),
        };
        {
            let client = store.pool.get().await.map_err(|e| {
                open_err(format!(
                    "{e}; check that PostgreSQL runs there and the URL's user, password and database are right"
                ))
            })?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| open_err(e.to_string()))?;
        }
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool (for the job queue and the tests of this crate).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Where this store lives, password removed.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Apply every migration not yet recorded, in one transaction under an advisory lock (all
    /// or nothing; workers starting together wait for the first). A database whose newest
    /// recorded migration is newer than this build knows is refused.
    pub async fn migrate(&self) -> Result<()> {
        let mig = |e: tokio_postgres::Error| StoreError::Migration(pg_error(&e));
        let mut client = self.pool.get().await.map_err(backend)?;
        let tx = client.transaction().await.map_err(mig)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(mig)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS s1bridge_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(mig)?;
        let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
        let newest: Option<i64> = tx
            .query_one("SELECT max(version) FROM s1bridge_migrations", &[])
            .await
            .map_err(mig)?
            .get(0);
        if let Some(found) = newest
            && found > known
        {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: known,
            });
        }
        let applied: Vec<i64> = tx
            .query("SELECT version FROM s1bridge_migrations", &[])
            .await
            .map_err(mig)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            tx.batch_execute(m.sql).await.map_err(|e| {
                StoreError::Migration(format!(
                    "migration {} ({}): {}",
                    m.version,
                    m.name,
                    pg_error(&e)
                ))
            })?;
            tx.execute(
                "INSERT INTO s1bridge_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await
            .map_err(mig)?;
            tracing::info!(
                version = m.version,
                name = m.name,
                "applied PostgreSQL migration"
            );
        }
        tx.commit().await.map_err(mig)?;
        Ok(())
    }

    /// The newest applied migration (0 when none).
    pub async fn schema_version(&self) -> Result<i64> {
        let client = self.pool.get().await.map_err(backend)?;
        let v: Option<i64> = client
            .query_one("SELECT max(version) FROM s1bridge_migrations", &[])
            .await
            .map_err(backend)?
            .get(0);
        Ok(v.unwrap_or(0))
    }
}

/// Whether `s` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A driver error as one line: the server's message, detail and SQLSTATE when it sent them
/// (`tokio_postgres::Error`'s own Display says only "db error").
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(": ");
                s.push_str(d);
            }
            s
        }
        None => e.to_string(),
    }
}

/// Map a driver or pool error into the store's error. Driver errors never carry the password
/// (the driver does not echo its configuration).
pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// `url` with the password (if any) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return redact_query_password(url);
    };
    let userinfo = &authority[..at];
    let redacted_userinfo = match userinfo.find(':') {
        Some(colon) => format!("{}:***", &userinfo[..colon]),
        None => userinfo.to_string(),
    };
    redact_query_password(&format!(
        "{}://{}{}{}",
        &url[..scheme_end],
        redacted_userinfo,
        &authority[at..],
        &rest[authority_end..]
    ))
}

fn redact_query_password(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let params: Vec<String> = url[q + 1..]
        .split('&')
        .map(|p| {
            if p.starts_with("password=") {
                "password=***".to_string()
            } else {
                p.to_string()
            }
        })
        .collect();
    format!("{}?{}", &url[..q], params.join("&"))
}

/// Remove any occurrence of the URL's password from a message.
fn redact_text(msg: &str, url: &str) -> String {
    let redacted = redact_url(url);
    let mut out = msg.replace(url, &redacted);
    if let Some(pw) = password_of(url)
        && !pw.is_empty()
    {
        out = out.replace(&pw, "***");
    }
    out
}

fn password_of(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo[userinfo.find(':')? + 1..].to_string())
}

/// Split the `pool_max_size=N` query parameter (ours, not libpq's) off the URL.
fn take_pool_size(url: &str) -> std::result::Result<(String, usize), String> {
    let Some(q) = url.find('?') else {
        return Ok((url.to_string(), DEFAULT_POOL_SIZE));
    };
    let mut size = DEFAULT_POOL_SIZE;
    let mut kept = Vec::new();
    for p in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = p.strip_prefix("pool_max_size=") {
            size =
                v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("pool_max_size must be a whole number ≥ 1, not '{v}'")
                })?;
        } else {
            kept.push(p);
        }
    }
    let base = &url[..q];
    Ok(if kept.is_empty() {
        (base.to_string(), size)
    } else {
        (format!("{base}?{}", kept.join("&")), size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/s1?sslmode=require"),
            "postgres://bob:***@db:5432/s1?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://bob@db/s1"),
            "postgresql://bob@db/s1"
        );
        assert_eq!(
            redact_url("postgres://db/s1?user=bob&password=s3cret"),
            "postgres://db/s1?user=bob&password=***"
        );
        assert!(
            !redact_text(
                "bad: postgres://bob:s3cret@db/s1",
                "postgres://bob:s3cret@db/s1"
            )
            .contains("s3cret")
        );
    }

    #[test]
    fn pool_size_parameter() {
        assert_eq!(
            take_pool_size("postgres://db/s1?pool_max_size=3&sslmode=disable").unwrap(),
            ("postgres://db/s1?sslmode=disable".to_string(), 3)
        );
        assert_eq!(
            take_pool_size("postgres://db/s1").unwrap(),
            ("postgres://db/s1".to_string(), DEFAULT_POOL_SIZE)
        );
        assert!(take_pool_size("postgres://db/s1?pool_max_size=0").is_err());
    }
}
