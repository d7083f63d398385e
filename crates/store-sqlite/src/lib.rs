//! The SQLite backend of the s1bridge store: one embedded database file per deployment.
//!
//! * One writer connection behind a mutex; every write is one `BEGIN IMMEDIATE` transaction so
//!   two processes sharing a file never both start a sync of the same console.
//! * A separate read-only connection serves `get_*`/`list_*`/`count_*`, so readers do not wait for
//!   a long write (WAL lets them see the last committed state).
//! * All database work runs on tokio's blocking pool (`spawn_blocking`); rusqlite is blocking.
//! * The schema is created and upgraded by the migrations embedded from `migrations/`; the
//!   version lives in `PRAGMA user_version`. A file written by a newer s1bridge is refused.
//! * There is no column for an API token anywhere in the schema.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior};
use s1bridge_store::{
    AccessChange, AccessChangeFilter, AccessSnapshot, AccessSyncSummary, AuditEntry, AuditFilter,
    ChangeOrigin, Grant, Principal,
};
use s1bridge_store::{
    ApiKeyRecord, Checkpoint, ConsoleRecord, Device, DeviceCounts, DeviceFacts, DeviceFilter,
    DevicePageStats, FeatureOutcome, FeatureStatus, Finding, FindingFilter, FindingObservation,
    FindingPageStats, FindingPassSummary, FindingTransition, NewApiKey, PassKind, PassSummary,
    Result, RunStatus, Scope, SealedToken, Store, StoreError, SyncRun, Watermark,
};
use s1bridge_store::{DuplicateCandidate, duplicate_links, duplicate_name, duplicate_serial};

mod access;
mod ai_agents;
mod checkpointer;
mod findings;
mod indicators;
mod service;

/// The embedded migrations, in order. Migration `n` brings the schema to version `n`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_run_owner.sql")),
    (3, include_str!("../migrations/0003_findings.sql")),
    (4, include_str!("../migrations/0004_history_and_tags.sql")),
    (5, include_str!("../migrations/0005_access.sql")),
    (6, include_str!("../migrations/0006_ai_agents.sql")),
    (7, include_str!("../migrations/0007_service.sql")),
    (8, include_str!("../migrations/0008_indicators.sql")),
    (9, include_str!("../migrations/0009_leaner_findings.sql")),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 9;

/// The feature whose pass `complete_full_pass` finishes.
const DEVICES_FEATURE: &str = "devices";

/// Page cache per connection, in KiB (negative `cache_size`); it also bounds the memory a sort
/// holds before it spills. A miss re-reads a page from the OS's cache, which measured no slower
/// than a 16 MiB cache for 125k-device syncs and million-finding passes (first and repeat),
/// while the larger caches of the writer, the reader and the sorter held ~50 MB more.
const CACHE_SIZE_KIB: i64 = -2_048;

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// The per-user default database location, used when neither `--db` nor `$S1BRIDGE_DB` is given
/// (that environment variable is handled by the CLI, not here):
///
/// 1. `$XDG_DATA_HOME/s1bridge/s1bridge.db` when `XDG_DATA_HOME` is set to an absolute path;
/// 2. otherwise `$HOME/.local/share/s1bridge/s1bridge.db` when `HOME` is set;
/// 3. otherwise `s1bridge.db` in the current directory.
pub fn default_path() -> PathBuf {
    default_path_from(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn default_path_from(xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    if let Some(xdg) = xdg_data_home.filter(|p| p.is_absolute()) {
        return xdg.join("s1bridge").join("s1bridge.db");
    }
    if let Some(home) = home.filter(|p| !p.as_os_str().is_empty()) {
        return home
            .join(".local")
            .join("share")
            .join("s1bridge")
            .join("s1bridge.db");
    }
    PathBuf::from("s1bridge.db")
}

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the database lives, for error messages (`:memory:` for in-memory stores).
    location: String,
    path: Option<PathBuf>,
    writer: Mutex<Connection>,
    /// `None` for in-memory databases, whose reads go through the writer.
    reader: Option<Mutex<Connection>>,
    /// Copies the WAL into the database off the writer's thread (file databases only). Declared
    /// after the connections so that it stops after them.
    checkpointer: Option<checkpointer::Checkpointer>,
    /// Priority factor-set ids the writer remembers (used under the writer's lock).
    factor_sets: Mutex<findings::FactorSets>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// See [`default_path`].
    pub fn default_path() -> PathBuf {
        default_path()
    }

    /// Open (creating if needed) the database file at `path`, apply pending migrations and set
    /// the connection PRAGMAs. Missing parent directories are created (mode 0700 on unix) and the
    /// file is restricted to its owner (mode 0600 on unix; SQLite gives the `-wal`/`-shm` files
    /// the same mode).
    pub fn open(path: &Path) -> Result<Self> {
        let location = path.display().to_string();
        let open_err = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent).map_err(|e| {
                open_err(format!(
                    "cannot create the directory {}: {e}; create it or choose another --db path",
                    parent.display()
                ))
            })?;
        }
        restrict_file(path).map_err(|e| {
            open_err(format!(
                "cannot create the file or restrict it to its owner: {e}; check the permissions of {}",
                path.display()
            ))
        })?;

        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            open_err(format!(
                "{e}; check that the path is a writable SQLite file"
            ))
        })?;
        configure_writer(&writer, true).map_err(|e| match e {
            StoreError::Backend(reason) => open_err(reason),
            other => other,
        })?;
        migrate(&mut writer)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_err(format!("cannot open a read connection: {e}")))?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .and_then(|()| reader.pragma_update(None, "cache_size", CACHE_SIZE_KIB))
            .map_err(|e| open_err(format!("cannot configure the read connection: {e}")))?;
        reader.set_prepared_statement_cache_capacity(32);

        let checkpointer = checkpointer::Checkpointer::start(path);
        if checkpointer.is_some() {
            writer
                .pragma_update(
                    None,
                    "wal_autocheckpoint",
                    checkpointer::WRITER_BACKSTOP_PAGES,
                )
                .map_err(|e| open_err(format!("cannot set wal_autocheckpoint: {e}")))?;
        }
        tracing::debug!(path = %location, "opened SQLite store");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                location,
                path: Some(path.to_path_buf()),
                writer: Mutex::new(writer),
                reader: Some(Mutex::new(reader)),
                checkpointer,
                factor_sets: Mutex::default(),
            }),
        })
    }

    /// A private, empty in-memory database (for tests and dry runs). Reads share the single
    /// connection, so they do wait for writes.
    pub fn open_in_memory() -> Result<Self> {
        let location = ":memory:".to_string();
        let mut conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        configure_writer(&conn, false)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                location,
                path: None,
                writer: Mutex::new(conn),
                reader: None,
                checkpointer: None,
                factor_sets: Mutex::default(),
            }),
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Run `f` with the writer connection on the blocking pool.
    async fn with_writer<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let out = {
                let mut conn = lock(&inner.writer)?;
                f(&mut conn)
            };
            if let Some(c) = &inner.checkpointer {
                c.wake();
            }
            out
        })
        .await
        .map_err(join_error)?
    }

    /// Run `f` with the read connection (the writer for in-memory stores) on the blocking pool.
    async fn with_reader<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(inner.reader.as_ref().unwrap_or(&inner.writer))?;
            f(&mut conn)
        })
        .await
        .map_err(join_error)?
    }
}

