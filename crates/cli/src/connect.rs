//! Resolving a console (name, URL, token), opening the store, and the commands that talk to a
//! console: `verify` and `sync`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use s1bridge_api::url::ConsoleUrl;
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_store::{ConsoleRecord, Scope, Store};
use s1bridge_store_postgres::{PgStore, is_postgres_url, redact_url};
use s1bridge_store_sqlite::SqliteStore;
use s1bridge_sync::{Feature, Mode, SyncOptions};

use crate::{ConnArgs, SyncArgs, output, progress};

/// A problem with how the command was invoked (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Open the store named by `--db` / `S1BRIDGE_DB`: a `postgres://` (or `postgresql://`) URL
/// opens PostgreSQL, anything else is a SQLite file path (`sqlite://` prefix optional); without
/// either, the default per-user SQLite file.
pub async fn open_store(db: Option<&str>) -> Result<Arc<dyn Store>> {
    let path: PathBuf = match db {
        Some(url) if is_postgres_url(url) => return open_postgres(url).await,
        Some(s) => PathBuf::from(s.strip_prefix("sqlite://").unwrap_or(s)),
        None => SqliteStore::default_path(),
    };
    open_sqlite(&path)
}

/// Open (and migrate) the PostgreSQL database at `url`. Messages name it without its password.
pub async fn open_postgres(url: &str) -> Result<Arc<dyn Store>> {
    let store = PgStore::open(url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(url)))?;
    Ok(Arc::new(store))
}

pub fn open_sqlite(path: &Path) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Read the token from `--token-file` or `S1_API_TOKEN`; `None` when neither is given (the
/// config's reference or the encrypted token store is asked next). The value is never echoed.
pub fn read_token(conn: &ConnArgs) -> Result<Option<ApiToken>> {
    let raw = if let Some(file) = &conn.token_file {
        std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?
    } else if let Ok(v) = std::env::var("S1_API_TOKEN") {
        v
    } else {
        return Ok(None);
    };
    ApiToken::new(raw)
        .map(Some)
        .map_err(|e| usage(format!("the API token is not usable: {e}")))
}

/// Whether the token comes from the command line's sources (no database needed for it).
pub fn has_explicit_token(conn: &ConnArgs) -> bool {
    conn.token_file.is_some() || std::env::var_os("S1_API_TOKEN").is_some()
}

/// The token of console `name` when neither `--token-file` nor `S1_API_TOKEN` is given: the
/// config's reference for it, else the encrypted token store.
async fn configured_token(
    store: Option<&Arc<dyn Store>>,
    conn: &ConnArgs,
    name: &str,
) -> Result<ApiToken> {
    let no_token = || {
        usage(format!(
            "no API token for console '{name}': set S1_API_TOKEN, pass --token-file FILE, or store it with `s1bridge token set {name}` (tokens are never accepted as command-line values)"
        ))
    };
    let reference = conn
        .config
        .console(name)
        .map(|c| c.token.clone())
        .unwrap_or(s1bridge_config::TokenRef::Store);
    let Some(store) = store else {
        return Err(no_token());
    };
    if reference == s1bridge_config::TokenRef::Store
        && store.get_sealed_token(name).await?.is_none()
    {
        return Err(no_token());
    }
    let keys = s1bridge_config::tokens::KeySource::from_env(&conn.config);
    s1bridge_config::tokens::resolve(&**store, name, &reference, &keys)
        .await
        .map_err(|e| usage(e.to_string()))
}

/// Parse a console URL and print what the rules changed.
pub fn parse_url(raw: &str) -> Result<ConsoleUrl> {
    let (url, notices) = ConsoleUrl::parse(raw).map_err(|e| usage(e.to_string()))?;
    for n in notices {
        eprintln!("note: {n}");
    }
    Ok(url)
}

/// `/agents=10:20` → ("/agents", 10 rps, burst 20); the burst defaults to the rate (at least 1).
pub fn parse_rate_limit(spec: &str) -> Result<(String, s1bridge_api::limits::Limit)> {
    let bad = || {
        usage(format!(
            "--rate-limit {spec:?}: expected PREFIX=RPS[:BURST], e.g. /agents=10:10"
        ))
    };
    let (prefix, rest) = spec.split_once('=').ok_or_else(bad)?;
    let (rps, burst) = match rest.split_once(':') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let rps: f64 = rps.trim().parse().map_err(|_| bad())?;
    if !(rps.is_finite() && rps > 0.0) || prefix.trim().is_empty() {
        return Err(bad());
    }
    let burst: u32 = match burst {
        Some(b) => b.trim().parse().map_err(|_| bad())?,
        None => rps.ceil().max(1.0) as u32,
    };
    if burst == 0 {
        return Err(bad());
    }
    Ok((
        prefix.trim().to_string(),
        s1bridge_api::limits::Limit::new(rps, burst),
    ))
}

/// The console a command talks to: its name, its URL and a client.
pub struct Connection {
    pub name: String,
    pub url: ConsoleUrl,
    pub client: Client,
}

pub async fn connect(store: Option<&Arc<dyn Store>>, conn: &ConnArgs) -> Result<Connection> {
    let (name, url) = match (&conn.console, &conn.url) {
        (_, Some(u)) => {
            let url = parse_url(u)?;
            let name = conn
                .console
                .clone()
                .unwrap_or_else(|| url.host().to_string());
            (name, url)
        }
        (Some(name), None) if conn.config.console(name).is_some() => {
            let c = conn.config.console(name).expect("checked");
            (name.clone(), parse_url(&c.url)?)
        }
        (None, None) if conn.config.consoles.len() == 1 => {
            let c = &conn.config.consoles[0];
            (c.name.clone(), parse_url(&c.url)?)
        }
        (Some(name), None) => {
            let Some(store) = store else {
                return Err(usage(format!(
                    "--console {name} needs --url (no console is registered yet)"
                )));
            };
            match store.get_console(name).await? {
                Some(rec) => (name.clone(), parse_url(&rec.url)?),
                None => {
                    return Err(usage(format!(
                        "no console named '{name}' is registered in this database; pass --url once to register it"
                    )));
                }
            }
        }
        (None, None) => {
            return Err(usage(
                "say which console: --url URL (and optionally --console NAME), or --console NAME from the config file",
            ));
        }
    };
    let token = match read_token(conn)? {
        Some(t) => t,
        None => configured_token(store, conn, &name).await?,
    };
    let mut options = ClientOptions::new(url.clone(), token);
    for spec in &conn.rate_limits {
        let (prefix, limit) = parse_rate_limit(spec)?;
        options.limits.set(&prefix, limit);
    }
    let client = Client::new(options).context("building the API client")?;
    Ok(Connection { name, url, client })
}

pub async fn verify_cmd(
    db: Option<String>,
    conn: ConnArgs,
    expiry_warning_days: i64,
    json: bool,
) -> Result<u8> {
    // verify works without a database unless a console name must be looked up.
    let store = if (conn.url.is_none() && conn.console.is_some()) || !has_explicit_token(&conn) {
        Some(open_store(db.as_deref()).await?)
    } else {
        None
    };
    let c = connect(store.as_ref(), &conn).await?;
    let report = s1bridge_sync::verify::verify(&c.client, expiry_warning_days).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::print_verify(&report);
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// The priority configuration: `--priority-config` (TOML), then `--kev` / `--epss` on top.
fn priority_config(args: &SyncArgs) -> Result<s1bridge_priority::PriorityConfig> {
    let mut cfg = match &args.priority_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the priority config {}", path.display()))?;
            toml::from_str(&text).map_err(|e| {
                usage(format!(
                    "the priority config {} is invalid: {e}",
                    path.display()
                ))
            })?
        }
        None => s1bridge_priority::PriorityConfig::default(),
    };
    if let Some(k) = &args.kev {
        cfg.kev_file = Some(k.clone());
    }
    if let Some(e) = &args.epss {
        cfg.epss_file = Some(e.clone());
    }
    Ok(cfg)
}

