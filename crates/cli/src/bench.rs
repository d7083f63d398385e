//! `s1bridge bench`: sync N agents from the in-process simulator into a fresh SQLite file and
//! report throughput, requests, retries, peak memory, and how close the run came to the bound
//! the rate limits allow. A measurement, never a pass/fail test.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;
use s1bridge_api::limits::{Limit, LimitTable};
use s1bridge_api::url::ConsoleUrl;
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_sim::{SimConfig, Simulator};
use s1bridge_sync::SyncOptions;
use serde::Serialize;

use crate::connect::open_sqlite;
use crate::output::table;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Agents in the simulated tenant.
    #[arg(long, default_value_t = 100_000)]
    pub agents: u32,
    /// Sites the agents are spread over (streams for the parallel full pass).
    #[arg(long, default_value_t = 8)]
    pub sites: u32,
    /// Simulated round-trip latency per request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Enforce the published rate limits on both sides (the simulator answers 429 beyond them).
    #[arg(long)]
    pub rate_limits: bool,
    /// Scale every published rate (e.g. 0.5 = a console twice as strict).
    #[arg(long, default_value_t = 1.0)]
    pub rate_limit_scale: f64,
    /// Ask for gzip-compressed responses.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub gzip: bool,
    /// Streams paged in parallel.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Page size (records per request).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
    /// Benchmark the vulnerabilities feature instead: this many findings per agent (the device
    /// inventory is synced first, untimed).
    #[arg(long, value_name = "N")]
    pub findings_per_agent: Option<u32>,
    /// Benchmark `iocs push` instead: N mixed indicators (IPv4, CIDR, domain, SHA1, SHA256 in
    /// equal parts) pushed to an empty simulated console, then pushed again unchanged.
    #[arg(long, value_name = "N")]
    pub indicators: Option<u32>,
    /// Targets of the indicators benchmark (comma separated): firewall, blocklist, ti.
    #[arg(long, value_delimiter = ',', default_value = "firewall,blocklist")]
    pub indicator_targets: Vec<s1bridge_sync::indicators::Target>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub agents: u32,
    pub latency_ms: u64,
    pub rate_limits: bool,
    pub gzip: bool,
    pub concurrency: usize,
    pub full_sync_seconds: f64,
    pub records: u64,
    pub records_per_second: f64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited_429: u64,
    pub throttle_wait_ms: u64,
    /// Least wall time the per-path rate limits allow for the requests made (seconds).
    pub rate_limit_bound_seconds: Option<f64>,
    /// full_sync_seconds / rate_limit_bound_seconds.
    pub ratio_to_bound: Option<f64>,
    /// The rate-limit bound plus the two round trips no client can avoid: listing the sites
    /// before their cursors can start, and waiting for the last page after its request.
    pub bound_with_round_trips_seconds: Option<f64>,
    pub ratio_to_bound_with_round_trips: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub incremental_requests_unchanged: u64,
    pub incremental_seconds: f64,
    pub db_file_mb: Option<f64>,
}

/// Peak resident set of this process (simulator included: it runs in-process).
fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

