//! `s1bridge demo`: a guided tour against the in-process simulator. Offline, no setup.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use s1bridge_api::url::ConsoleUrl;
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_sim::{FindingChanges, SimConfig, Simulator, TenantChanges};
use s1bridge_store::{ConsoleRecord, DeviceFilter, FindingFilter, FindingStatus, Scope, Store};
use s1bridge_sync::SyncOptions;

use crate::connect::{open_postgres, open_sqlite};
use crate::output::{DEVICE_HEADERS, device_rows, print_run_report, print_verify, table};
use crate::progress;
use s1bridge_store_postgres::{is_postgres_url, redact_url};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Agents in the simulated tenant.
    #[arg(long, default_value_t = 500)]
    pub agents: u32,
    /// Simulated round-trip latency per request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

const CONSOLE: &str = "demo";

pub async fn run(db: Option<String>, args: DemoArgs) -> Result<u8> {
    let cfg = SimConfig {
        agents: args.agents,
        latency_ms: args.latency_ms,
        ..SimConfig::default()
    };
    let sim = Simulator::new(cfg.clone());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the simulator on a loopback port")?;

    // A fresh SQLite file unless --db names a file or a PostgreSQL URL (shown without its
    // password).
    let (location, store): (String, Arc<dyn Store>) = match db {
        Some(url) if is_postgres_url(&url) => (redact_url(&url), open_postgres(&url).await?),
        Some(p) => {
            let path = PathBuf::from(p);
            (path.display().to_string(), open_sqlite(&path)?)
        }
        None => {
            let dir = std::env::temp_dir().join(format!(
                "s1bridge-demo-{}",
                chrono::Utc::now().format("%Y%m%d-%H%M%S")
            ));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("demo.db");
            (path.display().to_string(), open_sqlite(&path)?)
        }
    };

    println!("== s1bridge demo ==");
    println!(
        "A simulated SentinelOne console is running at {} with {} agents in {} sites.",
        running.url,
        cfg.agents,
        cfg.accounts * cfg.sites_per_account
    );
    println!("Everything below is what s1bridge does against a real console.\n");

    let (url, _) = ConsoleUrl::parse(&running.url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let token = ApiToken::new(cfg.token.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = Client::new(ClientOptions::new(url.clone(), token))?;

    println!("-- 1. verify: does the token work, who owns it, what may it do? --");
    let report = s1bridge_sync::verify::verify(&client, 30).await;
    print_verify(&report);
    if !report.ok {
        anyhow::bail!("the simulator refused the demo token; this is a bug in the demo");
    }

    store
        .upsert_console(&ConsoleRecord {
            name: CONSOLE.into(),
            description: Some("the in-process simulator".into()),
            url: url.to_string(),
            mode: "scan".into(),
            scope: Scope::default(),
        })
        .await?;

    println!(
        "\n-- 2. sync (scan mode): devices, vulnerability findings with their explained priority, and AI coding agents from 7 days of process telemetry, into {} --",
        location
    );
    let opts = SyncOptions::new(CONSOLE);
    let p = progress::sink(false);
    let r = s1bridge_sync::run(&client, store.clone(), &opts, p.sink.clone()).await?;
    p.finish();
    print_run_report(&r, &client.stats());
    crate::ai_agents_cmd::print_summary(&r);
    summarise(&store).await?;
    queue(&store).await?;
    let ai = store
        .list_ai_detections(&s1bridge_store::AiDetectionFilter::default())
        .await?;
    println!(
        "\nAI coding agents seen in the last 7 days: {} (device, user, agent) detection(s) on {} device(s); `ai-agents` lists them.",
        ai.len(),
        ai.iter()
            .map(|d| &d.agent_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );

    println!("\n-- 3. the console changes: agents added, updated, decommissioned and deleted --");
    let changes = sim.apply_changes(&TenantChanges {
        add: 5,
        update: 10,
        decommission: 3,
        delete: 4,
        seed: 7,
    });
    let fchanges = sim.apply_finding_changes(&FindingChanges {
        fix_findings: 6,
        new_findings: 4,
        reopen_findings: 0,
        seed: 7,
    });
    println!(
        "simulator: {} added, {} updated, {} decommissioned, {} deleted; {} findings patched, {} new",
        changes.added.len(),
        changes.updated.len(),
        changes.decommissioned.len(),
        changes.deleted.len(),
        fchanges.fixed_findings.len(),
        fchanges.new_findings.len()
    );

    println!("\n-- 4. sync again: devices incrementally (only what changed), findings in full --");
    let before = client.stats().requests;
    let r = s1bridge_sync::run(&client, store.clone(), &opts, Default::default()).await?;
    print_run_report(&r, &client.stats());
    println!(
        "  ({} requests; deletions are invisible to an incremental device pass, so nothing is marked removed yet)",
        client.stats().requests - before
    );
    let fixed = store
        .list_findings(&FindingFilter {
            console: Some(CONSOLE.into()),
            statuses: vec![FindingStatus::Fixed],
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    if let Some(f) = fixed.first() {
        println!("\nA patched finding is now `fixed`; its history:");
        println!(
            "  s1bridge --db {} vulns --history {}",
            location, f.finding_id
        );
        for t in store.finding_history(&f.finding_id).await? {
            println!(
                "  {}  {} -> {}  (run {}: {})",
                t.at.format("%H:%M:%S"),
                t.from.map(|s| s.as_str()).unwrap_or("-"),
                t.to.as_str(),
                t.run_id,
                t.reason
            );
        }
    }

    println!("\n-- 5. full sync: a complete pass decides what was removed --");
    let mut full = opts.clone();
    full.devices.full = true;
    let r = s1bridge_sync::run(&client, store.clone(), &full, Default::default()).await?;
    print_run_report(&r, &client.stats());
    summarise(&store).await?;

    let removed = store
        .list_devices(&DeviceFilter {
            console: Some(CONSOLE.into()),
            removed: true,
            ..Default::default()
        })
        .await?;
    if !removed.is_empty() {
        println!("\nRemoved from the console (kept here, with removed_at):");
        print!("{}", table(&DEVICE_HEADERS, &device_rows(&removed)));
    }

    println!("\n-- 6. access: principals, roles and scope-exact grants; a dry-run grant --");
    crate::access_cmd::demo_tour(&client, &store, CONSOLE).await?;

    println!("\nExplore the result:");
    let db = &location;
    println!("  s1bridge --db {db} devices");
    println!("  s1bridge --db {db} devices --stale        (no activity for 14 days)");
    println!(
        "  s1bridge --db {db} devices --duplicates   (older records of a re-installed machine)"
    );
    println!("  s1bridge --db {db} devices --json");
    println!(
        "  s1bridge --db {db} vulns                  (the queue, highest effective priority first)"
    );
    println!("  s1bridge --db {db} vulns --explain FINDING");
    println!("  s1bridge --db {db} ai-agents             (AI coding agents by device and user)");
    println!("  s1bridge --db {db} runs");
    println!("  s1bridge --db {db} access --who-has Admin   (and --on site:ID, --changes)");
    running.shutdown();
    Ok(0)
}

async fn queue(store: &Arc<dyn Store>) -> Result<()> {
    let top = store
        .list_findings(&FindingFilter {
            console: Some(CONSOLE.into()),
            statuses: vec![
                FindingStatus::New,
                FindingStatus::Open,
                FindingStatus::Reopened,
            ],
            limit: Some(5),
            ..Default::default()
        })
        .await?;
    if top.is_empty() {
        return Ok(());
    }
    println!("\nTop of the vulnerability queue (effective priority, not just the vendor's):");
    for f in &top {
        let moved: Vec<String> = f
            .factors
            .iter()
            .filter(|x| x.effect != 0)
            .map(|x| format!("{}{:+}", x.name, x.effect))
            .collect();
        println!(
            "  {:<8} vendor {:<8} {} in {} {} on {}  [{}]  {}",
            f.priority.to_uppercase(),
            f.vendor_severity.as_deref().unwrap_or("?"),
            f.cve_id,
            f.application,
            f.application_version,
            f.computer_name.as_deref().unwrap_or(&f.agent_id),
            moved.join(" "),
            f.finding_id
        );
    }
    Ok(())
}

async fn summarise(store: &Arc<dyn Store>) -> Result<()> {
    let c = store.count_devices(CONSOLE).await?;
    let stale = store
        .list_devices(&DeviceFilter {
            console: Some(CONSOLE.into()),
            stale_days: 14,
            only_stale: true,
            ..Default::default()
        })
        .await?;
    println!(
        "\nInventory: {} devices present, {} removed, {} decommissioned, {} stale (>14 days), {} duplicate records",
        c.present,
        c.removed,
        c.decommissioned,
        stale.len(),
        c.duplicates
    );
    let dups = store
        .list_devices(&DeviceFilter {
            console: Some(CONSOLE.into()),
            stale_days: 14,
            only_duplicates: true,
            limit: Some(3),
            ..Default::default()
        })
        .await?;
    if !dups.is_empty() {
        println!("Some duplicates (an older record of the same machine):");
        for d in &dups {
            println!(
                "  {} ({}) is an older record of agent {}",
                d.computer_name,
                d.agent_id,
                d.duplicate_of.as_deref().unwrap_or("?")
            );
        }
    }
    Ok(())
}
