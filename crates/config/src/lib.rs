//! s1bridge configuration: a TOML file holding the service settings and any number of consoles,
//! with every value overridable from `S1BRIDGE_*` environment variables, and the encrypted token
//! vault ([`vault`]).
//!
//! ```toml
//! [server]
//! bind = "127.0.0.1:8080"
//!
//! [consoles.prod]
//! description = "Production tenant"
//! url = "https://usea1-partners.sentinelone.net"
//! token = "store"                # the encrypted token store (default), or "env:VAR", "file:PATH"
//! mode = "scan"                  # or "asset-sync"
//! sites = ["1286405255257023125"]
//! jitter_seconds = 120
//! [consoles.prod.schedules]
//! devices = "0 * * * *"
//! vulnerabilities = "15 */6 * * *"
//! ```
//!
//! Environment: `S1BRIDGE_BIND`, `S1BRIDGE_MASTER_KEY_FILE`, `S1BRIDGE_JITTER_SECONDS`,
//! `S1BRIDGE_STALE_DAYS`, `S1BRIDGE_SHUTDOWN_GRACE_SECONDS`, and per console
//! `S1BRIDGE_CONSOLE__<NAME>__<KEY>` (`URL`, `DESCRIPTION`, `TOKEN`, `MODE`, `ACCOUNTS`, `SITES`,
//! `GROUPS` comma separated, `JITTER_SECONDS`, `SCHEDULE__<FEATURE>`), where `<NAME>` is the
//! console name upper-cased with `-` as `_`. A console named only in the environment is created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

pub mod tokens;
pub mod vault;

/// Features a schedule may name (those not in this build are refused when `serve` starts).
pub const KNOWN_FEATURES: [&str; 5] = [
    "devices",
    "vulnerabilities",
    "access",
    "indicators",
    "ai-agents",
];

/// The default bind address of `serve`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// A configuration problem, located: the file (or environment variable), the line and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `path:line` or `environment variable NAME`.
    pub location: String,
    pub message: String,
}

/// Where a console's API token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// The encrypted token store, under the console's name (`s1bridge token set NAME`).
    Store,
    /// An environment variable.
    Env(String),
    /// A file holding only the token.
    File(PathBuf),
}

impl FromStr for TokenRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "store" {
            Ok(TokenRef::Store)
        } else if let Some(v) = s.strip_prefix("env:").filter(|v| !v.is_empty()) {
            Ok(TokenRef::Env(v.to_string()))
        } else if let Some(f) = s.strip_prefix("file:").filter(|v| !v.is_empty()) {
            Ok(TokenRef::File(PathBuf::from(f)))
        } else {
            Err(format!(
                "token must be \"store\", \"env:VARIABLE\" or \"file:PATH\" (a reference, never the token itself), not {:?}",
                if s.len() > 12 { "<a long value>" } else { s }
            ))
        }
    }
}

/// A cron schedule (5 fields, minute precision; 6 with seconds), e.g. `0 */6 * * *`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub expr: String,
    cron: croner::Cron,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        let cron = croner::Cron::from_str(expr.trim()).map_err(|e| {
            format!("{expr:?} is not a cron expression ({e}); e.g. \"0 * * * *\" is hourly")
        })?;
        Ok(Schedule {
            expr: expr.trim().to_string(),
            cron,
        })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

/// One console as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub token: TokenRef,
    /// `scan` or `asset-sync`.
    pub mode: String,
    pub account_ids: Vec<String>,
    pub site_ids: Vec<String>,
    pub group_ids: Vec<String>,
    /// Per feature.
    pub schedules: BTreeMap<String, Schedule>,
    /// Each scheduled run starts up to this many seconds after its tick (spreads load).
    pub jitter_seconds: u64,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub bind: String,
    /// A database path/URL used when `--db` / `S1BRIDGE_DB` is not given.
    pub db: Option<String>,
    pub master_key_file: Option<PathBuf>,
    /// Default jitter of consoles that set none.
    pub jitter_seconds: u64,
    pub stale_days: u32,
    /// How long a running sync may take to finish on SIGINT/SIGTERM before it is stopped.
    pub shutdown_grace_seconds: u64,
    pub expiry_warning_days: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: DEFAULT_BIND.to_string(),
            db: None,
            master_key_file: None,
            jitter_seconds: 60,
            stale_days: 14,
            shutdown_grace_seconds: 10,
            expiry_warning_days: 30,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The file it was read from (None: no file).
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    /// Sorted by name.
    pub consoles: Vec<ConsoleConfig>,
}

impl Config {
    pub fn console(&self, name: &str) -> Option<&ConsoleConfig> {
        self.consoles.iter().find(|c| c.name == name)
    }
}

/// The documented default location: `$XDG_CONFIG_HOME/s1bridge/config.toml`, else
/// `~/.config/s1bridge/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from)
        && x.is_absolute()
    {
        return Some(x.join("s1bridge").join("config.toml"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".config")
            .join("s1bridge")
            .join("config.toml")
    })
}