pub async fn sync_cmd(db: Option<String>, args: SyncArgs, quiet: bool) -> Result<u8> {
    let mut features = Vec::new();
    for f in &args.only {
        let feature = Feature::parse(f).map_err(usage)?;
        if !features.contains(&feature) {
            features.push(feature);
        }
    }
    let store = open_store(db.as_deref()).await?;
    let c = connect(Some(&store), &args.conn).await?;
    let scope = Scope {
        account_ids: args.accounts.clone(),
        site_ids: args.sites.clone(),
        group_ids: args.groups.clone(),
    };
    // The console record keeps the mode and scope it was registered with; --mode and the scope
    // flags override them for this run only.
    let existing = store.get_console(&c.name).await?;
    let record = ConsoleRecord {
        name: c.name.clone(),
        description: existing.as_ref().and_then(|e| e.description.clone()),
        url: c.url.to_string(),
        mode: existing
            .as_ref()
            .map(|e| e.mode.clone())
            .or_else(|| args.mode.clone())
            .unwrap_or_else(|| "scan".to_string()),
        scope: existing
            .as_ref()
            .map(|e| e.scope.clone())
            .unwrap_or_else(|| scope.clone()),
    };
    store.upsert_console(&record).await?;
    let mode = args.mode.clone().unwrap_or_else(|| record.mode.clone());
    let scope = if scope.is_empty() {
        record.scope.clone()
    } else {
        scope
    };
    let mut opts = SyncOptions::new(c.name.clone());
    opts.features = features;
    opts.mode = Mode::parse(&mode).map_err(usage)?;
    opts.vulns.priority = priority_config(&args)?;
    opts.vulns.scope = scope.clone();
    opts.vulns.concurrency = s1bridge_sync::vulns::VulnOptions::streams_for(args.concurrency);
    opts.devices.scope = scope;
    opts.devices.full = args.full;
    opts.devices.full_every = chrono::Duration::hours(args.full_every_hours.max(0));
    opts.devices.concurrency = args.concurrency.max(1);
    opts.access.token_warning_days = args.token_warning_days;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    opts.ai.method = s1bridge_sync::AiQueryMethod::parse(&args.ai_query).map_err(usage)?;
    if let Some(path) = &args.ai_catalog {
        let catalog = s1bridge_ai_agents::Catalog::load(path).map_err(|e| usage(e.to_string()))?;
        opts.ai.catalog = std::sync::Arc::new(catalog);
    }
    let sink = progress::sink(quiet || args.json);
    let report = s1bridge_sync::run(&c.client, store.clone(), &opts, sink.sink.clone()).await?;
    sink.finish();
    if args.json {
        let run = store.get_run(report.run_id).await?;
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        output::print_run_report(&report, &c.client.stats());
        crate::ai_agents_cmd::print_summary(&report);
    }
    Ok(report.exit_code() as u8)
}

#[cfg(test)]
mod tests {
    use super::parse_rate_limit;

    #[test]
    fn rate_limit_specs() {
        let (p, l) = parse_rate_limit("/agents=10:20").unwrap();
        assert_eq!((p.as_str(), l.per_second, l.burst), ("/agents", 10.0, 20));
        let (_, l) = parse_rate_limit("/threat-intelligence=0.5").unwrap();
        assert_eq!((l.per_second, l.burst), (0.5, 1));
        for bad in [
            "/agents",
            "=5",
            "/agents=0",
            "/agents=x",
            "/agents=5:0",
            "/agents=-1",
        ] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }
}
