//! `s1bridge vulns`: the vulnerability queue, one finding's explanation, one finding's history.

use anyhow::Result;
use clap::Args;
use s1bridge_store::{Finding, FindingFilter, FindingStatus};

use crate::connect::{open_store, usage};
use crate::output::table;

#[derive(Args, Debug)]
pub struct VulnsArgs {
    /// Only this console's findings.
    #[arg(long)]
    pub console: Option<String>,
    /// Statuses to list (comma separated: new, open, fixed, reopened, device_removed; default:
    /// new, open, reopened).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only this priority or higher: critical, high, medium, low, info.
    #[arg(long, value_parser = ["critical", "high", "medium", "low", "info"])]
    pub min_priority: Option<String>,
    /// Only this CVE.
    #[arg(long, value_name = "CVE-ID")]
    pub cve: Option<String>,
    /// Only this device (agent id or computer name).
    #[arg(long, value_name = "AGENT_ID|NAME")]
    pub device: Option<String>,
    /// Only findings in the CISA KEV catalog.
    #[arg(long)]
    pub kev: bool,
    #[arg(long)]
    pub limit: Option<u32>,
    #[arg(long)]
    pub json: bool,
    /// Explain one finding's priority: vendor severity, each factor, the result.
    #[arg(long, value_name = "FINDING_ID", conflicts_with = "history")]
    pub explain: Option<String>,
    /// One finding's lifecycle: every status change with the run that caused it.
    #[arg(long, value_name = "FINDING_ID")]
    pub history: Option<String>,
}

pub async fn run(db: Option<String>, args: VulnsArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    if let Some(id) = &args.explain {
        let Some(f) = store.get_finding(id).await? else {
            return Err(usage(format!(
                "no finding with id {id}; list them with `s1bridge vulns`"
            )));
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "finding_id": f.finding_id,
                    "vendor_severity": f.vendor_severity,
                    "cvss_score": f.cvss_score,
                    "factors": f.factors,
                    "priority": f.priority,
                }))?
            );
        } else {
            print!("{}", explain_text(&f));
        }
        return Ok(0);
    }
    if let Some(id) = &args.history {
        let Some(f) = store.get_finding(id).await? else {
            return Err(usage(format!(
                "no finding with id {id}; list them with `s1bridge vulns`"
            )));
        };
        let h = store.finding_history(id).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&h)?);
        } else {
            println!("{}", headline(&f));
            let rows: Vec<Vec<String>> = h
                .iter()
                .map(|t| {
                    vec![
                        t.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        t.from.map(|s| s.as_str().to_string()).unwrap_or("-".into()),
                        t.to.as_str().to_string(),
                        t.run_id.to_string(),
                        t.reason.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["AT (UTC)", "FROM", "TO", "RUN", "REASON"], &rows)
            );
        }
        return Ok(0);
    }

    let mut statuses = Vec::new();
    for s in &args.status {
        statuses.push(FindingStatus::parse(s.trim()).ok_or_else(|| {
            usage(format!(
                "unknown status '{s}'; one of new, open, fixed, reopened, device_removed"
            ))
        })?);
    }
    if statuses.is_empty() {
        statuses = vec![
            FindingStatus::New,
            FindingStatus::Open,
            FindingStatus::Reopened,
        ];
    }
    let findings = store
        .list_findings(&FindingFilter {
            console: args.console.clone(),
            statuses,
            min_priority: args.min_priority.clone(),
            cve_id: args.cve.clone(),
            device: args.device.clone(),
            kev_only: args.kev,
            limit: args.limit,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(0);
    }
    if findings.is_empty() {
        println!("No findings match. Run `s1bridge sync` (scan mode) or `s1bridge demo` first.");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                f.priority.to_uppercase(),
                f.vendor_severity.clone().unwrap_or_default(),
                f.cvss_score.map(|c| format!("{c:.1}")).unwrap_or_default(),
                f.status.as_str().to_string(),
                f.cve_id.clone(),
                format!("{} {}", f.application, f.application_version),
                f.computer_name
                    .clone()
                    .unwrap_or_else(|| f.agent_id.clone()),
                factor_summary(f),
                f.finding_id.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "PRIORITY",
                "VENDOR",
                "CVSS",
                "STATUS",
                "CVE",
                "APPLICATION",
                "DEVICE",
                "FACTORS",
                "FINDING"
            ],
            &rows
        )
    );
    println!(
        "{} finding(s); `s1bridge vulns --explain FINDING` shows why a priority is what it is",
        findings.len()
    );
    Ok(0)
}

/// `kev+2 exposed+1 decommissioned-2`: the factors that moved the priority.
fn factor_summary(f: &Finding) -> String {
    f.factors
        .iter()
        .filter(|x| x.effect != 0)
        .map(|x| format!("{}{:+}", x.name, x.effect))
        .collect::<Vec<_>>()
        .join(" ")
}

fn headline(f: &Finding) -> String {
    format!(
        "{} — {} in {} {} on {} (agent {})",
        f.finding_id,
        f.cve_id,
        f.application,
        f.application_version,
        f.computer_name.as_deref().unwrap_or("?"),
        f.agent_id
    )
}

fn explain_text(f: &Finding) -> String {
    let mut out = format!("{}\n", headline(f));
    out.push_str(&format!(
        "vendor severity: {}{}\n",
        f.vendor_severity.as_deref().unwrap_or("unknown"),
        f.cvss_score
            .map(|c| format!(" (CVSS {c:.1})"))
            .unwrap_or_default()
    ));
    out.push_str("factors:\n");
    for x in &f.factors {
        let effect = if x.effect == 0 {
            "  0".to_string()
        } else {
            format!("{:+3}", x.effect)
        };
        out.push_str(&format!("  {effect}  {:<16} {}\n", x.name, x.detail));
    }
    let total: i32 = f.factors.iter().map(|x| x.effect).sum();
    out.push_str(&format!(
        "result: {} → {} ({total:+} steps before clamping)\n",
        f.vendor_severity
            .as_deref()
            .unwrap_or("unknown")
            .to_uppercase(),
        f.priority.to_uppercase()
    ));
    out.push_str(&format!(
        "status: {} (first seen {}, last seen {}{})\n",
        f.status.as_str(),
        f.first_seen_at.format("%Y-%m-%d %H:%M"),
        f.last_seen_at.format("%Y-%m-%d %H:%M"),
        f.fixed_at
            .map(|t| format!(", fixed {}", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default()
    ));
    out
}
