//! `s1bridge`: the command-line front end. Thin: it parses arguments, builds a client and a
//! store, calls the sync engine and prints. The contract is PRODUCT.md's command table.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: a findings pass allocates and frees tens of small strings
/// per finding on several threads, and glibc spends a fifth of the pass in malloc/free and keeps
/// ~100 MB of per-thread arenas; mimalloc does the same work in a fraction of the time and
/// returns memory promptly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod access_cmd;
mod ai_agents_cmd;
mod audit_cmd;
mod bench;
mod connect;
mod demo;
mod iocs_cmd;
mod keys_cmd;
mod output;
mod progress;
mod serve_cmd;
mod sim_cmd;
mod token_cmd;
mod vulns_cmd;
mod worker_cmd;

#[derive(Parser, Debug)]
#[command(
    name = "s1bridge",
    version,
    about = "A self-hosted SentinelOne connector: devices, verification and more, into SQLite.",
    after_help = "The API token is read from the S1_API_TOKEN environment variable, --token-file, the config file's token reference or the encrypted token store (`s1bridge token set`), never from a command-line value.\nExit status: 0 success, 1 failure, 2 usage error, 3 finished with features unavailable or partial."
)]
struct Cli {
    /// Database: a SQLite file path (default: $XDG_DATA_HOME/s1bridge/s1bridge.db or
    /// ~/.local/share/s1bridge/s1bridge.db), or a PostgreSQL URL
    /// (postgres://user[:password]@host[:port]/db?sslmode=disable|prefer|require&pool_max_size=N).
    #[arg(long, global = true, env = "S1BRIDGE_DB", value_name = "URL|PATH")]
    db: Option<String>,
    /// Config file (default: $XDG_CONFIG_HOME/s1bridge/config.toml or
    /// ~/.config/s1bridge/config.toml, when it exists).
    #[arg(long, global = true, env = "S1BRIDGE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Console name: the key its data is stored under. With --url it is registered (or
    /// updated); alone, the URL registered under that name is used.
    #[arg(long, value_name = "NAME")]
    pub console: Option<String>,
    /// Console URL, e.g. https://usea1-partners.sentinelone.net
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// File holding the API token (otherwise S1_API_TOKEN is used).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Override the published rate limit of an API path prefix, in requests per second with an
    /// optional burst, e.g. `--rate-limit /agents=10:10` (repeatable).
    #[arg(long = "rate-limit", value_name = "PREFIX=RPS[:BURST]")]
    pub rate_limits: Vec<String>,
    /// The loaded config file (filled in by `dispatch`, not a flag).
    #[arg(skip)]
    pub config: std::sync::Arc<s1bridge_config::Config>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the simulator in-process, verify, sync devices into a fresh SQLite file and explain
    /// what happened. Works offline.
    Demo(demo::DemoArgs),
    /// Check the URL and token: owner, scope, expiry and which features are available.
    Verify {
        #[command(flatten)]
        conn: ConnArgs,
        /// Warn when the token expires within this many days.
        #[arg(long, default_value_t = 30)]
        expiry_warning_days: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run a sync now.
    Sync(SyncArgs),
    /// List stored devices.
    Devices(DevicesArgs),
    /// The vulnerability queue, highest effective priority first; --explain and --history for
    /// one finding.
    Vulns(vulns_cmd::VulnsArgs),
    /// Sync run history.
    Runs {
        #[arg(long)]
        console: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Run the SentinelOne API simulator on a port.
    Sim(sim_cmd::SimArgs),
    /// Benchmark a device sync against the in-process simulator.
    Bench(bench::BenchArgs),
    /// Principals, roles and scope-exact grants (`--who-has`, `--on`, `--principal`), expiring
    /// tokens, changes between syncs; `access grant|revoke` changes roles through the API.
    Access(access_cmd::AccessArgs),
    /// Every write s1bridge made to a console: who, when, what, before, after, result.
    Audit(audit_cmd::AuditArgs),
    /// Detected AI coding agents by device and user, with evidence.
    AiAgents(ai_agents_cmd::AiAgentsArgs),
    /// Indicators: push IPs, domains and hashes to firewall control, the blocklist and threat
    /// intelligence (idempotent; --dry-run, --prune).
    Iocs(iocs_cmd::IocsArgs),
    /// The service: scheduler, REST API (/api/v1), dashboard (/ui) and /metrics.
    Serve(serve_cmd::ServeArgs),
    /// Store, show and rotate console API tokens, encrypted at rest.
    Token(token_cmd::TokenArgs),
    /// Create, list and revoke the service's API keys.
    Keys(keys_cmd::KeysArgs),
    /// PostgreSQL only: claim and run sync jobs next to other workers (--queue postgres://…).
    Worker(worker_cmd::WorkerArgs),
    /// The job queue of the workers: enqueue a sync, list jobs and workers.
    Jobs(worker_cmd::JobsArgs),
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Features to sync (comma separated; default: every feature of this build).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "devices,vulnerabilities,access,ai-agents"
    )]
    pub only: Vec<String>,
    /// scan (devices and vulnerabilities) or asset-sync (devices only; stored findings are left
    /// untouched). Default: the mode registered for the console, else scan.
    #[arg(long, value_parser = ["scan", "asset-sync"])]
    pub mode: Option<String>,
    /// CISA Known Exploited Vulnerabilities catalog (JSON) for the `kev` priority factor.
    #[arg(long, env = "S1BRIDGE_KEV_FILE", value_name = "FILE")]
    pub kev: Option<PathBuf>,
    /// FIRST EPSS scores (CSV) for the `epss` priority factor.
    #[arg(long, env = "S1BRIDGE_EPSS_FILE", value_name = "FILE")]
    pub epss: Option<PathBuf>,
    /// Priority weights, thresholds and criticality rules (TOML; see crates/priority/DEFAULTS.md).
    #[arg(long, env = "S1BRIDGE_PRIORITY_CONFIG", value_name = "FILE")]
    pub priority_config: Option<PathBuf>,
    /// Force a full pass (otherwise incremental when a recent full pass exists).
    #[arg(long)]
    pub full: bool,
    /// Restrict to an account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Restrict to a site (repeatable).
    #[arg(long = "site", value_name = "ID")]
    pub sites: Vec<String>,
    /// Restrict to a group (repeatable).
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
    /// Do a full pass when the last one is older than this many hours.
    #[arg(long, default_value_t = 24)]
    pub full_every_hours: i64,
    /// Agent streams paged in parallel during a full pass.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Access: an API token of a user or service user expiring within this many days is
    /// recorded as a `token_expiring` change (once per expiry).
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub token_warning_days: i64,
    #[arg(long)]
    pub json: bool,
    /// How AI agents are queried: pq (PowerQuery), dv (Deep Visibility) or auto (PowerQuery,
    /// falling back to Deep Visibility).
    #[arg(long, value_name = "pq|dv|auto", default_value = "auto")]
    pub ai_query: String,
    /// AI agent catalog replacing the built-in one (TOML, same format).
    #[arg(long, env = "S1BRIDGE_AI_CATALOG", value_name = "FILE")]
    pub ai_catalog: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Only this console's devices.
    #[arg(long)]
    pub console: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Only devices without activity for --stale-days.
    #[arg(long)]
    pub stale: bool,
    /// Only older records of a machine that has a newer one.
    #[arg(long)]
    pub duplicates: bool,
    /// Only decommissioned agents.
    #[arg(long)]
    pub decommissioned: bool,
    /// Only devices no longer in the console.
    #[arg(long)]
    pub removed: bool,
    /// Days without activity after which a device is stale.
    #[arg(long, default_value_t = 14)]
    pub stale_days: u32,
    #[arg(long)]
    pub limit: Option<u32>,
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_env("S1BRIDGE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hyper=warn,reqwest=warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(dispatch(cli));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    // The config file matters to the commands that name consoles or open the database.
    let config = if matches!(
        cli.command,
        Command::Demo(_) | Command::Sim(_) | Command::Bench(_)
    ) {
        s1bridge_config::Config::default()
    } else {
        match s1bridge_config::load(cli.config.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: the configuration is invalid: {e}");
                return 2;
            }
        }
    };
    let db = cli.db.clone().or_else(|| config.server.db.clone());
    let result = match cli.command {
        Command::Demo(args) => demo::run(db, args).await,
        Command::Verify {
            mut conn,
            expiry_warning_days,
            json,
        } => {
            conn.config = std::sync::Arc::new(config);
            connect::verify_cmd(db, conn, expiry_warning_days, json).await
        }
        Command::Sync(mut args) => {
            args.conn.config = std::sync::Arc::new(config);
            connect::sync_cmd(db, args, cli.quiet).await
        }
        Command::Serve(args) => serve_cmd::run(db, config, args).await,
        Command::Token(args) => token_cmd::run(db, config, args).await,
        Command::Keys(args) => keys_cmd::run(db, args).await,
        Command::Devices(args) => output::devices_cmd(db, args).await,
        Command::Vulns(args) => vulns_cmd::run(db, args).await,
        Command::Runs {
            console,
            limit,
            json,
        } => output::runs_cmd(db, console, limit, json).await,
        Command::Sim(args) => sim_cmd::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Access(args) => access_cmd::run(db, args).await,
        Command::Audit(args) => audit_cmd::run(db, args).await,
        Command::AiAgents(args) => ai_agents_cmd::run(db, args).await,
        Command::Iocs(args) => iocs_cmd::run(db, args).await,
        Command::Worker(args) => worker_cmd::worker(db, config, args).await,
        Command::Jobs(args) => worker_cmd::jobs(db, config, args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<connect::UsageError>() {
                Some(_) => 2,
                None => 1,
            }
        }
    }
}
