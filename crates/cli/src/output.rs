//! Printing: tables for people, JSON (PRODUCT.md field names) for programs.

use anyhow::Result;
use chrono::{DateTime, Utc};
use s1bridge_api::ClientStats;
use s1bridge_store::{Device, DeviceFilter, SyncRun};
use s1bridge_sync::RunReport;
use s1bridge_sync::verify::VerifyReport;

use crate::DevicesArgs;
use crate::connect::open_store;

/// A plain text table: header, rows, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i].saturating_sub(c.chars().count())));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn ago(t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "-".into(),
        Some(t) => {
            let d = Utc::now() - t;
            if d.num_days() >= 1 {
                format!("{}d ago", d.num_days())
            } else if d.num_hours() >= 1 {
                format!("{}h ago", d.num_hours())
            } else {
                format!("{}m ago", d.num_minutes().max(0))
            }
        }
    }
}

pub fn device_rows(devices: &[Device]) -> Vec<Vec<String>> {
    devices
        .iter()
        .map(|d| {
            let mut flags = Vec::new();
            if d.removed_at.is_some() {
                flags.push("removed");
            }
            if d.is_decommissioned {
                flags.push("decommissioned");
            }
            if d.stale {
                flags.push("stale");
            }
            if d.duplicate_of.is_some() {
                flags.push("duplicate");
            }
            vec![
                d.computer_name.clone(),
                d.agent_id.clone(),
                d.os_name.clone().unwrap_or_default(),
                d.agent_version.clone().unwrap_or_default(),
                d.ips.first().cloned().unwrap_or_default(),
                d.last_logged_in_user.clone().unwrap_or_default(),
                d.site_name.clone().unwrap_or_default(),
                ago(d.last_active_at),
                flags.join(","),
            ]
        })
        .collect()
}

pub const DEVICE_HEADERS: [&str; 9] = [
    "COMPUTER",
    "AGENT ID",
    "OS",
    "AGENT",
    "IP",
    "USER",
    "SITE",
    "LAST ACTIVE",
    "FLAGS",
];

pub async fn devices_cmd(db: Option<String>, args: DevicesArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let filter = DeviceFilter {
        console: args.console.clone(),
        now: Some(Utc::now()),
        stale_days: args.stale_days,
        only_stale: args.stale,
        only_duplicates: args.duplicates,
        only_decommissioned: args.decommissioned,
        removed: args.removed,
        include_removed: false,
        limit: args.limit,
    };
    let devices = store.list_devices(&filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else if devices.is_empty() {
        println!("No devices match. Run `s1bridge sync` (or `s1bridge demo`) first.");
    } else {
        print!("{}", table(&DEVICE_HEADERS, &device_rows(&devices)));
        println!("{} device(s)", devices.len());
    }
    Ok(0)
}

pub async fn runs_cmd(
    db: Option<String>,
    console: Option<String>,
    limit: u32,
    json: bool,
) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let runs = store.list_runs(console.as_deref(), limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        print!("{}", runs_table(&runs));
    }
    Ok(0)
}

pub fn runs_table(runs: &[SyncRun]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let dur = r
                .finished_at
                .map(|f| {
                    format!(
                        "{:.1}s",
                        (f - r.started_at).num_milliseconds() as f64 / 1000.0
                    )
                })
                .unwrap_or_else(|| "-".into());
            let feats = r
                .features
                .iter()
                .map(|f| {
                    format!(
                        "{}={}{} ({} records, {} requests)",
                        f.feature,
                        f.status.as_str(),
                        f.reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default(),
                        f.records,
                        f.requests
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                r.run_id.to_string(),
                r.console.clone(),
                r.status.as_str().to_string(),
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                dur,
                feats,
            ]
        })
        .collect();
    table(
        &[
            "RUN",
            "CONSOLE",
            "STATUS",
            "STARTED (UTC)",
            "TOOK",
            "FEATURES",
        ],
        &rows,
    )
}

pub fn print_verify(r: &VerifyReport) {
    println!("Console:  {}", r.url);
    if let Some(v) = &r.console_version {
        println!("Version:  {v}");
    }
    if !r.ok {
        println!("Token:    REJECTED");
        if let Some(e) = &r.error {
            println!("\n{e}");
        }
        return;
    }
    match &r.owner {
        Some(o) => {
            println!(
                "Token:    works; owner {} ({}), scope {}",
                o.email.as_deref().or(o.name.as_deref()).unwrap_or("?"),
                o.id,
                o.scope.as_deref().unwrap_or("?")
            );
            for role in &o.roles {
                println!("          role {role}");
            }
        }
        None => println!("Token:    works (its owner could not be read)"),
    }
    match (r.token_expires_at, r.token_days_left) {
        (Some(exp), Some(days)) => println!(
            "Expires:  {} ({days} days left)",
            exp.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => println!("Expires:  unknown"),
    }
    if let Some(w) = &r.expiry_warning {
        println!("WARNING:  {w}");
    }
    println!();
    let rows: Vec<Vec<String>> = r
        .capabilities
        .iter()
        .map(|c| {
            vec![
                c.feature.clone(),
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["FEATURE", "STATUS", "REASON"], &rows));
}

pub fn print_run_report(r: &RunReport, stats: &ClientStats) {
    println!(
        "Run {} for console '{}': {}",
        r.run_id,
        r.console,
        r.status.as_str()
    );
    for f in &r.features {
        println!(
            "  {:<10} {:<12} {} records, {} requests, {} retries{}",
            f.feature,
            f.status.as_str(),
            f.records,
            f.requests,
            f.retries,
            f.reason
                .as_ref()
                .map(|x| format!("\n             {x}"))
                .unwrap_or_default()
        );
    }
    if let Some(d) = &r.devices {
        let kind = match d.kind {
            Some(s1bridge_store::PassKind::Full) => "full",
            Some(s1bridge_store::PassKind::Incremental) => "incremental",
            None => "-",
        };
        println!(
            "  devices: {kind} pass{} over {} stream(s): {} new, {} updated, {} marked removed, {} back again, {} duplicate records",
            if d.resumed {
                " (resumed from checkpoint)"
            } else {
                ""
            },
            d.streams,
            d.inserted,
            d.updated,
            d.summary.newly_removed,
            d.summary.restored,
            d.summary.duplicates
        );
    }
    if let Some(v) = &r.vulnerabilities {
        println!(
            "  vulnerabilities: {} findings read over {} stream(s){} via {}: {} new, {} reopened, {} now open, {} fixed, {} device removed; {} active",
            v.records,
            v.streams,
            if v.resumed {
                " (resumed from checkpoint)"
            } else {
                ""
            },
            match v.api {
                Some(s1bridge_sync::vulns::RiskApi::InstalledApplications) => {
                    "the deprecated /installed-applications API"
                }
                _ => "/application-management/risks",
            },
            v.new,
            v.reopened,
            v.summary.opened,
            v.summary.fixed,
            v.summary.device_removed,
            v.summary.active
        );
        for w in &v.warnings {
            println!("  note: {w}");
        }
    }
    if let Some(a) = &r.access {
        println!(
            "  access: {} users, {} service users, {} roles, {} grants over {} accounts, {} sites, {} groups; {} change events recorded (s1bridge access --changes)",
            a.users, a.service_users, a.roles, a.grants, a.accounts, a.sites, a.groups, a.changes
        );
    }
    println!(
        "  took {:.2}s; {} requests, {} retries, {} rate-limited (429), {} ms waiting for the rate limiter",
        r.elapsed_ms as f64 / 1000.0,
        stats.requests,
        stats.retries,
        stats.rate_limited,
        stats.throttle_wait_ms
    );
}