/// Load the configuration: `explicit` (from `--config` / `S1BRIDGE_CONFIG`; must exist), else the
/// default path when it exists, else nothing; then the `S1BRIDGE_*` environment on top.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (path, text) = match explicit {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                location: p.display().to_string(),
                message: format!(
                    "cannot read the config file ({e}); check --config / S1BRIDGE_CONFIG"
                ),
            })?;
            (Some(p.to_path_buf()), Some(text))
        }
        None => match default_path().filter(|p| p.exists()) {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| ConfigError {
                    location: p.display().to_string(),
                    message: format!("cannot read the config file ({e})"),
                })?;
                (Some(p), Some(text))
            }
            None => (None, None),
        },
    };
    parse(path.as_deref(), text.as_deref().unwrap_or(""), &env)
}

// --- The file as written.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    consoles: BTreeMap<String, RawConsole>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: Option<Spanned<String>>,
    db: Option<String>,
    master_key_file: Option<PathBuf>,
    jitter_seconds: Option<u64>,
    stale_days: Option<u32>,
    shutdown_grace_seconds: Option<u64>,
    expiry_warning_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    description: Option<String>,
    url: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    schedules: BTreeMap<String, Spanned<String>>,
    jitter_seconds: Option<u64>,
}

/// The file being parsed, to locate errors by line.
#[derive(Clone, Copy)]
struct Origin<'a> {
    path: &'a str,
    text: &'a str,
}

impl Origin<'_> {
    fn at(&self, span: std::ops::Range<usize>, key: &str, message: String) -> ConfigError {
        ConfigError {
            location: format!("{}:{}", self.path, line_of(self.text, span.start)),
            message: format!("{key}: {message}"),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parse `text` (the content of `path`, if any) and apply the environment `env`.
pub fn parse(
    path: Option<&Path>,
    text: &str,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let shown = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<no config file>".to_string());
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        ConfigError {
            location: format!("{shown}:{line}"),
            message: format!(
                "{}; see the config example in the README",
                e.message().trim_end()
            ),
        }
    })?;
    let origin = Origin { path: &shown, text };
    let mut cfg = Config {
        source: path.map(Path::to_path_buf),
        ..Config::default()
    };
    let s = raw.server;
    if let Some(bind) = s.bind {
        check_bind(bind.get_ref()).map_err(|m| origin.at(bind.span(), "server.bind", m))?;
        cfg.server.bind = bind.into_inner();
    }
    cfg.server.db = s.db;
    cfg.server.master_key_file = s.master_key_file;
    if let Some(v) = s.jitter_seconds {
        cfg.server.jitter_seconds = v;
    }
    if let Some(v) = s.stale_days {
        cfg.server.stale_days = v;
    }
    if let Some(v) = s.shutdown_grace_seconds {
        cfg.server.shutdown_grace_seconds = v;
    }
    if let Some(v) = s.expiry_warning_days {
        cfg.server.expiry_warning_days = v;
    }
    let mut pending: BTreeMap<String, PendingConsole> = BTreeMap::new();
    for (name, c) in raw.consoles {
        let key = |k: &str| format!("consoles.{name}.{k}");
        check_name(&name).map_err(|m| ConfigError {
            location: shown.clone(),
            message: format!("consoles.{name}: {m}"),
        })?;
        let mut p = PendingConsole::new(cfg.server.jitter_seconds);
        p.description = c.description;
        if let Some(u) = c.url {
            check_url(u.get_ref()).map_err(|m| origin.at(u.span(), &key("url"), m))?;
            p.url = Some(u.into_inner());
        }
        if let Some(t) = c.token {
            p.token = t
                .get_ref()
                .parse()
                .map_err(|m| origin.at(t.span(), &key("token"), m))?;
        }
        if let Some(m) = c.mode {
            check_mode(m.get_ref()).map_err(|e| origin.at(m.span(), &key("mode"), e))?;
            p.mode = m.into_inner();
        }
        p.account_ids = c.accounts;
        p.site_ids = c.sites;
        p.group_ids = c.groups;
        if let Some(j) = c.jitter_seconds {
            p.jitter_seconds = j;
        }
        for (feature, expr) in c.schedules {
            let k = key(&format!("schedules.{feature}"));
            let sched = check_schedule(&feature, expr.get_ref())
                .map_err(|m| origin.at(expr.span(), &k, m))?;
            p.schedules.insert(feature, sched);
        }
        pending.insert(name, p);
    }
    apply_env(&mut cfg, &mut pending, env)?;
    for (name, p) in pending {
        let Some(url) = p.url else {
            return Err(ConfigError {
                location: shown.clone(),
                message: format!(
                    "consoles.{name}: no url; add `url = \"https://…\"` or set S1BRIDGE_CONSOLE__{}__URL",
                    env_name(&name)
                ),
            });
        };
        cfg.consoles.push(ConsoleConfig {
            name,
            description: p.description,
            url,
            token: p.token,
            mode: p.mode,
            account_ids: p.account_ids,
            site_ids: p.site_ids,
            group_ids: p.group_ids,
            schedules: p.schedules,
            jitter_seconds: p.jitter_seconds,
        });
    }
    Ok(cfg)
}