/// Lock a connection. A poisoned mutex means an earlier operation panicked while holding it; its
/// transaction was rolled back when the panic unwound, so the connection is still usable once any
/// transaction left open is rolled back.
fn lock(m: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    match m.lock() {
        Ok(guard) => Ok(guard),
        Err(poisoned) => {
            tracing::warn!(
                "recovering the SQLite connection after a panic in an earlier operation"
            );
            let guard = poisoned.into_inner();
            if !guard.is_autocommit() {
                guard.execute_batch("ROLLBACK").map_err(|e| {
                    StoreError::Backend(format!(
                        "the database connection is unusable after an earlier failure ({e}); restart s1bridge"
                    ))
                })?;
            }
            Ok(guard)
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!(
        "the database task did not complete ({e}); the operation was rolled back, retry it"
    ))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Create the file if it does not exist, and make it readable by its owner only.
#[cfg(unix)]
fn restrict_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn configure_writer(conn: &Connection, wal: bool) -> Result<()> {
    let fail = |what: &str, e: rusqlite::Error| {
        StoreError::Backend(format!("cannot set {what} on the database: {e}"))
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("busy_timeout", e))?;
    if wal {
        // Checkpoint every 32 MiB of WAL instead of 4 MiB: a page of upserts dirties index pages
        // all over the key space, and checkpointing less often copies each of them once
        // instead of once per commit. The WAL file is truncated back to 64 MiB afterwards.
        conn.pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(|e| fail("wal_autocheckpoint", e))?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(|e| fail("journal_size_limit", e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| fail("journal_mode=WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "the database refused write-ahead logging (journal_mode is '{mode}'); \
                 put the database on a local file system"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| fail("synchronous=NORMAL", e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| fail("foreign_keys=ON", e))?;
    conn.pragma_update(None, "cache_size", CACHE_SIZE_KIB)
        .map_err(|e| fail("cache_size", e))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// Bring the schema to [`SCHEMA_VERSION`] in one immediate transaction (so two processes opening
/// a new file at once do not both create it).
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| {
            StoreError::Migration(format!("cannot lock the database to migrate it: {e}"))
        })?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| {
            StoreError::Migration(format!(
                "cannot read the schema version ({e}); is this an s1bridge database?"
            ))
        })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tracing::info!(version, "applying database migration");
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Migration(format!(
                "migration to schema version {version} failed: {e}; \
                 if this file is not an s1bridge database, choose another --db path"
            ))
        })?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| {
                StoreError::Migration(format!("cannot record schema version {version}: {e}"))
            })?;
    }
    tx.commit()
        .map_err(|e| StoreError::Migration(format!("cannot commit the migration: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Map a driver error to a [`StoreError`], saying what was being done.
fn db_err(doing: &str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Backend(format!(
            "{doing}: the database stayed locked by another process for {} s; \
             retry when the other s1bridge process has finished",
            BUSY_TIMEOUT.as_secs()
        )),
        Some(ErrorCode::DiskFull) => {
            StoreError::Backend(format!("{doing}: the disk is full; free space and retry"))
        }
        Some(ErrorCode::ReadOnly) => StoreError::Backend(format!(
            "{doing}: the database is read-only; check the file's permissions"
        )),
        _ => StoreError::Backend(format!("{doing}: {e}")),
    }
}

trait Ctx<T> {
    fn ctx(self, doing: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, doing: &str) -> Result<T> {
        self.map_err(|e| db_err(doing, e))
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Timestamps: RFC 3339 UTC with exactly nine fractional digits, so text order is time order.

/// A formatted timestamp that lives on the stack for the usual years 0..=9999.
enum Ts {
    Fixed([u8; 30]),
    Other(String),
}

impl Ts {
    fn new(dt: &DateTime<Utc>) -> Ts {
        let (year, nanos) = (dt.year(), dt.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return Ts::Other(dt.to_rfc3339_opts(SecondsFormat::Nanos, true));
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        fn put(b: &mut [u8], at: usize, width: usize, mut v: u32) {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        put(&mut b, 0, 4, year as u32);
        put(&mut b, 5, 2, dt.month());
        put(&mut b, 8, 2, dt.day());
        put(&mut b, 11, 2, dt.hour());
        put(&mut b, 14, 2, dt.minute());
        put(&mut b, 17, 2, dt.second());
        put(&mut b, 20, 9, nanos);
        Ts::Fixed(b)
    }

    fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators are ever written into the buffer.
            Ts::Fixed(b) => std::str::from_utf8(b).unwrap_or_default(),
            Ts::Other(s) => s,
        }
    }
}

fn ts(dt: &DateTime<Utc>) -> String {
    Ts::new(dt).as_str().to_string()
}

fn opt_ts(dt: &Option<DateTime<Utc>>) -> Option<String> {
    dt.as_ref().map(ts)
}

fn parse_ts(idx: usize, s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    parse_ts(idx, &s)
}

fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| parse_ts(idx, &s)).transpose()
}

fn get_json<T>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> serde_json::Result<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn string_list(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    get_json(row, idx, |s| serde_json::from_str(s))
}

fn json(encoded: serde_json::Result<String>, what: &str) -> Result<String> {
    encoded.map_err(|e| StoreError::Backend(format!("cannot encode {what} as JSON: {e}")))
}

// ---------------------------------------------------------------------------------------------
// SQL

const UPSERT_DEVICE: &str = "
INSERT INTO devices (
    console, agent_id, uuid, computer_name, os_name, os_type, os_revision, os_arch,
    agent_version, ips, macs, external_ip, last_logged_in_user, account_id, account_name,
    site_id, site_name, group_id, group_name, machine_type, serial_number, domain, model_name,
    network_status, infected, active_threats, last_active_at, registered_at, console_updated_at,
    is_active, is_decommissioned, is_uninstalled, first_seen_at, last_seen_at, removed_at,
    duplicate_of, last_pass_id, restored_pass, tags
) VALUES (
    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?33, NULL, NULL, ?34, NULL,
    ?35
)
ON CONFLICT (console, agent_id) DO UPDATE SET
    uuid = excluded.uuid,
    computer_name = excluded.computer_name,
    os_name = excluded.os_name,
    os_type = excluded.os_type,
    os_revision = excluded.os_revision,
    os_arch = excluded.os_arch,
    agent_version = excluded.agent_version,
    ips = excluded.ips,
    macs = excluded.macs,
    tags = excluded.tags,
    external_ip = excluded.external_ip,
    last_logged_in_user = excluded.last_logged_in_user,
    account_id = excluded.account_id,
    account_name = excluded.account_name,
    site_id = excluded.site_id,
    site_name = excluded.site_name,
    group_id = excluded.group_id,
    group_name = excluded.group_name,
    machine_type = excluded.machine_type,
    serial_number = excluded.serial_number,
    domain = excluded.domain,
    model_name = excluded.model_name,
    network_status = excluded.network_status,
    infected = excluded.infected,
    active_threats = excluded.active_threats,
    last_active_at = excluded.last_active_at,
    registered_at = excluded.registered_at,
    console_updated_at = excluded.console_updated_at,
    is_active = excluded.is_active,
    is_decommissioned = excluded.is_decommissioned,
    is_uninstalled = excluded.is_uninstalled,
    last_seen_at = excluded.last_seen_at,
    restored_pass = CASE WHEN devices.removed_at IS NOT NULL
                         THEN excluded.last_pass_id ELSE devices.restored_pass END,
    removed_at = NULL,
    last_pass_id = excluded.last_pass_id";

const UPSERT_CHECKPOINT: &str = "
INSERT INTO checkpoints (console, feature, stream, pass_id, kind, cursor, done, records,
                         max_updated_at, since)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (console, feature, stream) DO UPDATE SET
    pass_id = excluded.pass_id, kind = excluded.kind, cursor = excluded.cursor,
    done = excluded.done, records = excluded.records,
    max_updated_at = excluded.max_updated_at, since = excluded.since";

/// Device columns in [`read_device`] order; `stale` is appended by the query.
const DEVICE_COLUMNS: &str = "console, agent_id, uuid, computer_name, os_name, os_type, \
    os_revision, os_arch, agent_version, ips, macs, external_ip, last_logged_in_user, account_id, \
    account_name, site_id, site_name, group_id, group_name, machine_type, serial_number, domain, \
    model_name, network_status, infected, active_threats, last_active_at, registered_at, \
    console_updated_at, is_active, is_decommissioned, is_uninstalled, first_seen_at, \
    last_seen_at, removed_at, duplicate_of, tags";

/// `stale` for a row, given the cutoff as `:cutoff` (NULL disables staleness).
const STALE_EXPR: &str = "(removed_at IS NULL AND is_decommissioned = 0 \
    AND last_active_at IS NOT NULL AND :cutoff IS NOT NULL AND last_active_at < :cutoff)";

fn read_device(row: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        console: row.get(0)?,
        agent_id: row.get(1)?,
        uuid: row.get(2)?,
        computer_name: row.get(3)?,
        os_name: row.get(4)?,
        os_type: row.get(5)?,
        os_revision: row.get(6)?,
        os_arch: row.get(7)?,
        agent_version: row.get(8)?,
        ips: string_list(row, 9)?,
        macs: string_list(row, 10)?,
        external_ip: row.get(11)?,
        last_logged_in_user: row.get(12)?,
        account_id: row.get(13)?,
        account_name: row.get(14)?,
        site_id: row.get(15)?,
        site_name: row.get(16)?,
        group_id: row.get(17)?,
        group_name: row.get(18)?,
        machine_type: row.get(19)?,
        serial_number: row.get(20)?,
        domain: row.get(21)?,
        model_name: row.get(22)?,
        network_status: row.get(23)?,
        infected: row.get(24)?,
        active_threats: row.get(25)?,
        last_active_at: get_opt_ts(row, 26)?,
        registered_at: get_opt_ts(row, 27)?,
        console_updated_at: row.get(28)?,
        is_active: row.get(29)?,
        is_decommissioned: row.get(30)?,
        is_uninstalled: row.get(31)?,
        first_seen_at: get_ts(row, 32)?,
        last_seen_at: get_ts(row, 33)?,
        removed_at: get_opt_ts(row, 34)?,
        duplicate_of: row.get(35)?,
        tags: string_list(row, 36)?,
        stale: row.get(37)?,
    })
}

fn read_checkpoint(row: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    let kind: String = row.get(4)?;
    let kind = match kind.as_str() {
        "full" => PassKind::Full,
        "incremental" => PassKind::Incremental,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                4,
                Type::Text,
                format!("unknown pass kind '{other}'").into(),
            ));
        }
    };
    Ok(Checkpoint {
        console: row.get(0)?,
        feature: row.get(1)?,
        stream: row.get(2)?,
        pass_id: row.get(3)?,
        kind,
        cursor: row.get(5)?,
        done: row.get(6)?,
        records: to_u64(row.get(7)?),
        max_updated_at: row.get(8)?,
        since: row.get(9)?,
    })
}

