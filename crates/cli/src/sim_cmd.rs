//! `s1bridge sim`: the simulator on a port, configured by flags or a TOML scenario file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use s1bridge_api::features::Capability;
use s1bridge_sim::{SimConfig, Simulator};

use crate::connect::usage;

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// A scenario file (TOML, the SimConfig fields); flags override it.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub agents: Option<u32>,
    #[arg(long)]
    pub accounts: Option<u32>,
    #[arg(long)]
    pub sites_per_account: Option<u32>,
    /// Added to every response.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Enforce the published per-path rate limits with 429.
    #[arg(long)]
    pub rate_limits: bool,
    /// Fraction of requests answered 500.
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Fraction of responses whose connection is reset mid-body.
    #[arg(long)]
    pub reset_rate: Option<f64>,
    /// Fraction of 200 responses whose JSON body is cut short.
    #[arg(long)]
    pub truncate_rate: Option<f64>,
    /// Answer every authenticated request 401 (a revoked token).
    #[arg(long)]
    pub unauthorized: bool,
    /// Deny a feature with 403 (repeatable): devices, vulnerabilities, access, firewall-control,
    /// blocklist, threat-intelligence, deep-visibility.
    #[arg(long, value_name = "FEATURE")]
    pub forbid: Vec<String>,
    /// Mark a feature as not licensed (repeatable).
    #[arg(long, value_name = "FEATURE")]
    pub unlicensed: Vec<String>,
    /// Days until the token expires.
    #[arg(long)]
    pub token_expires_in_days: Option<i64>,
}

fn capabilities(names: &[String]) -> Result<Vec<Capability>> {
    names
        .iter()
        .map(|n| {
            Capability::parse(n).ok_or_else(|| {
                usage(format!(
                    "unknown feature '{n}'; one of: {}",
                    Capability::ALL.map(|c| c.as_str()).join(", ")
                ))
            })
        })
        .collect()
}

pub fn load_config(args: &SimArgs) -> Result<SimConfig> {
    let mut cfg = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the scenario {}", path.display()))?;
            toml::from_str::<SimConfig>(&text)
                .map_err(|e| usage(format!("the scenario {} is invalid: {e}", path.display())))?
        }
        None => SimConfig::default(),
    };
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.agents {
        cfg.agents = v;
    }
    if let Some(v) = args.accounts {
        cfg.accounts = v;
    }
    if let Some(v) = args.sites_per_account {
        cfg.sites_per_account = v;
    }
    if let Some(v) = args.latency_ms {
        cfg.latency_ms = v;
    }
    if args.rate_limits {
        cfg.rate_limits = true;
    }
    for (name, rate) in [
        ("--error-rate", args.error_rate),
        ("--reset-rate", args.reset_rate),
        ("--truncate-rate", args.truncate_rate),
    ] {
        if let Some(r) = rate
            && !(0.0..=1.0).contains(&r)
        {
            return Err(usage(format!("{name} must be between 0 and 1, got {r}")));
        }
    }
    if let Some(v) = args.error_rate {
        cfg.faults.error_5xx_rate = v;
    }
    if let Some(v) = args.reset_rate {
        cfg.faults.reset_rate = v;
    }
    if let Some(v) = args.truncate_rate {
        cfg.faults.truncate_rate = v;
    }
    if args.unauthorized {
        cfg.faults.unauthorized = true;
    }
    if let Some(v) = args.token_expires_in_days {
        cfg.token_expires_in_days = v;
    }
    cfg.faults.forbidden.extend(capabilities(&args.forbid)?);
    cfg.faults
        .not_licensed
        .extend(capabilities(&args.unlicensed)?);
    Ok(cfg)
}

pub async fn run(args: SimArgs) -> Result<u8> {
    let cfg = load_config(&args)?;
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: the simulator is listening on a non-loopback address ({})",
            args.listen
        );
    }
    let sim = Simulator::new(cfg.clone());
    let running = sim
        .serve(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("SentinelOne simulator listening on {}", running.url);
    println!(
        "tenant: seed {}, {} account(s) x {} site(s), {} agents; rate limits {}",
        cfg.seed,
        cfg.accounts,
        cfg.sites_per_account,
        cfg.agents,
        if cfg.rate_limits { "on" } else { "off" }
    );
    println!(
        "token:  the simulator's token is in its scenario (default: see `SimConfig::default`)"
    );
    println!(
        "try:    S1_API_TOKEN=<token> s1bridge verify --url {}",
        running.url
    );
    tokio::signal::ctrl_c().await.ok();
    eprintln!("stopping");
    Ok(0)
}
