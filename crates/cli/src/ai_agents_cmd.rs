//! `s1bridge ai-agents`: detected AI coding agents by device and user, with evidence.

use anyhow::Result;
use clap::Args;
use s1bridge_store::{AiDetection, AiDetectionFilter, UserSource};
use s1bridge_sync::RunReport;

use crate::connect::open_store;
use crate::output::table;

#[derive(Args, Debug)]
pub struct AiAgentsArgs {
    /// Only this console's detections.
    #[arg(long)]
    pub console: Option<String>,
    /// Only this agent (catalog id, e.g. claude-code).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this device (agent id or computer name).
    #[arg(long)]
    pub device: Option<String>,
    /// Only this user (as reported, e.g. CORP\ann).
    #[arg(long)]
    pub user: Option<String>,
    /// Print the detections as JSON (PRODUCT.md field names).
    #[arg(long)]
    pub json: bool,
}

const HEADERS: [&str; 8] = [
    "AGENT",
    "DEVICE",
    "USER",
    "VERSION",
    "FIRST SEEN",
    "LAST SEEN",
    "EVENTS",
    "EVIDENCE",
];

fn rows(found: &[AiDetection]) -> Vec<Vec<String>> {
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    found
        .iter()
        .map(|d| {
            let user = match (d.user_source, &d.process_user) {
                (UserSource::DeviceLastLoggedIn, Some(p)) => {
                    format!("{} (last logged in; ran as {p})", d.user)
                }
                (UserSource::DeviceLastLoggedIn, None) => format!("{} (last logged in)", d.user),
                _ => d.user.clone(),
            };
            let evidence = d
                .evidence
                .first()
                .map(|e| match &e.parent {
                    Some(p) => format!("{} (from {p})", e.image_path),
                    None => e.image_path.clone(),
                })
                .unwrap_or_default();
            vec![
                d.agent_name.clone(),
                d.computer_name.clone(),
                user,
                d.version.clone().unwrap_or_else(|| "-".into()),
                when(&d.first_seen_at),
                when(&d.last_seen_at),
                d.event_count.to_string(),
                evidence,
            ]
        })
        .collect()
}

pub async fn run(db: Option<String>, args: AiAgentsArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let found = store
        .list_ai_detections(&AiDetectionFilter {
            console: args.console,
            agent: args.agent,
            device: args.device,
            user: args.user,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        println!(
            "No AI coding agents match. Run `s1bridge sync --only ai-agents` (it needs Deep Visibility or PowerQuery; `s1bridge verify` tells whether the console has it)."
        );
    } else {
        print!("{}", table(&HEADERS, &rows(&found)));
        println!("{} detection(s)", found.len());
    }
    Ok(0)
}

/// The AI agents line of a run summary.
pub fn print_summary(r: &RunReport) {
    if let Some(a) = &r.ai_agents {
        println!(
            "  ai-agents: {} .. {} via {}: {} chunk(s), {} queries, {} split(s), {} events ({} matched), {} detection(s) written",
            a.window_from
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            a.window_to
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            a.method.unwrap_or("nothing (already covered)"),
            a.chunks,
            a.queries,
            a.splits,
            a.events,
            a.matched_events,
            a.detections
        );
    }
}
