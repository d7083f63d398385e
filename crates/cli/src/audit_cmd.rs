//! `s1bridge audit`: every write s1bridge made (or tried to make) to a console, newest first.

use anyhow::Result;
use clap::Args;
use s1bridge_store::AuditFilter;

use crate::access_cmd::parse_since;
use crate::connect::open_store;
use crate::output::table;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only this console.
    #[arg(long)]
    pub console: Option<String>,
    /// Only entries at or after DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only this action (`access.grant`) or family (`access`).
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: Option<String>, args: AuditArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let filter = AuditFilter {
        console: args.console.clone(),
        since: args.since.as_deref().map(parse_since).transpose()?,
        action: args.action.clone(),
        limit: args.limit,
    };
    let entries = store.list_audit(&filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!(
            "The audit log has no entry{}.",
            if args.console.is_some() || args.since.is_some() || args.action.is_some() {
                " matching"
            } else {
                ""
            }
        );
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.console.clone(),
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.result.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "id", "at (UTC)", "console", "actor", "action", "target", "result"
            ],
            &rows
        )
    );
    Ok(0)
}