fn pass_kind_str(kind: PassKind) -> &'static str {
    match kind {
        PassKind::Full => "full",
        PassKind::Incremental => "incremental",
    }
}

fn read_console(row: &Row<'_>) -> rusqlite::Result<ConsoleRecord> {
    Ok(ConsoleRecord {
        name: row.get(0)?,
        description: row.get(1)?,
        url: row.get(2)?,
        mode: row.get(3)?,
        scope: get_json(row, 4, |s| serde_json::from_str(s))?,
    })
}

fn read_feature(row: &Row<'_>) -> rusqlite::Result<FeatureOutcome> {
    let status: String = row.get(1)?;
    let status = FeatureStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            Type::Text,
            format!("unknown feature status '{status}'").into(),
        )
    })?;
    Ok(FeatureOutcome {
        feature: row.get(0)?,
        status,
        reason: row.get(2)?,
        records: to_u64(row.get(3)?),
        requests: to_u64(row.get(4)?),
        retries: to_u64(row.get(5)?),
        errors: to_u64(row.get(6)?),
        started_at: get_opt_ts(row, 7)?,
        finished_at: get_opt_ts(row, 8)?,
    })
}

const RUN_COLUMNS: &str = "run_id, console, status, started_at, finished_at, heartbeat_at, owner";

fn read_run(row: &Row<'_>) -> rusqlite::Result<SyncRun> {
    let status: String = row.get(2)?;
    let status = RunStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Text,
            format!("unknown run status '{status}'").into(),
        )
    })?;
    Ok(SyncRun {
        run_id: row.get(0)?,
        console: row.get(1)?,
        status,
        started_at: get_ts(row, 3)?,
        finished_at: get_opt_ts(row, 4)?,
        heartbeat_at: get_opt_ts(row, 5)?,
        owner: row.get(6)?,
        features: Vec::new(),
    })
}

/// Attach the recorded feature outcomes to each run (in the order they were first recorded).
fn load_features(tx: &Transaction<'_>, runs: &mut [SyncRun]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT feature, status, reason, records, requests, retries, errors, started_at, \
             finished_at FROM run_features WHERE run_id = ?1 ORDER BY rowid",
        )
        .ctx("reading the features of a sync run")?;
    for run in runs {
        run.features = stmt
            .query_map([run.run_id], read_feature)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("reading the features of a sync run")?;
    }
    Ok(())
}