/// Resident set of this process now.
fn rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Start the peak-RSS count afresh (Linux: `5` in `clear_refs`), so that the peak read after the
/// timed part is that part's, not the untimed set-up's. False where the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub async fn run(args: BenchArgs) -> Result<u8> {
    let sites = args.sites.max(1);
    let cfg = SimConfig {
        agents: args.agents,
        accounts: 1,
        sites_per_account: sites,
        latency_ms: args.latency_ms,
        rate_limits: args.rate_limits,
        rate_limit_scale: args.rate_limit_scale,
        gzip: args.gzip,
        ..SimConfig::default()
    };
    if let Some(per_agent) = args.findings_per_agent {
        return bench_vulns(&args, cfg, per_agent).await;
    }
    if let Some(n) = args.indicators {
        return bench_indicators(&args, cfg, n).await;
    }
    let Setup {
        sim,
        running,
        dir,
        db_path,
        store,
        limits,
        client,
    } = Setup::start(&args, &cfg).await?;

    eprintln!(
        "bench: {} agents over {} sites, latency {} ms, rate limits {}, gzip {}, {} streams",
        args.agents,
        sites,
        args.latency_ms,
        if args.rate_limits { "on" } else { "off" },
        if args.gzip { "on" } else { "off" },
        args.concurrency
    );
    let mut opts = SyncOptions::new("bench");
    opts.features = vec![s1bridge_sync::Feature::Devices];
    opts.devices.full = true;
    opts.devices.concurrency = args.concurrency.max(1);
    opts.devices.page_size = args.page_size;
    sim.reset_stats();
    let t0 = std::time::Instant::now();
    let report = s1bridge_sync::run(&client, store.clone(), &opts, Default::default()).await?;
    let full_secs = t0.elapsed().as_secs_f64();
    if report.exit_code() != 0 {
        anyhow::bail!(
            "the benchmark sync did not succeed: {:?}",
            report
                .features
                .iter()
                .map(|f| f.reason.clone())
                .collect::<Vec<_>>()
        );
    }
    let stats = client.stats();
    let sim_stats = sim.stats();
    let bound = args
        .rate_limits
        .then(|| rate_limit_bound(&limits, &sim_stats.by_path))
        .flatten();
    let records = report.devices.as_ref().map(|d| d.records).unwrap_or(0);
    let peak = peak_rss_mb();

    // An incremental sync of the unchanged tenant.
    let mut inc = SyncOptions::new("bench");
    inc.features = vec![s1bridge_sync::Feature::Devices];
    inc.devices.concurrency = args.concurrency.max(1);
    let before = client.stats().requests;
    let t1 = std::time::Instant::now();
    s1bridge_sync::run(&client, store.clone(), &inc, Default::default()).await?;
    let inc_secs = t1.elapsed().as_secs_f64();
    let inc_requests = client.stats().requests - before;

    let db_mb = std::fs::metadata(&db_path)
        .ok()
        .map(|m| m.len() as f64 / 1_048_576.0);
    let result = BenchResult {
        agents: args.agents,
        latency_ms: args.latency_ms,
        rate_limits: args.rate_limits,
        gzip: args.gzip,
        concurrency: args.concurrency,
        full_sync_seconds: full_secs,
        records,
        records_per_second: records as f64 / full_secs.max(1e-9),
        requests: stats.requests,
        retries: stats.retries,
        rate_limited_429: stats.rate_limited,
        throttle_wait_ms: stats.throttle_wait_ms,
        rate_limit_bound_seconds: bound,
        ratio_to_bound: bound.filter(|b| *b > 0.0).map(|b| full_secs / b),
        bound_with_round_trips_seconds: bound.map(|b| b + 2.0 * args.latency_ms as f64 / 1000.0),
        ratio_to_bound_with_round_trips: bound
            .map(|b| b + 2.0 * args.latency_ms as f64 / 1000.0)
            .filter(|b| *b > 0.0)
            .map(|b| full_secs / b),
        peak_rss_mb: peak,
        incremental_requests_unchanged: inc_requests,
        incremental_seconds: inc_secs,
        db_file_mb: db_mb,
    };
    running.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let f = |x: Option<f64>, unit: &str| {
            x.map(|v| format!("{v:.2}{unit}"))
                .unwrap_or_else(|| "-".into())
        };
        let rows = vec![
            vec!["agents synced".into(), result.records.to_string()],
            vec![
                "full sync wall time".into(),
                format!("{:.2} s", result.full_sync_seconds),
            ],
            vec![
                "throughput".into(),
                format!("{:.0} agents/s", result.records_per_second),
            ],
            vec!["requests".into(), result.requests.to_string()],
            vec!["retries".into(), result.retries.to_string()],
            vec!["429 answers".into(), result.rate_limited_429.to_string()],
            vec![
                "waited for own limiter".into(),
                format!("{} ms", result.throttle_wait_ms),
            ],
            vec![
                "rate-limit bound".into(),
                f(result.rate_limit_bound_seconds, " s"),
            ],
            vec!["wall / bound".into(), f(result.ratio_to_bound, "x")],
            vec![
                "bound + 2 dependent round trips".into(),
                f(result.bound_with_round_trips_seconds, " s"),
            ],
            vec![
                "wall / (bound + round trips)".into(),
                f(result.ratio_to_bound_with_round_trips, "x"),
            ],
            vec![
                "peak RSS (incl. simulator)".into(),
                f(result.peak_rss_mb, " MB"),
            ],
            vec![
                "incremental sync, unchanged tenant".into(),
                format!(
                    "{} requests, {:.2} s",
                    result.incremental_requests_unchanged, result.incremental_seconds
                ),
            ],
            vec!["database file".into(), f(result.db_file_mb, " MB")],
        ];
        print!("{}", table(&["MEASURE", "VALUE"], &rows));
    }
    Ok(0)
}

