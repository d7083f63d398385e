//! `s1bridge iocs push FILE`: parse indicators (CSV, JSON lines, STIX 2.1), then plan and apply
//! them to firewall control, the blocklist and threat intelligence (see
//! `s1bridge_sync::indicators`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use s1bridge_api::indicators::ScopeFilter;
use s1bridge_indicators::Format;
use s1bridge_sync::indicators::{
    DEFAULT_DESCRIPTION, Op, PushOptions, State, Target, push, verify,
};

use crate::ConnArgs;
use crate::access_cmd::actor;
use crate::connect::{connect, open_store, usage};

#[derive(Args, Debug)]
pub struct IocsArgs {
    #[command(subcommand)]
    pub action: IocsAction,
}

#[derive(Subcommand, Debug)]
pub enum IocsAction {
    /// Push the indicators of FILE: create what is missing per target, skip what exists.
    Push(PushArgs),
    /// Re-read the console and report each indicator of FILE per target object as deployed,
    /// deployed_foreign (covered by an object s1bridge did not create), missing or drifted.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

/// What push and verify share: the console, the file, the targets and where objects live.
#[derive(Args, Debug)]
pub struct InputArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// CSV (type,value[,description][,expires_at]), JSON lines or a STIX 2.1 bundle.
    pub file: std::path::PathBuf,
    /// Where indicators go (comma separated): firewall, blocklist, ti.
    #[arg(long, value_delimiter = ',', default_value = "firewall,blocklist")]
    pub target: Vec<Target>,
    /// The input format (default: detected): csv, jsonl, stix.
    #[arg(long)]
    pub format: Option<Format>,
    /// Where objects are created: tenant, account:ID, site:ID or group:ID.
    #[arg(
        long,
        default_value = "tenant",
        value_name = "tenant|account:ID|site:ID|group:ID"
    )]
    pub scope: String,
    /// The description of what s1bridge creates.
    #[arg(long, default_value = DEFAULT_DESCRIPTION)]
    pub description: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Refuse the whole file when any line is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Print the plan (create, skip, delete per target) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete objects s1bridge created whose indicator is no longer in FILE or expired.
    #[arg(long)]
    pub prune: bool,
}

pub async fn run(db: Option<String>, args: IocsArgs) -> Result<u8> {
    match args.action {
        IocsAction::Push(a) => push_cmd(db, a).await,
        IocsAction::Verify(a) => verify_cmd(db, a).await,
    }
}

fn parse_scope(s: &str) -> Result<ScopeFilter> {
    let mut f = ScopeFilter::default();
    match s.split_once(':') {
        None if s == "tenant" => f.tenant = Some(true),
        Some(("account", id)) if !id.is_empty() => f.account_ids.push(id.into()),
        Some(("site", id)) if !id.is_empty() => f.site_ids.push(id.into()),
        Some(("group", id)) if !id.is_empty() => f.group_ids.push(id.into()),
        _ => {
            return Err(usage(format!(
                "--scope {s:?}: use tenant, account:ID, site:ID or group:ID"
            )));
        }
    }
    Ok(f)
}

/// Parses the file (printing every rejected line), connects and builds the options.
struct Loaded {
    parsed: s1bridge_indicators::Parsed,
    client: s1bridge_api::Client,
    store: std::sync::Arc<dyn s1bridge_store::Store>,
    opts: PushOptions,
}