/// Fail with `NotFound` unless the run exists.
fn require_run(tx: &Transaction<'_>, run_id: i64) -> Result<String> {
    tx.query_row(
        "SELECT status FROM sync_runs WHERE run_id = ?1",
        [run_id],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .ctx("looking up a sync run")?
    .ok_or_else(|| StoreError::NotFound(format!("sync run {run_id}")))
}

// ---------------------------------------------------------------------------------------------
// Duplicates

/// One present device, as far as duplicate detection is concerned: its row, its stored link
/// and what the shared rule ([`s1bridge_store::duplicate_links`]) compares (timestamps as their
/// fixed-width text, which orders like time).
struct DupRow {
    rowid: i64,
    duplicate_of: Option<String>,
    agent_id: String,
}

/// Recompute `duplicate_of` for the console's present devices. Within a group of devices whose
/// names are equal after trimming and lower-casing (empty names are never grouped), two records
/// are the same machine when they share a serial number, share a MAC address (all-zero MACs are
/// ignored), or neither has a serial number; the relation is closed transitively. In each
/// cluster of two or more records the newest (greatest `last_active_at`, then `registered_at`,
/// then `agent_id`) is the original and every other record points at it. Removed devices never
/// carry a link. Returns the number of present devices that are duplicates.
/// What [`recompute_duplicates`] learnt about the present devices while it had them loaded.
struct PresentSummary {
    duplicates: u64,
    /// Present devices last written by one of the given passes.
    seen: u64,
    /// Present devices that one of the given passes brought back from removed.
    restored: u64,
}

fn recompute_duplicates(
    tx: &Transaction<'_>,
    console: &str,
    passes: &[i64],
) -> Result<PresentSummary> {
    const DOING: &str = "recomputing duplicate devices";
    let mut summary = PresentSummary {
        duplicates: 0,
        seen: 0,
        restored: 0,
    };
    let (rows, candidates): (Vec<DupRow>, Vec<DuplicateCandidate<String>>) = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT rowid, agent_id, computer_name, serial_number, macs, last_active_at, \
                 registered_at, duplicate_of, last_pass_id, restored_pass FROM devices \
                 WHERE console = ?1 AND removed_at IS NULL",
            )
            .ctx(DOING)?;
        stmt.query_map([console], |r| {
            let last_pass: i64 = r.get(8)?;
            let restored_pass: Option<i64> = r.get(9)?;
            if passes.contains(&last_pass) {
                summary.seen += 1;
            }
            if restored_pass.is_some_and(|p| passes.contains(&p)) {
                summary.restored += 1;
            }
            let name: String = r.get(2)?;
            let serial: Option<String> = r.get(3)?;
            let agent_id: String = r.get(1)?;
            Ok((
                DupRow {
                    rowid: r.get(0)?,
                    duplicate_of: r.get(7)?,
                    agent_id: agent_id.clone(),
                },
                DuplicateCandidate {
                    agent_id,
                    name: duplicate_name(&name),
                    serial: duplicate_serial(serial.as_deref()),
                    macs: string_list(r, 4).unwrap_or_default(),
                    last_active_at: r.get(5)?,
                    registered_at: r.get(6)?,
                },
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx(DOING)?
        .into_iter()
        .unzip()
    };
    let links = duplicate_links(&candidates);
    let mut update = tx
        .prepare_cached("UPDATE devices SET duplicate_of = ?1 WHERE rowid = ?2")
        .ctx(DOING)?;
    for (row, link) in rows.iter().zip(&links) {
        let want = link.map(|i| rows[i].agent_id.as_str());
        if want.is_some() {
            summary.duplicates += 1;
        }
        if want != row.duplicate_of.as_deref() {
            update
                .execute(rusqlite::params![want, row.rowid])
                .ctx(DOING)?;
        }
    }
    // Removed devices carry no link: the removal itself clears it and nothing sets one on a
    // removed device.
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Device pages

/// The text columns of a device row, in the order they are stored in an [`EncodedRow`].
mod col {
    pub const AGENT_ID: usize = 0;
    pub const UUID: usize = 1;
    pub const COMPUTER_NAME: usize = 2;
    pub const OS_NAME: usize = 3;
    pub const OS_TYPE: usize = 4;
    pub const OS_REVISION: usize = 5;
    pub const OS_ARCH: usize = 6;
    pub const AGENT_VERSION: usize = 7;
    pub const IPS: usize = 8;
    pub const MACS: usize = 9;
    pub const EXTERNAL_IP: usize = 10;
    pub const LAST_LOGGED_IN_USER: usize = 11;
    pub const ACCOUNT_ID: usize = 12;
    pub const ACCOUNT_NAME: usize = 13;
    pub const SITE_ID: usize = 14;
    pub const SITE_NAME: usize = 15;
    pub const GROUP_ID: usize = 16;
    pub const GROUP_NAME: usize = 17;
    pub const MACHINE_TYPE: usize = 18;
    pub const SERIAL_NUMBER: usize = 19;
    pub const DOMAIN: usize = 20;
    pub const MODEL_NAME: usize = 21;
    pub const NETWORK_STATUS: usize = 22;
    pub const LAST_ACTIVE_AT: usize = 23;
    pub const REGISTERED_AT: usize = 24;
    pub const CONSOLE_UPDATED_AT: usize = 25;
    pub const LAST_SEEN_AT: usize = 26;
    pub const TAGS: usize = 27;
    pub const COUNT: usize = 28;
}

/// A slice of [`EncodedPage::text`]; `start == u32::MAX` is NULL.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

const NULL_SPAN: Span = Span {
    start: u32::MAX,
    len: 0,
};

struct EncodedRow {
    text: [Span; col::COUNT],
    active_threats: i64,
    infected: bool,
    is_active: bool,
    is_decommissioned: bool,
    is_uninstalled: bool,
}

/// A page of devices flattened into one text arena: moving it to the blocking pool costs two
/// allocations per page instead of a deep copy of every device (about 30 strings each), and the
/// JSON lists and timestamps are already in their stored form.
struct EncodedPage {
    text: String,
    rows: Vec<EncodedRow>,
}

impl EncodedPage {
    fn encode(console: &str, devices: &[Device]) -> Result<EncodedPage> {
        let mut page = EncodedPage {
            text: String::with_capacity(devices.len() * 512),
            rows: Vec::with_capacity(devices.len()),
        };
        let mut scratch = Vec::with_capacity(256);
        for (i, d) in devices.iter().enumerate() {
            if !d.console.is_empty() && d.console != console {
                return Err(StoreError::Backend(format!(
                    "device #{i} (agent {}) belongs to console '{}' but the page is for console \
                     '{console}'; nothing from this page was stored",
                    d.agent_id, d.console
                )));
            }
            let mut row = EncodedRow {
                text: [NULL_SPAN; col::COUNT],
                active_threats: d.active_threats,
                infected: d.infected,
                is_active: d.is_active,
                is_decommissioned: d.is_decommissioned,
                is_uninstalled: d.is_uninstalled,
            };
            let opt = |page: &mut EncodedPage, v: &Option<String>| match v {
                Some(v) => page.push(v),
                None => Ok(NULL_SPAN),
            };
            row.text[col::AGENT_ID] = page.push(&d.agent_id)?;
            row.text[col::UUID] = opt(&mut page, &d.uuid)?;
            row.text[col::COMPUTER_NAME] = page.push(&d.computer_name)?;
            row.text[col::OS_NAME] = opt(&mut page, &d.os_name)?;
            row.text[col::OS_TYPE] = opt(&mut page, &d.os_type)?;
            row.text[col::OS_REVISION] = opt(&mut page, &d.os_revision)?;
            row.text[col::OS_ARCH] = opt(&mut page, &d.os_arch)?;
            row.text[col::AGENT_VERSION] = opt(&mut page, &d.agent_version)?;
            row.text[col::IPS] = page.push_json_list(&mut scratch, &d.ips)?;
            row.text[col::MACS] = page.push_json_list(&mut scratch, &d.macs)?;
            row.text[col::TAGS] = page.push_json_list(&mut scratch, &d.tags)?;
            row.text[col::EXTERNAL_IP] = opt(&mut page, &d.external_ip)?;
            row.text[col::LAST_LOGGED_IN_USER] = opt(&mut page, &d.last_logged_in_user)?;
            row.text[col::ACCOUNT_ID] = opt(&mut page, &d.account_id)?;
            row.text[col::ACCOUNT_NAME] = opt(&mut page, &d.account_name)?;
            row.text[col::SITE_ID] = opt(&mut page, &d.site_id)?;
            row.text[col::SITE_NAME] = opt(&mut page, &d.site_name)?;
            row.text[col::GROUP_ID] = opt(&mut page, &d.group_id)?;
            row.text[col::GROUP_NAME] = opt(&mut page, &d.group_name)?;
            row.text[col::MACHINE_TYPE] = opt(&mut page, &d.machine_type)?;
            row.text[col::SERIAL_NUMBER] = opt(&mut page, &d.serial_number)?;
            row.text[col::DOMAIN] = opt(&mut page, &d.domain)?;
            row.text[col::MODEL_NAME] = opt(&mut page, &d.model_name)?;
            row.text[col::NETWORK_STATUS] = opt(&mut page, &d.network_status)?;
            row.text[col::LAST_ACTIVE_AT] = match &d.last_active_at {
                Some(t) => page.push(Ts::new(t).as_str())?,
                None => NULL_SPAN,
            };
            row.text[col::REGISTERED_AT] = match &d.registered_at {
                Some(t) => page.push(Ts::new(t).as_str())?,
                None => NULL_SPAN,
            };
            row.text[col::CONSOLE_UPDATED_AT] = opt(&mut page, &d.console_updated_at)?;
            row.text[col::LAST_SEEN_AT] = page.push(Ts::new(&d.last_seen_at).as_str())?;
            page.rows.push(row);
        }
        Ok(page)
    }

    fn span(&self, start: usize) -> Result<Span> {
        let too_big =
            || StoreError::Backend("a page is larger than 4 GiB; send smaller pages".to_string());
        let start32 = u32::try_from(start).map_err(|_| too_big())?;
        let len = u32::try_from(self.text.len() - start).map_err(|_| too_big())?;
        if start32 == u32::MAX {
            return Err(too_big());
        }
        Ok(Span {
            start: start32,
            len,
        })
    }

    fn push(&mut self, v: &str) -> Result<Span> {
        let start = self.text.len();
        self.text.push_str(v);
        self.span(start)
    }

    /// Append `list` as a JSON array, through `scratch` (reused across rows).
    fn push_json_list(&mut self, scratch: &mut Vec<u8>, list: &[String]) -> Result<Span> {
        scratch.clear();
        serde_json::to_writer(&mut *scratch, list)
            .map_err(|e| StoreError::Backend(format!("cannot encode an address list: {e}")))?;
        self.push_utf8(scratch, "an address list")
    }

    /// Append encoded JSON (`what` names it in the error).
    fn push_utf8(&mut self, encoded: &[u8], what: &str) -> Result<Span> {
        let encoded = std::str::from_utf8(encoded)
            .map_err(|e| StoreError::Backend(format!("{what} did not encode as UTF-8: {e}")))?;
        self.push(encoded)
    }

    fn get(&self, span: Span) -> Option<&str> {
        if span.start == u32::MAX {
            return None;
        }
        let start = span.start as usize;
        self.text.get(start..start + span.len as usize)
    }
}

fn apply_page(
    conn: &mut Connection,
    console: &str,
    pass_id: i64,
    page: &EncodedPage,
    checkpoint: Option<&Checkpoint>,
) -> Result<DevicePageStats> {
    const DOING: &str = "storing a page of devices";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let mut stats = DevicePageStats::default();
    if !page.rows.is_empty() {
        // Insert or update? An insert gets rowid = max(rowid) + 1 and sets last_insert_rowid;
        // the DO UPDATE path leaves last_insert_rowid alone. So a statement inserted iff
        // last_insert_rowid changed to a value above the running maximum. The only ambiguous
        // start is a leftover last_insert_rowid (from another table) equal to max + 1; then the
        // first row is probed explicitly.
        let mut max_rowid: i64 = tx
            .query_row("SELECT coalesce(max(rowid), 0) FROM devices", [], |r| {
                r.get(0)
            })
            .ctx(DOING)?;
        let mut last = tx.last_insert_rowid();
        let mut stmt = tx.prepare_cached(UPSERT_DEVICE).ctx(DOING)?;
        for (i, row) in page.rows.iter().enumerate() {
            let t = |c: usize| page.get(row.text[c]);
            let probed_existing = if last == max_rowid.saturating_add(1) {
                Some(
                    tx.prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM devices WHERE console = ?1 AND agent_id = ?2)",
                    )
                    .and_then(|mut probe| {
                        probe.query_row(rusqlite::params![console, t(col::AGENT_ID)], |r| {
                            r.get::<_, bool>(0)
                        })
                    })
                    .ctx(DOING)?,
                )
            } else {
                None
            };
            stmt.execute(rusqlite::params![
                console,
                t(col::AGENT_ID),
                t(col::UUID),
                t(col::COMPUTER_NAME),
                t(col::OS_NAME),
                t(col::OS_TYPE),
                t(col::OS_REVISION),
                t(col::OS_ARCH),
                t(col::AGENT_VERSION),
                t(col::IPS),
                t(col::MACS),
                t(col::EXTERNAL_IP),
                t(col::LAST_LOGGED_IN_USER),
                t(col::ACCOUNT_ID),
                t(col::ACCOUNT_NAME),
                t(col::SITE_ID),
                t(col::SITE_NAME),
                t(col::GROUP_ID),
                t(col::GROUP_NAME),
                t(col::MACHINE_TYPE),
                t(col::SERIAL_NUMBER),
                t(col::DOMAIN),
                t(col::MODEL_NAME),
                t(col::NETWORK_STATUS),
                row.infected,
                row.active_threats,
                t(col::LAST_ACTIVE_AT),
                t(col::REGISTERED_AT),
                t(col::CONSOLE_UPDATED_AT),
                row.is_active,
                row.is_decommissioned,
                row.is_uninstalled,
                t(col::LAST_SEEN_AT),
                pass_id,
                t(col::TAGS),
            ])
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Backend(format!(
                    "device #{i} (agent '{}') of the page was rejected ({e}; an agent_id must \
                     not be empty); nothing from this page was stored",
                    t(col::AGENT_ID).unwrap_or_default()
                )),
                _ => db_err(DOING, e),
            })?;
            let now = tx.last_insert_rowid();
            let inserted = match probed_existing {
                Some(existed) => !existed,
                None => now != last && now > max_rowid,
            };
            if inserted {
                stats.inserted += 1;
                max_rowid = now;
                last = now;
            } else {
                stats.updated += 1;
            }
        }
    }
    store_checkpoint(&tx, console, checkpoint)?;
    tx.commit().ctx(DOING)?;
    Ok(stats)
}