/// The vulnerabilities benchmark: devices first (untimed), then one timed findings pass.
async fn bench_vulns(args: &BenchArgs, mut cfg: SimConfig, per_agent: u32) -> Result<u8> {
    cfg.findings_per_agent = per_agent;
    let Setup {
        sim,
        running,
        dir,
        db_path: _,
        store,
        limits,
        client,
    } = Setup::start(args, &cfg).await?;
    let mut dev = SyncOptions::new("bench");
    dev.features = vec![s1bridge_sync::Feature::Devices];
    s1bridge_sync::run(&client, store.clone(), &dev, Default::default()).await?;

    // As `sync` runs the findings pass: at most four of the sites' streams at once.
    let streams = s1bridge_sync::vulns::VulnOptions::streams_for(args.concurrency);
    eprintln!(
        "bench: {} findings ({} agents x {per_agent}) over {} sites, latency {} ms, rate limits {}, gzip {}, {} streams at once",
        u64::from(args.agents) * u64::from(per_agent),
        args.agents,
        args.sites,
        args.latency_ms,
        if args.rate_limits { "on" } else { "off" },
        if args.gzip { "on" } else { "off" },
        streams
    );
    let mut opts = SyncOptions::new("bench");
    opts.features = vec![s1bridge_sync::Feature::Vulnerabilities];
    opts.vulns.concurrency = streams;
    opts.vulns.page_size = args.page_size;
    sim.reset_stats();
    let before = client.stats();
    // What the process holds before the pass: the simulated tenant, the runtime, the store.
    let baseline = rss_mb();
    let peak_is_the_pass = reset_peak_rss();
    let t0 = std::time::Instant::now();
    let report = s1bridge_sync::run(&client, store.clone(), &opts, Default::default()).await?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    if report.exit_code() != 0 {
        anyhow::bail!("the benchmark sync did not succeed: {:?}", report.features);
    }
    let records = report
        .vulnerabilities
        .as_ref()
        .map(|v| v.records)
        .unwrap_or(0);
    let after = client.stats();
    let bound = args
        .rate_limits
        .then(|| rate_limit_bound(&limits, &sim.stats().by_path))
        .flatten();
    let result = serde_json::json!({
        "findings": records,
        "seconds": secs,
        "findings_per_second": records as f64 / secs.max(1e-9),
        "requests": after.requests - before.requests,
        "retries": after.retries - before.retries,
        "rate_limited_429": after.rate_limited - before.rate_limited,
        "rate_limit_bound_seconds": bound,
        "ratio_to_bound": bound.filter(|b| *b > 0.0).map(|b| secs / b),
        "peak_rss_mb": peak,
        "peak_rss_is_the_pass": peak_is_the_pass,
        "rss_before_pass_mb": baseline,
        "peak_rss_added_by_pass_mb": peak_is_the_pass
            .then(|| peak.zip(baseline).map(|(p, b)| p - b))
            .flatten(),
    });
    running.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let f = |k: &str| result[k].to_string();
        let rows = vec![
            vec!["findings synced".into(), f("findings")],
            vec!["wall time (s)".into(), format!("{secs:.2}")],
            vec![
                "throughput (findings/s)".into(),
                format!("{:.0}", records as f64 / secs.max(1e-9)),
            ],
            vec!["requests".into(), f("requests")],
            vec!["retries".into(), f("retries")],
            vec!["429 answers".into(), f("rate_limited_429")],
            vec!["rate-limit bound (s)".into(), f("rate_limit_bound_seconds")],
            vec!["wall / bound".into(), f("ratio_to_bound")],
            vec![
                if peak_is_the_pass {
                    "peak RSS during the pass (MB, incl. simulator)".into()
                } else {
                    "peak RSS (MB, incl. simulator and set-up)".into()
                },
                f("peak_rss_mb"),
            ],
            vec![
                "RSS before the pass (MB: simulated tenant, runtime, store)".into(),
                f("rss_before_pass_mb"),
            ],
            vec![
                "peak RSS added by the pass (MB)".into(),
                f("peak_rss_added_by_pass_mb"),
            ],
        ];
        print!("{}", table(&["MEASURE", "VALUE"], &rows));
    }
    Ok(0)
}