async fn load(
    db: Option<String>,
    a: &InputArgs,
    strict: bool,
    dry_run: bool,
    prune: bool,
) -> Result<Loaded> {
    let scope = parse_scope(&a.scope)?;
    if a.description.trim().is_empty() {
        return Err(usage("--description must not be empty"));
    }
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let parsed = s1bridge_indicators::parse(&text, a.format);
    for r in &parsed.rejected {
        eprintln!("{}:{}: rejected: {}", a.file.display(), r.line, r.reason);
    }
    if strict && !parsed.rejected.is_empty() {
        return Err(usage(format!(
            "{} line(s) rejected and --strict given: nothing was pushed; fix the lines above or drop --strict",
            parsed.rejected.len()
        )));
    }
    let store = open_store(db.as_deref()).await?;
    let c = connect(Some(&store), &a.conn).await?;
    let opts = PushOptions {
        console: c.name.clone(),
        actor: actor(),
        targets: a.target.clone(),
        scope,
        description: a.description.clone(),
        dry_run,
        prune,
        now: chrono::Utc::now(),
    };
    Ok(Loaded {
        parsed,
        client: c.client,
        store,
        opts,
    })
}

async fn push_cmd(db: Option<String>, args: PushArgs) -> Result<u8> {
    let Loaded {
        parsed,
        client,
        store,
        opts,
    } = load(db, &args.input, args.strict, args.dry_run, args.prune).await?;
    let report = push(&client, &store, &parsed.indicators, &opts).await?;
    let code = if report.failed() > 0 {
        1
    } else if !report.warnings.is_empty() {
        3
    } else {
        0
    };
    if args.input.json {
        let out = serde_json::json!({
            "format": parsed.format,
            "rejected": parsed.rejected,
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(code);
    }
    println!(
        "{}: {} indicator(s) read ({}), {} rejected{}",
        args.input.file.display(),
        parsed.indicators.len(),
        parsed.format,
        parsed.rejected.len(),
        if args.dry_run {
            " — dry run, nothing is changed"
        } else {
            ""
        }
    );
    for u in &report.unsupported {
        println!(
            "line {}: {} {}: unsupported: {}",
            u.line, u.kind, u.value, u.reason
        );
    }
    for s in &report.steps {
        if s.op == Op::Skip && !args.dry_run {
            continue;
        }
        let op = match s.op {
            Op::Create => "create",
            Op::Skip => "skip",
            Op::Delete => "delete",
        };
        let os = s
            .os_type
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let detail = if s.detail.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.detail)
        };
        let result = if args.dry_run {
            String::new()
        } else {
            format!(": {}", s.result)
        };
        println!(
            "{op:6} {:9} {} {}{os}{detail}{result}",
            s.target.as_str(),
            s.kind,
            s.value
        );
    }
    let mut by_target: BTreeMap<&str, String> = BTreeMap::new();
    for (t, c) in &report.counts {
        let verb = if args.dry_run { "to create" } else { "created" };
        by_target.insert(
            t.as_str(),
            format!(
                "{} {verb}, {} skipped, {} {}, {} failed",
                c.created,
                c.skipped,
                c.deleted,
                if args.dry_run { "to delete" } else { "deleted" },
                c.failed
            ),
        );
    }
    for (t, line) in by_target {
        println!("{t}: {line}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    Ok(code)
}

async fn verify_cmd(db: Option<String>, args: VerifyArgs) -> Result<u8> {
    let Loaded {
        parsed,
        client,
        opts,
        ..
    } = load(db, &args.input, false, true, false).await?;
    let (rows, warnings) = verify(&client, &parsed.indicators, &opts).await;
    let bad = rows
        .iter()
        .filter(|r| matches!(r.state, State::Missing | State::Drifted))
        .count();
    let code = if bad > 0 {
        1
    } else if !warnings.is_empty() {
        3
    } else {
        0
    };
    if args.input.json {
        let out = serde_json::json!({ "indicators": rows, "warnings": warnings });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(code);
    }
    for r in &rows {
        let state = serde_json::to_value(r.state)?;
        let os = r
            .os_type
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let detail = if r.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", r.detail)
        };
        println!(
            "{:16} {:9} {} {}{os}{detail}",
            state.as_str().unwrap_or_default(),
            r.target.as_str(),
            r.kind,
            r.value
        );
    }
    println!("{} checked, {bad} missing or drifted", rows.len());
    for w in &warnings {
        println!("warning: {w}");
    }
    Ok(code)
}