/// Save the checkpoint of a page of `console` (if any) inside the page's transaction; one of
/// another console fails the page.
fn store_checkpoint(
    tx: &Transaction<'_>,
    console: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<()> {
    if let Some(cp) = checkpoint {
        if cp.console != console {
            return Err(StoreError::Backend(format!(
                "the checkpoint is for console '{}' but the page is for console '{console}'; \
                 nothing from this page was stored",
                cp.console
            )));
        }
        save_checkpoint(tx, cp)?;
    }
    Ok(())
}

fn save_checkpoint(tx: &Transaction<'_>, cp: &Checkpoint) -> Result<()> {
    tx.prepare_cached(UPSERT_CHECKPOINT)
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![
                cp.console,
                cp.feature,
                cp.stream,
                cp.pass_id,
                pass_kind_str(cp.kind),
                cp.cursor,
                cp.done,
                to_i64(cp.records),
                cp.max_updated_at,
                cp.since,
            ])
        })
        .ctx("saving a checkpoint")?;
    Ok(())
}

fn scope_json(scope: &Scope) -> Result<[String; 3]> {
    Ok([
        json(
            serde_json::to_string(&scope.account_ids),
            "the scope's account ids",
        )?,
        json(
            serde_json::to_string(&scope.site_ids),
            "the scope's site ids",
        )?,
        json(
            serde_json::to_string(&scope.group_ids),
            "the scope's group ids",
        )?,
    ])
}

/// Present devices of console ?1 that pass ?2 did not see, inside the scope (?4 = scope is
/// empty; ?5/?6/?7 = JSON arrays of account/site/group ids). ?3 is free for the caller.
const UNSEEN_IN_SCOPE: &str = "console = ?1 AND removed_at IS NULL AND last_pass_id <> ?2
    AND (?4 OR account_id IN (SELECT value FROM json_each(?5))
            OR site_id IN (SELECT value FROM json_each(?6))
            OR group_id IN (SELECT value FROM json_each(?7)))";

fn removal_candidates(
    conn: &mut Connection,
    console: &str,
    pass_id: i64,
    scope: &Scope,
    limit: u32,
) -> Result<Vec<String>> {
    const DOING: &str = "listing devices a full pass did not see";
    let [accounts, sites, groups] = scope_json(scope)?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT agent_id FROM devices WHERE {UNSEEN_IN_SCOPE} ORDER BY agent_id LIMIT ?3"
        ))
        .ctx(DOING)?;
    stmt.query_map(
        rusqlite::params![
            console,
            pass_id,
            i64::from(limit),
            scope.is_empty(),
            accounts,
            sites,
            groups
        ],
        |r| r.get(0),
    )
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
    .ctx(DOING)
}

fn full_pass(
    conn: &mut Connection,
    console: &str,
    pass_id: i64,
    scope: &Scope,
    at: DateTime<Utc>,
    watermark: Option<&str>,
) -> Result<PassSummary> {
    const DOING: &str = "completing a full pass";
    let [accounts, sites, groups] = scope_json(scope)?;
    let at = ts(&at);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let newly_removed = tx
        .execute(
            &format!(
                "UPDATE devices SET removed_at = ?3, duplicate_of = NULL WHERE {UNSEEN_IN_SCOPE}"
            ),
            rusqlite::params![
                console,
                pass_id,
                at,
                scope.is_empty(),
                accounts,
                sites,
                groups
            ],
        )
        .ctx(DOING)?;
    let present = recompute_duplicates(&tx, console, &[pass_id])?;
    tx.execute(
        "DELETE FROM checkpoints WHERE console = ?1 AND feature = ?2",
        rusqlite::params![console, DEVICES_FEATURE],
    )
    .ctx(DOING)?;
    tx.execute(
        "INSERT INTO watermarks (console, feature, value, last_full_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (console, feature) DO UPDATE SET
             value = coalesce(excluded.value, watermarks.value),
             last_full_at = excluded.last_full_at",
        rusqlite::params![console, DEVICES_FEATURE, watermark, at],
    )
    .ctx(DOING)?;
    tx.commit().ctx(DOING)?;
    Ok(PassSummary {
        seen: present.seen,
        newly_removed: newly_removed as u64,
        restored: present.restored,
        duplicates: present.duplicates,
    })
}

fn incremental_pass(
    conn: &mut Connection,
    console: &str,
    feature: &str,
    watermark: Option<&str>,
) -> Result<PassSummary> {
    const DOING: &str = "completing an incremental pass";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let (passes, records) = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT pass_id, records FROM checkpoints WHERE console = ?1 AND feature = ?2",
            )
            .ctx(DOING)?;
        let rows = stmt
            .query_map(rusqlite::params![console, feature], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(DOING)?;
        let mut passes: Vec<i64> = rows.iter().map(|(p, _)| *p).collect();
        passes.sort_unstable();
        passes.dedup();
        (passes, rows.iter().map(|(_, n)| to_u64(*n)).sum::<u64>())
    };
    let present = recompute_duplicates(&tx, console, &passes)?;
    // Device passes count the devices they wrote; other features their checkpointed records.
    let (seen, restored) = if feature == DEVICES_FEATURE {
        (present.seen, present.restored)
    } else {
        (records, 0)
    };
    tx.execute(
        "DELETE FROM checkpoints WHERE console = ?1 AND feature = ?2",
        rusqlite::params![console, feature],
    )
    .ctx(DOING)?;
    if let Some(value) = watermark {
        tx.execute(
            "INSERT INTO watermarks (console, feature, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (console, feature) DO UPDATE SET value = excluded.value",
            rusqlite::params![console, feature, value],
        )
        .ctx(DOING)?;
    }
    tx.commit().ctx(DOING)?;
    Ok(PassSummary {
        seen,
        newly_removed: 0,
        restored,
        duplicates: present.duplicates,
    })
}

/// Mark a running run abandoned and its unfinished features failed, saying why.
fn abandon(tx: &Transaction<'_>, run_id: i64, now: &str, why: &str) -> Result<()> {
    const DOING: &str = "abandoning a sync run";
    tx.execute(
        "UPDATE sync_runs SET status = 'abandoned', finished_at = ?2
         WHERE run_id = ?1 AND status = 'running'",
        rusqlite::params![run_id, now],
    )
    .ctx(DOING)?;
    tx.execute(
        "UPDATE run_features SET status = 'failed', finished_at = ?2,
             reason = 'the sync process stopped before this feature finished (run abandoned: ' || ?3 || ')'
         WHERE run_id = ?1 AND status = 'running'",
        rusqlite::params![run_id, now, why],
    )
    .ctx(DOING)?;
    Ok(())
}