/// A deterministic 64-bit mix (splitmix64), for benchmark hash values.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `n` distinct indicators as CSV, IPv4 / CIDR / domain / SHA1 / SHA256 in turn.
pub fn mixed_indicators(n: u32) -> String {
    let mut out = String::from("type,value\n");
    for k in 0..n {
        let j = k / 5;
        let line = match k % 5 {
            0 => {
                let ip = 0xAC10_0000u32 + j;
                format!(
                    "ipv4,{}.{}.{}.{}",
                    ip >> 24,
                    (ip >> 16) & 255,
                    (ip >> 8) & 255,
                    ip & 255
                )
            }
            1 => format!("cidr,10.{}.{}.0/24", (j >> 8) & 255, j & 255),
            2 => format!("domain,d{j}.bench.example"),
            3 => format!(
                "sha1,{:016x}{:016x}{:08x}",
                mix(u64::from(k)),
                mix(u64::from(k) + 1),
                mix(u64::from(k) + 2) as u32
            ),
            _ => format!(
                "sha256,{:016x}{:016x}{:016x}{:016x}",
                mix(u64::from(k)),
                mix(u64::from(k) + 1),
                mix(u64::from(k) + 2),
                mix(u64::from(k) + 3)
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The indicators benchmark: one push of N mixed indicators to an empty console, timed, then
/// the same push again (which must only read).
async fn bench_indicators(args: &BenchArgs, cfg: SimConfig, n: u32) -> Result<u8> {
    use s1bridge_sync::indicators::{PushOptions, push};
    let Setup {
        sim,
        running,
        dir,
        db_path: _,
        store,
        limits,
        client,
    } = Setup::start(args, &cfg).await?;
    let parsed = s1bridge_indicators::parse(&mixed_indicators(n), None);
    if !parsed.rejected.is_empty() {
        anyhow::bail!("benchmark input rejected: {:?}", parsed.rejected.first());
    }
    let opts = PushOptions {
        console: "bench".into(),
        actor: "bench".into(),
        targets: args.indicator_targets.clone(),
        scope: s1bridge_api::indicators::ScopeFilter::global(),
        description: s1bridge_sync::indicators::DEFAULT_DESCRIPTION.into(),
        dry_run: false,
        prune: false,
        now: chrono::Utc::now(),
    };
    eprintln!(
        "bench: {n} indicators to {}, latency {} ms, rate limits {} (scale {}), gzip {}",
        args.indicator_targets
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(","),
        args.latency_ms,
        if args.rate_limits { "on" } else { "off" },
        args.rate_limit_scale,
        if args.gzip { "on" } else { "off" },
    );
    sim.reset_stats();
    let before = client.stats();
    let t0 = std::time::Instant::now();
    let report = push(&client, &store, &parsed.indicators, &opts).await?;
    let secs = t0.elapsed().as_secs_f64();
    if report.failed() > 0 || !report.warnings.is_empty() {
        anyhow::bail!(
            "the benchmark push did not succeed: {} failed, {:?}",
            report.failed(),
            report.warnings
        );
    }
    let after = client.stats();
    let first = sim.stats();
    let bound = args
        .rate_limits
        .then(|| rate_limit_bound(&limits, &first.by_path))
        .flatten();
    let objects: usize = report.counts.iter().map(|(_, c)| c.created).sum();

    // The same push again: it must only read.
    sim.reset_stats();
    let t1 = std::time::Instant::now();
    let again = push(&client, &store, &parsed.indicators, &opts).await?;
    let secs2 = t1.elapsed().as_secs_f64();
    let log = sim.request_log();
    let second_requests = sim.stats().requests;
    let mut second: std::collections::BTreeMap<String, u64> = Default::default();
    for r in &log {
        *second
            .entry(format!("{} {}", r.method, r.path))
            .or_default() += 1;
    }
    let second_writes: u64 = log.iter().filter(|r| r.method != "GET").count() as u64;
    let second_creates: usize = again.counts.iter().map(|(_, c)| c.created).sum();
    let stored = store
        .list_indicators(&s1bridge_store::IndicatorFilter::default())
        .await?
        .len();
    running.shutdown();
    let _ = std::fs::remove_dir_all(&dir);

    let result = serde_json::json!({
        "indicators": n,
        "targets": args.indicator_targets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "objects_created": objects,
        "seconds": secs,
        "indicators_per_second": f64::from(n) / secs.max(1e-9),
        "requests": after.requests - before.requests,
        "requests_by_endpoint": first.by_path,
        "retries": after.retries - before.retries,
        "rate_limited_429": after.rate_limited - before.rate_limited,
        "rate_limits": args.rate_limits,
        "rate_limit_scale": args.rate_limit_scale,
        "rate_limit_bound_seconds": bound,
        "ratio_to_bound": bound.filter(|b| *b > 0.0).map(|b| secs / b),
        "stored_rows": stored,
        "second_push_seconds": secs2,
        "second_push_requests": second_requests,
        "second_push_requests_by_endpoint": second,
        "second_push_writes": second_writes,
        "second_push_creates": second_creates,
        "peak_rss_mb": peak_rss_mb(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let f = |k: &str| result[k].to_string();
        let mut rows = vec![
            vec!["indicators pushed".into(), f("indicators")],
            vec!["console objects created".into(), f("objects_created")],
            vec!["wall time (s)".into(), format!("{secs:.2}")],
            vec![
                "throughput (indicators/s)".into(),
                format!("{:.0}", f64::from(n) / secs.max(1e-9)),
            ],
            vec!["requests".into(), f("requests")],
        ];
        for (path, count) in &first.by_path {
            rows.push(vec![format!("  {path}"), count.to_string()]);
        }
        rows.extend([
            vec!["retries".into(), f("retries")],
            vec!["429 answers".into(), f("rate_limited_429")],
            vec![
                "rate-limit bound (s)".into(),
                bound.map_or_else(|| "-".into(), |b| format!("{b:.2}")),
            ],
            vec![
                "wall / bound".into(),
                bound
                    .filter(|b| *b > 0.0)
                    .map_or_else(|| "-".into(), |b| format!("{:.3}x", secs / b)),
            ],
            vec!["rows stored".into(), f("stored_rows")],
            vec![
                "second identical push".into(),
                format!(
                    "{second_requests} requests ({second_writes} writes, {second_creates} creates), {secs2:.2} s"
                ),
            ],
        ]);
        for (what, count) in &second {
            rows.push(vec![format!("  {what}"), count.to_string()]);
        }
        rows.push(vec![
            "peak RSS (MB, incl. simulator)".into(),
            f("peak_rss_mb"),
        ]);
        print!("{}", table(&["MEASURE", "VALUE"], &rows));
    }
    if second_writes > 0 {
        anyhow::bail!("the second identical push wrote to the console ({second_writes} requests)");
    }
    Ok(0)
}

/// The least wall time the per-path limits allow for the requests the simulator served: the
/// slowest bucket's bound (buckets drain in parallel).
fn rate_limit_bound(
    limits: &LimitTable,
    by_path: &std::collections::BTreeMap<String, u64>,
) -> Option<f64> {
    let mut per_bucket: std::collections::BTreeMap<String, (u64, Limit)> = Default::default();
    for (path, n) in by_path {
        let (key, limit) = limits.lookup(path);
        let e = per_bucket.entry(key.to_string()).or_insert((0, limit));
        e.0 += n;
    }
    per_bucket
        .values()
        .map(|(n, l)| l.min_duration_secs(*n))
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        })
}

/// What every benchmark starts from: the simulator serving `cfg` on a loopback port, a fresh
/// SQLite store in a temporary directory, and a client with the published limits (scaled) or
/// none.
struct Setup {
    sim: Simulator,
    running: s1bridge_sim::RunningSim,
    dir: std::path::PathBuf,
    db_path: std::path::PathBuf,
    store: std::sync::Arc<dyn s1bridge_store::Store>,
    limits: LimitTable,
    client: Client,
}

impl Setup {
    async fn start(args: &BenchArgs, cfg: &SimConfig) -> Result<Setup> {
        let sim = Simulator::new(cfg.clone());
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("starting the simulator")?;
        let dir = tempfile_dir()?;
        let db_path = dir.join("bench.db");
        let store = open_sqlite(&db_path)?;
        let (url, _) = ConsoleUrl::parse(&running.url).map_err(|e| anyhow::anyhow!("{e}"))?;
        let token = ApiToken::new(cfg.token.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let limits = if args.rate_limits {
            LimitTable::published().scaled(args.rate_limit_scale)
        } else {
            unlimited()
        };
        let mut copts = ClientOptions::new(url, token);
        copts.limits = limits.clone();
        copts.gzip = args.gzip;
        let client = Client::new(copts)?;
        Ok(Setup {
            sim,
            running,
            dir,
            db_path,
            store,
            limits,
            client,
        })
    }
}

/// A limit table that never throttles in practice (for measuring everything but the limits).
fn unlimited() -> LimitTable {
    LimitTable::published().scaled(1e6)
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "s1bridge-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