struct PendingConsole {
    description: Option<String>,
    url: Option<String>,
    token: TokenRef,
    mode: String,
    account_ids: Vec<String>,
    site_ids: Vec<String>,
    group_ids: Vec<String>,
    schedules: BTreeMap<String, Schedule>,
    jitter_seconds: u64,
}

impl PendingConsole {
    fn new(jitter_seconds: u64) -> Self {
        PendingConsole {
            description: None,
            url: None,
            token: TokenRef::Store,
            mode: "scan".to_string(),
            account_ids: Vec::new(),
            site_ids: Vec::new(),
            group_ids: Vec::new(),
            schedules: BTreeMap::new(),
            jitter_seconds,
        }
    }
}

/// `prod-eu` → `PROD_EU`.
pub fn env_name(console: &str) -> String {
    console.to_ascii_uppercase().replace('-', "_")
}

fn apply_env(
    cfg: &mut Config,
    pending: &mut BTreeMap<String, PendingConsole>,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("S1BRIDGE_"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        let err = |message: String| ConfigError {
            location: format!("environment variable {k}"),
            message,
        };
        let num = |v: &str| -> Result<u64, ConfigError> {
            v.trim()
                .parse()
                .map_err(|_| err(format!("expected a whole number, not {v:?}")))
        };
        match k.as_str() {
            "S1BRIDGE_BIND" => {
                check_bind(v).map_err(err)?;
                cfg.server.bind = v.clone();
            }
            "S1BRIDGE_MASTER_KEY_FILE" => cfg.server.master_key_file = Some(PathBuf::from(v)),
            "S1BRIDGE_JITTER_SECONDS" => {
                let j = num(v)?;
                cfg.server.jitter_seconds = j;
                for p in pending.values_mut() {
                    p.jitter_seconds = j;
                }
            }
            "S1BRIDGE_STALE_DAYS" => {
                cfg.server.stale_days =
                    u32::try_from(num(v)?).map_err(|_| err("too large".into()))?
            }
            "S1BRIDGE_SHUTDOWN_GRACE_SECONDS" => cfg.server.shutdown_grace_seconds = num(v)?,
            _ => {
                let Some(rest) = k.strip_prefix("S1BRIDGE_CONSOLE__") else {
                    continue; // other S1BRIDGE_* variables belong to the CLI (DB, LOG, …)
                };
                let Some((name_env, key)) = rest.split_once("__") else {
                    return Err(err(
                        "expected S1BRIDGE_CONSOLE__<NAME>__<KEY>, e.g. S1BRIDGE_CONSOLE__PROD__URL"
                            .into(),
                    ));
                };
                let name = pending
                    .keys()
                    .find(|n| env_name(n) == name_env)
                    .cloned()
                    .unwrap_or_else(|| name_env.to_ascii_lowercase().replace('_', "-"));
                check_name(&name).map_err(err)?;
                let jitter = cfg.server.jitter_seconds;
                let p = pending
                    .entry(name)
                    .or_insert_with(|| PendingConsole::new(jitter));
                let list = |v: &str| -> Vec<String> {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                };
                match key {
                    "URL" => {
                        check_url(v).map_err(err)?;
                        p.url = Some(v.clone());
                    }
                    "DESCRIPTION" => p.description = Some(v.clone()),
                    "TOKEN" => p.token = v.parse().map_err(err)?,
                    "MODE" => {
                        check_mode(v).map_err(err)?;
                        p.mode = v.clone();
                    }
                    "ACCOUNTS" => p.account_ids = list(v),
                    "SITES" => p.site_ids = list(v),
                    "GROUPS" => p.group_ids = list(v),
                    "JITTER_SECONDS" => p.jitter_seconds = num(v)?,
                    other => {
                        let Some(feature) = other.strip_prefix("SCHEDULE__") else {
                            return Err(err(format!(
                                "unknown console key {other}; known: URL, DESCRIPTION, TOKEN, MODE, ACCOUNTS, SITES, GROUPS, JITTER_SECONDS, SCHEDULE__<FEATURE>"
                            )));
                        };
                        let feature = feature.to_ascii_lowercase().replace('_', "-");
                        let sched = check_schedule(&feature, v).map_err(err)?;
                        p.schedules.insert(feature, sched);
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "console name {name:?}: use lower-case letters, digits, '-' and '_'"
        ))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    s1bridge_api::ConsoleUrl::parse(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_mode(mode: &str) -> Result<(), String> {
    match mode {
        "scan" | "asset-sync" => Ok(()),
        other => Err(format!(
            "unknown mode {other:?}; use \"scan\" or \"asset-sync\""
        )),
    }
}

fn check_bind(bind: &str) -> Result<(), String> {
    bind.parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| {
            format!("{bind:?} is not an address:port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"")
        })
}

fn check_schedule(feature: &str, expr: &str) -> Result<Schedule, String> {
    if !KNOWN_FEATURES.contains(&feature) {
        return Err(format!(
            "unknown feature {feature:?}; schedules are per feature: {}",
            KNOWN_FEATURES.join(", ")
        ));
    }
    Schedule::parse(expr)
}

#[cfg(test)]
mod tests;