fn begin(
    conn: &mut Connection,
    console: &str,
    planned: &str,
    started_at: DateTime<Utc>,
    stale_after: chrono::Duration,
) -> Result<i64> {
    const DOING: &str = "starting a sync run";
    let now = ts(&started_at);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    #[allow(clippy::type_complexity)]
    let running: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>, Option<String>)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT run_id, started_at, heartbeat_at, owner FROM sync_runs
                 WHERE console = ?1 AND status = 'running' ORDER BY run_id",
            )
            .ctx(DOING)?;
        stmt.query_map([console], |r| {
            Ok((r.get(0)?, get_ts(r, 1)?, get_opt_ts(r, 2)?, r.get(3)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx(DOING)?
    };
    // An unrepresentable cutoff (absurd stale_after) means no run is ever stale.
    let cutoff = started_at.checked_sub_signed(stale_after);
    for (run_id, run_started, heartbeat, owner) in running {
        let alive_at = heartbeat.map_or(run_started, |h| h.max(run_started));
        if cutoff.is_none_or(|cutoff| alive_at > cutoff) {
            return Err(StoreError::ConsoleBusy {
                console: console.to_string(),
                run_id,
                started_at: run_started,
                owner,
            });
        }
        tracing::warn!(
            console,
            run_id,
            last_alive = %alive_at,
            "marking a sync run abandoned: its process stopped sending heartbeats"
        );
        abandon(&tx, run_id, &now, "its process stopped sending heartbeats")?;
    }
    let run_id: i64 = tx
        .query_row(
            "INSERT INTO sync_runs (console, status, started_at, planned)
             VALUES (?1, 'running', ?2, ?3) RETURNING run_id",
            rusqlite::params![console, now, planned],
            |r| r.get(0),
        )
        .ctx(DOING)?;
    tx.commit().ctx(DOING)?;
    Ok(run_id)
}

/// One page of a console's devices in `agent_id` order (the primary key's, so no sort).
fn device_page_query(
    conn: &mut Connection,
    console: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Device>> {
    walk_devices(
        conn,
        "listing a page of devices",
        &format!("{DEVICE_COLUMNS}, 0 AS stale"),
        (console, after, limit),
        read_device,
    )
}

/// [`device_page_query`], reading only the columns of [`DeviceFacts`].
fn device_facts_page_query(
    conn: &mut Connection,
    console: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<DeviceFacts>> {
    walk_devices(
        conn,
        "listing a page of device facts",
        "agent_id, computer_name, account_id, site_id, site_name, group_id, group_name, \
         machine_type, ips, tags, is_decommissioned, last_active_at, removed_at IS NOT NULL",
        (console, after, limit),
        |row| {
            Ok(DeviceFacts {
                agent_id: row.get(0)?,
                computer_name: row.get(1)?,
                account_id: row.get(2)?,
                site_id: row.get(3)?,
                site_name: row.get(4)?,
                group_id: row.get(5)?,
                group_name: row.get(6)?,
                machine_type: row.get(7)?,
                ips: string_list(row, 8)?,
                tags: string_list(row, 9)?,
                is_decommissioned: row.get(10)?,
                last_active_at: get_opt_ts(row, 11)?,
                removed: row.get(12)?,
            })
        },
    )
}

/// One page of a console's devices in agent-id order after `after` (at most `limit`, 0 = all),
/// as `columns` read by `read`.
fn walk_devices<T>(
    conn: &mut Connection,
    doing: &str,
    columns: &str,
    (console, after, limit): (&str, Option<&str>, u32),
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    // Agent ids are never empty, so '' starts the walk; a plain `agent_id > ?2` is an index
    // range (an `?2 IS NULL OR …` would make every page scan the console from its start).
    let after = after.unwrap_or("");
    let limit: i64 = if limit == 0 { -1 } else { i64::from(limit) };
    conn.prepare_cached(&format!(
        "SELECT {columns} FROM devices \
         WHERE console = ?1 AND agent_id > ?2 ORDER BY agent_id LIMIT ?3"
    ))
    .and_then(|mut stmt| {
        stmt.query_map(rusqlite::params![console, after, limit], read)?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .ctx(doing)
}

fn devices_query(
    conn: &mut Connection,
    filter: &DeviceFilter,
    cutoff: Option<String>,
) -> Result<Vec<Device>> {
    let mut sql =
        format!("SELECT {DEVICE_COLUMNS}, {STALE_EXPR} AS stale FROM devices WHERE 1 = 1");
    if filter.console.is_some() {
        sql.push_str(" AND console = :console");
    }
    if !filter.include_removed {
        sql.push_str(if filter.removed {
            " AND removed_at IS NOT NULL"
        } else {
            " AND removed_at IS NULL"
        });
    }
    if filter.only_stale {
        sql.push_str(" AND ");
        sql.push_str(STALE_EXPR);
    }
    if filter.only_duplicates {
        sql.push_str(" AND duplicate_of IS NOT NULL");
    }
    if filter.only_decommissioned {
        sql.push_str(" AND is_decommissioned = 1");
    }
    // Sorting and limiting happen in Rust: SQLite would sort whole rows (~700 bytes each) in its
    // external sorter, several times slower than sorting the decoded devices.
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![(":cutoff", &cutoff)];
    if let Some(console) = &filter.console {
        params.push((":console", console));
    }
    const DOING: &str = "listing devices";
    let tx = conn.transaction().ctx(DOING)?;
    let mut devices = {
        let mut stmt = tx.prepare_cached(&sql).ctx(DOING)?;
        stmt.query_map(params.as_slice(), read_device)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(DOING)?
    };
    tx.commit().ctx(DOING)?;
    devices.sort_unstable_by(|a, b| {
        (&a.computer_name, &a.agent_id, &a.console).cmp(&(
            &b.computer_name,
            &b.agent_id,
            &b.console,
        ))
    });
    if let Some(limit) = filter.limit {
        devices.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(devices)
}

// ---------------------------------------------------------------------------------------------
// The trait

impl SqliteStore {
    /// One immediate transaction on an existing run: `change` gets the run's current status;
    /// an unknown run is `NotFound`. The shape of every run update.
    async fn update_run<F>(&self, run_id: i64, doing: &'static str, change: F) -> Result<()>
    where
        F: FnOnce(&Transaction<'_>, &str) -> Result<()> + Send + 'static,
    {
        self.with_writer(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(doing)?;
            let status = require_run(&tx, run_id)?;
            change(&tx, &status)?;
            tx.commit().ctx(doing)
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_console(&self, console: &ConsoleRecord) -> Result<()> {
        if console.name.trim().is_empty() {
            return Err(StoreError::Backend(
                "a console needs a non-empty name; give it one with --console NAME".into(),
            ));
        }
        let console = console.clone();
        let scope = json(serde_json::to_string(&console.scope), "the console scope")?;
        self.with_writer(move |conn| {
            const DOING: &str = "saving a console";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(DOING)?;
            tx.execute(
                "INSERT INTO consoles (name, description, url, mode, scope)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                     url = excluded.url, mode = excluded.mode, scope = excluded.scope",
                rusqlite::params![
                    console.name,
                    console.description,
                    console.url,
                    console.mode,
                    scope
                ],
            )
            .ctx(DOING)?;
            tx.commit().ctx(DOING)
        })
        .await
    }

    async fn get_console(&self, name: &str) -> Result<Option<ConsoleRecord>> {
        let name = name.to_string();
        self.with_reader(move |conn| {
            conn.query_row(
                "SELECT name, description, url, mode, scope FROM consoles WHERE name = ?1",
                [name],
                read_console,
            )
            .optional()
            .ctx("reading a console")
        })
        .await
    }

    async fn list_consoles(&self) -> Result<Vec<ConsoleRecord>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, description, url, mode, scope FROM consoles ORDER BY name",
                )
                .ctx("listing consoles")?;
            stmt.query_map([], read_console)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .ctx("listing consoles")
        })
        .await
    }

    async fn begin_run(
        &self,
        console: &str,
        features: &[String],
        started_at: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<i64> {
        let console = console.to_string();
        let planned = json(serde_json::to_string(features), "the run's features")?;
        self.with_writer(move |conn| begin(conn, &console, &planned, started_at, stale_after))
            .await
    }

    async fn set_run_owner(&self, run_id: i64, owner: &str) -> Result<()> {
        let owner = owner.to_string();
        self.update_run(
            run_id,
            "recording the owner of a sync run",
            move |tx, _status| {
                const DOING: &str = "recording the owner of a sync run";
                tx.execute(
                    "UPDATE sync_runs SET owner = ?2 WHERE run_id = ?1",
                    rusqlite::params![run_id, owner],
                )
                .ctx(DOING)?;
                Ok(())
            },
        )
        .await
    }

    async fn abandon_run(&self, run_id: i64, at: DateTime<Utc>, why: &str) -> Result<()> {
        let why = why.to_string();
        self.update_run(run_id, "abandoning a sync run", move |tx, _status| {
            abandon(tx, run_id, &ts(&at), &why)?;
            Ok(())
        })
        .await
    }

    async fn heartbeat_run(&self, run_id: i64, at: DateTime<Utc>) -> Result<()> {
        let at = ts(&at);
        self.update_run(run_id, "recording a heartbeat", move |tx, status| {
            const DOING: &str = "recording a heartbeat";
            if status != RunStatus::Running.as_str() {
                return Err(StoreError::NotFound(format!(
                    "running sync run {run_id} (it is '{status}': it finished or another process \
                     declared it abandoned); stop this sync and start a new one"
                )));
            }
            tx.execute(
                "UPDATE sync_runs SET heartbeat_at = ?2 WHERE run_id = ?1",
                rusqlite::params![run_id, at],
            )
            .ctx(DOING)?;
            Ok(())
        })
        .await
    }

    async fn record_feature(&self, run_id: i64, outcome: &FeatureOutcome) -> Result<()> {
        let o = outcome.clone();
        self.update_run(run_id, "recording a feature outcome", move |tx, _status| {
            const DOING: &str = "recording a feature outcome";
            tx.execute(
                "INSERT INTO run_features (run_id, feature, status, reason, records, requests,
                                           retries, errors, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (run_id, feature) DO UPDATE SET status = excluded.status,
                     reason = excluded.reason, records = excluded.records,
                     requests = excluded.requests, retries = excluded.retries,
                     errors = excluded.errors, started_at = excluded.started_at,
                     finished_at = excluded.finished_at",
                rusqlite::params![
                    run_id,
                    o.feature,
                    o.status.as_str(),
                    o.reason,
                    to_i64(o.records),
                    to_i64(o.requests),
                    to_i64(o.retries),
                    to_i64(o.errors),
                    opt_ts(&o.started_at),
                    opt_ts(&o.finished_at),
                ],
            )
            .ctx(DOING)?;
            Ok(())
        })
        .await
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        finished_at: DateTime<Utc>,
    ) -> Result<()> {
        let at = ts(&finished_at);
        self.update_run(run_id, "finishing a sync run", move |tx, _status| {
            const DOING: &str = "finishing a sync run";
            tx.execute(
                "UPDATE sync_runs SET status = ?2, finished_at = ?3 WHERE run_id = ?1",
                rusqlite::params![run_id, status.as_str(), at],
            )
            .ctx(DOING)?;
            Ok(())
        })
        .await
    }

    async fn get_run(&self, run_id: i64) -> Result<Option<SyncRun>> {
        self.with_reader(move |conn| {
            const DOING: &str = "reading a sync run";
            let tx = conn.transaction().ctx(DOING)?;
            let run = tx
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE run_id = ?1"),
                    [run_id],
                    read_run,
                )
                .optional()
                .ctx(DOING)?;
            let mut runs: Vec<SyncRun> = run.into_iter().collect();
            load_features(&tx, &mut runs)?;
            tx.commit().ctx(DOING)?;
            Ok(runs.pop())
        })
        .await
    }

    async fn list_runs(&self, console: Option<&str>, limit: u32) -> Result<Vec<SyncRun>> {
        let console = console.map(str::to_string);
        self.with_reader(move |conn| {
            const DOING: &str = "listing sync runs";
            let tx = conn.transaction().ctx(DOING)?;
            let limit = if limit == 0 { -1 } else { i64::from(limit) };
            let mut runs = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {RUN_COLUMNS} FROM sync_runs
                         WHERE ?1 IS NULL OR console = ?1
                         ORDER BY started_at DESC, run_id DESC LIMIT ?2"
                    ))
                    .ctx(DOING)?;
                stmt.query_map(rusqlite::params![console, limit], read_run)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .ctx(DOING)?
            };
            load_features(&tx, &mut runs)?;
            tx.commit().ctx(DOING)?;
            Ok(runs)
        })
        .await
    }

    async fn apply_device_page(
        &self,
        console: &str,
        pass_id: i64,
        devices: &[Device],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<DevicePageStats> {
        let console = console.to_string();
        let page = EncodedPage::encode(&console, devices)?;
        let checkpoint = checkpoint.cloned();
        self.with_writer(move |conn| {
            apply_page(conn, &console, pass_id, &page, checkpoint.as_ref())
        })
        .await
    }

    async fn complete_full_pass(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
        watermark: Option<&str>,
    ) -> Result<PassSummary> {
        let console = console.to_string();
        let scope = scope.clone();
        let watermark = watermark.map(str::to_string);
        self.with_writer(move |conn| {
            full_pass(conn, &console, pass_id, &scope, at, watermark.as_deref())
        })
        .await
    }

    async fn removal_candidates(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<String>> {
        let console = console.to_string();
        let scope = scope.clone();
        self.with_writer(move |conn| removal_candidates(conn, &console, pass_id, &scope, limit))
            .await
    }

    async fn agents_with_active_findings(&self, console: &str) -> Result<Vec<String>> {
        let console = console.to_string();
        self.with_reader(move |conn| {
            const DOING: &str = "listing agents with active findings";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT agent_id FROM findings
                     WHERE console = ?1 AND status IN ('new', 'open', 'reopened')
                     ORDER BY agent_id",
                )
                .ctx(DOING)?;
            stmt.query_map([console], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                .ctx(DOING)
        })
        .await
    }

    async fn mark_devices_removed(
        &self,
        console: &str,
        agent_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let console = console.to_string();
        let ids = serde_json::to_string(agent_ids)
            .map_err(|e| StoreError::Backend(format!("encoding agent ids: {e}")))?;
        self.with_writer(move |conn| {
            const DOING: &str = "marking devices removed";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(DOING)?;
            let n = tx
                .execute(
                    "UPDATE devices SET removed_at = ?3, duplicate_of = NULL
                     WHERE console = ?1 AND removed_at IS NULL
                       AND agent_id IN (SELECT value FROM json_each(?2))",
                    rusqlite::params![console, ids, ts(&at)],
                )
                .ctx(DOING)?;
            // Links pointing at a device that is gone are stale too.
            tx.execute(
                "UPDATE devices SET duplicate_of = NULL
                 WHERE console = ?1 AND duplicate_of IN (SELECT value FROM json_each(?2))",
                rusqlite::params![console, ids],
            )
            .ctx(DOING)?;
            tx.commit().ctx(DOING)?;
            Ok(n as u64)
        })
        .await
    }

    async fn complete_incremental_pass(
        &self,
        console: &str,
        feature: &str,
        watermark: Option<&str>,
    ) -> Result<PassSummary> {
        let console = console.to_string();
        let feature = feature.to_string();
        let watermark = watermark.map(str::to_string);
        self.with_writer(move |conn| {
            incremental_pass(conn, &console, &feature, watermark.as_deref())
        })
        .await
    }

    async fn load_checkpoints(&self, console: &str, feature: &str) -> Result<Vec<Checkpoint>> {
        let console = console.to_string();
        let feature = feature.to_string();
        self.with_reader(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT console, feature, stream, pass_id, kind, cursor, done, records,
                            max_updated_at, since
                     FROM checkpoints WHERE console = ?1 AND feature = ?2 ORDER BY stream",
                )
                .ctx("loading checkpoints")?;
            stmt.query_map([console, feature], read_checkpoint)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .ctx("loading checkpoints")
        })
        .await
    }

    async fn clear_checkpoints(&self, console: &str, feature: &str) -> Result<()> {
        let console = console.to_string();
        let feature = feature.to_string();
        self.with_writer(move |conn| {
            const DOING: &str = "clearing checkpoints";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(DOING)?;
            tx.execute(
                "DELETE FROM checkpoints WHERE console = ?1 AND feature = ?2",
                [console, feature],
            )
            .ctx(DOING)?;
            tx.commit().ctx(DOING)
        })
        .await
    }

    async fn get_watermark(&self, console: &str, feature: &str) -> Result<Option<Watermark>> {
        let console = console.to_string();
        let feature = feature.to_string();
        self.with_reader(move |conn| {
            let row: Option<(Option<String>, Option<DateTime<Utc>>)> = conn
                .query_row(
                    "SELECT value, last_full_at FROM watermarks WHERE console = ?1 AND feature = ?2",
                    [console, feature],
                    |r| Ok((r.get(0)?, get_opt_ts(r, 1)?)),
                )
                .optional()
                .ctx("reading a watermark")?;
            Ok(row.and_then(|(value, last_full_at)| {
                value.map(|value| Watermark {
                    value,
                    last_full_at,
                })
            }))
        })
        .await
    }

    async fn device_page(
        &self,
        console: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>> {
        let console = console.to_string();
        let after = after.map(str::to_string);
        self.with_reader(move |conn| device_page_query(conn, &console, after.as_deref(), limit))
            .await
    }

    async fn device_facts_page(
        &self,
        console: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeviceFacts>> {
        let console = console.to_string();
        let after = after.map(str::to_string);
        self.with_reader(move |conn| {
            device_facts_page_query(conn, &console, after.as_deref(), limit)
        })
        .await
    }

    async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let filter = filter.clone();
        // No cutoff (nothing stale) when disabled or before the earliest representable time.
        let cutoff = (filter.stale_days > 0)
            .then(|| {
                let now = filter.now.unwrap_or_else(Utc::now);
                now.checked_sub_signed(chrono::Duration::days(i64::from(filter.stale_days)))
            })
            .flatten()
            .map(|cutoff| ts(&cutoff));
        self.with_reader(move |conn| devices_query(conn, &filter, cutoff))
            .await
    }

    async fn apply_finding_page(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        at: DateTime<Utc>,
        findings: &[FindingObservation],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<FindingPageStats> {
        let console = console.to_string();
        let page = findings::EncodedFindings::encode(&console, findings)?;
        let checkpoint = checkpoint.cloned();
        let at = ts(&at);
        let inner = Arc::clone(&self.inner);
        self.with_writer(move |conn| {
            findings::apply_finding_page(
                conn,
                &console,
                pass_id,
                run_id,
                &at,
                &page,
                checkpoint.as_ref(),
                &inner.factor_sets,
            )
        })
        .await
    }

    async fn complete_finding_pass(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
    ) -> Result<FindingPassSummary> {
        let console = console.to_string();
        let scope = scope.clone();
        let at = ts(&at);
        self.with_writer(move |conn| {
            findings::complete_finding_pass(conn, &console, pass_id, run_id, &scope, &at)
        })
        .await
    }

    async fn list_findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>> {
        let filter = filter.clone();
        self.with_reader(move |conn| findings::list_findings(conn, &filter))
            .await
    }

    async fn get_finding(&self, finding_id: &str) -> Result<Option<Finding>> {
        let finding_id = finding_id.to_string();
        self.with_reader(move |conn| findings::get_finding(conn, &finding_id))
            .await
    }

    async fn finding_history(&self, finding_id: &str) -> Result<Vec<FindingTransition>> {
        let finding_id = finding_id.to_string();
        self.with_reader(move |conn| findings::finding_history(conn, &finding_id))
            .await
    }

    async fn count_devices(&self, console: &str) -> Result<DeviceCounts> {
        let console = console.to_string();
        self.with_reader(move |conn| {
            conn.query_row(
                "SELECT coalesce(sum(removed_at IS NULL), 0),
                        coalesce(sum(removed_at IS NOT NULL), 0),
                        coalesce(sum(removed_at IS NULL AND is_decommissioned = 1), 0),
                        coalesce(sum(removed_at IS NULL AND duplicate_of IS NOT NULL), 0)
                 FROM devices WHERE console = ?1",
                [console],
                |r| {
                    Ok(DeviceCounts {
                        present: to_u64(r.get(0)?),
                        removed: to_u64(r.get(1)?),
                        decommissioned: to_u64(r.get(2)?),
                        duplicates: to_u64(r.get(3)?),
                    })
                },
            )
            .ctx("counting devices")
        })
        .await
    }

    // --- Access and the audit log (access.rs).

    async fn apply_access_snapshot(
        &self,
        console: &str,
        run_id: i64,
        at: DateTime<Utc>,
        snapshot: &AccessSnapshot,
        token_warning: chrono::Duration,
    ) -> Result<AccessSyncSummary> {
        let (console, snapshot) = (console.to_string(), snapshot.clone());
        let origin = ChangeOrigin {
            run_id: Some(run_id),
            at,
            token_warning,
        };
        self.with_writer(move |conn| access::apply_snapshot(conn, &console, &snapshot, origin))
            .await
    }

    async fn load_access(&self, console: &str) -> Result<AccessSnapshot> {
        let console = console.to_string();
        self.with_reader(move |conn| access::load(conn, &console))
            .await
    }

    async fn replace_principal_grants(
        &self,
        console: &str,
        principal: &Principal,
        grants: &[Grant],
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessChange>> {
        let (console, principal, grants) =
            (console.to_string(), principal.clone(), grants.to_vec());
        self.with_writer(move |conn| {
            access::replace_principal_grants(conn, &console, &principal, &grants, at)
        })
        .await
    }

    async fn list_access_changes(&self, filter: &AccessChangeFilter) -> Result<Vec<AccessChange>> {
        let filter = filter.clone();
        self.with_reader(move |conn| access::list_changes(conn, &filter))
            .await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64> {
        let entry = entry.clone();
        self.with_writer(move |conn| access::record_audit(conn, &entry))
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.with_reader(move |conn| access::list_audit(conn, &filter))
            .await
    }

    // --- AI coding agents (see `ai_agents.rs`).

    async fn apply_ai_chunk(
        &self,
        console: &str,
        chunk: &s1bridge_store::AiChunk,
    ) -> Result<s1bridge_store::AiChunkStats> {
        let console = console.to_string();
        let chunk = chunk.clone();
        self.with_writer(move |conn| ai_agents::apply_ai_chunk(conn, &console, &chunk))
            .await
    }

    async fn ai_coverage(&self, console: &str) -> Result<Option<s1bridge_store::AiCoverage>> {
        let console = console.to_string();
        self.with_reader(move |conn| ai_agents::ai_coverage(conn, &console))
            .await
    }

    async fn list_ai_detections(
        &self,
        filter: &s1bridge_store::AiDetectionFilter,
    ) -> Result<Vec<s1bridge_store::AiDetection>> {
        let filter = filter.clone();
        self.with_reader(move |conn| ai_agents::list_ai_detections(conn, &filter))
            .await
    }

    // --- Service (issue 7): implemented in `service.rs`.

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        self.service_create_api_key(key).await
    }
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        self.service_api_key_by_hash(key_hash).await
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.service_list_api_keys().await
    }
    async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.service_revoke_api_key(id, at).await
    }
    async fn put_sealed_token(&self, token: &SealedToken) -> Result<()> {
        self.service_put_sealed_token(token).await
    }
    async fn get_sealed_token(&self, console: &str) -> Result<Option<SealedToken>> {
        self.service_get_sealed_token(console).await
    }

    // --- Indicators (issue 5): implemented in `indicators.rs`.

    async fn upsert_indicators(
        &self,
        console: &str,
        records: &[s1bridge_store::IndicatorUpsert],
        at: DateTime<Utc>,
    ) -> Result<s1bridge_store::IndicatorUpsertStats> {
        let console = console.to_string();
        let records = records.to_vec();
        self.with_writer(move |conn| indicators::upsert(conn, &console, &records, at))
            .await
    }

    async fn set_indicator_states(
        &self,
        console: &str,
        updates: &[(s1bridge_store::IndicatorRef, s1bridge_store::IndicatorState)],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let console = console.to_string();
        let updates = updates.to_vec();
        self.with_writer(move |conn| indicators::set_states(conn, &console, &updates, at))
            .await
    }

    async fn delete_indicators(
        &self,
        console: &str,
        refs: &[s1bridge_store::IndicatorRef],
    ) -> Result<u64> {
        let console = console.to_string();
        let refs = refs.to_vec();
        self.with_writer(move |conn| indicators::delete(conn, &console, &refs))
            .await
    }

    async fn list_indicators(
        &self,
        filter: &s1bridge_store::IndicatorFilter,
    ) -> Result<Vec<s1bridge_store::StoredIndicator>> {
        let filter = filter.clone();
        self.with_reader(move |conn| indicators::list(conn, &filter))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_fixed_width_and_round_trip() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(ts(&a), "2024-01-02T03:04:05.000000000Z");
        assert_eq!(ts(&b), "2024-01-02T03:04:05.123456789Z");
        assert!(ts(&a) < ts(&b));
        assert_eq!(parse_ts(0, &ts(&b)).unwrap(), b);
        let early = Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(ts(&early), "0999-12-31T23:59:59.000000000Z");
        assert_eq!(parse_ts(0, &ts(&early)).unwrap(), early);
    }

    #[test]
    fn default_path_prefers_absolute_xdg_then_home() {
        assert_eq!(
            default_path_from(Some("/x/data".into()), Some("/home/u".into())),
            PathBuf::from("/x/data/s1bridge/s1bridge.db")
        );
        assert_eq!(
            default_path_from(Some("relative".into()), Some("/home/u".into())),
            PathBuf::from("/home/u/.local/share/s1bridge/s1bridge.db")
        );
        assert_eq!(default_path_from(None, None), PathBuf::from("s1bridge.db"));
    }
}
