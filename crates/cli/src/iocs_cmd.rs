//! `s1bridge iocs push FILE`: parse indicators (CSV, JSON lines, STIX 2.1), then plan and apply
//! them to firewall control, the blocklist and threat intelligence (see
//! `s1bridge_sync::indicators`); `iocs verify FILE`; `iocs backfill` (import the console's
//! existing objects into the store, foreign ones as not ours); `iocs list` (the store, no
//! console read).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use s1bridge_api::indicators::ScopeFilter;
use s1bridge_indicators::Format;
use s1bridge_store::{IndicatorFilter, IndicatorState, StoredIndicator};
use s1bridge_sync::indicators::{
    BackfillOptions, DEFAULT_DESCRIPTION, Op, PushOptions, State, Target, backfill, push,
    record_verify, verify,
};

use crate::ConnArgs;
use crate::access_cmd::actor;
use crate::connect::{connect, open_store, usage};
use crate::output::table;

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
    /// Import the console's existing blocklist entries, firewall Block rules and
    /// threat-intelligence IOCs into the store (objects s1bridge did not create as not ours).
    /// Reads only; running it again adds nothing and refreshes "last seen".
    Backfill(BackfillArgs),
    /// The indicators s1bridge knows (pushed or backfilled), from the store: no console read.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// What to import (comma separated): firewall, blocklist, ti.
    #[arg(long, value_delimiter = ',', default_value = "firewall,blocklist,ti")]
    pub target: Vec<Target>,
    /// Which objects to read: tenant, account:ID, site:ID or group:ID.
    #[arg(
        long,
        default_value = "tenant",
        value_name = "tenant|account:ID|site:ID|group:ID"
    )]
    pub scope: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this console's indicators.
    #[arg(long, value_name = "NAME")]
    pub console: Option<String>,
    /// Only these targets (comma separated): firewall, blocklist, ti.
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<Target>,
    /// Only objects s1bridge created.
    #[arg(long, conflicts_with = "foreign")]
    pub ours: bool,
    /// Only objects s1bridge did not create.
    #[arg(long)]
    pub foreign: bool,
    /// Only this indicator type: ipv4, ipv6, cidr, domain, url, sha1, sha256, md5.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Print the indicators as a JSON array.
    #[arg(long)]
    pub json: bool,
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
        IocsAction::Backfill(a) => backfill_cmd(db, a).await,
        IocsAction::List(a) => list_cmd(db, a).await,
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
        store,
        opts,
    } = load(db, &args.input, false, true, false).await?;
    let (rows, warnings) = verify(&client, &parsed.indicators, &opts).await;
    record_verify(&store, &opts.console, &rows, opts.now).await?;
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

async fn backfill_cmd(db: Option<String>, args: BackfillArgs) -> Result<u8> {
    let scope = parse_scope(&args.scope)?;
    let store = open_store(db.as_deref()).await?;
    let c = connect(Some(&store), &args.conn).await?;
    let opts = BackfillOptions {
        console: c.name.clone(),
        actor: actor(),
        targets: args.target.clone(),
        scope,
        now: chrono::Utc::now(),
    };
    let report = backfill(&c.client, &store, &opts).await?;
    let code = if report.warnings.is_empty() { 0 } else { 3 };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    let rows: Vec<Vec<String>> = report
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.clone(),
                t.objects.to_string(),
                t.values.to_string(),
                t.imported.to_string(),
                t.updated.to_string(),
                t.ours.to_string(),
                t.foreign.to_string(),
                t.unsupported.to_string(),
                t.missing.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "TARGET",
                "OBJECTS",
                "VALUES",
                "NEW",
                "SEEN AGAIN",
                "OURS",
                "FOREIGN",
                "UNSUPPORTED",
                "GONE",
            ],
            &rows
        )
    );
    println!(
        "console {}: backfill stored {} value(s), {} new; see them with `s1bridge iocs list --console {}`",
        c.name,
        report.targets.iter().map(|t| t.values).sum::<usize>(),
        report.targets.iter().map(|t| t.imported).sum::<u64>(),
        c.name
    );
    for w in &report.warnings {
        println!("warning: {w}");
    }
    Ok(code)
}

fn list_rows(found: &[StoredIndicator]) -> Vec<Vec<String>> {
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    found
        .iter()
        .map(|i| {
            vec![
                i.value.clone(),
                i.kind.clone(),
                i.target.clone(),
                i.os_type
                    .clone()
                    .or_else(|| i.direction.clone())
                    .unwrap_or_else(|| "-".into()),
                if i.ours { "yes" } else { "no" }.into(),
                i.state.as_str().into(),
                i.expires_at.as_ref().map_or_else(|| "-".into(), when),
                when(&i.last_seen_at),
            ]
        })
        .collect()
}

async fn list_cmd(db: Option<String>, args: ListArgs) -> Result<u8> {
    if let Some(k) = &args.kind
        && !s1bridge_indicators::IndicatorType::ALL
            .iter()
            .any(|t| t.as_str() == k.to_ascii_lowercase())
    {
        return Err(usage(format!(
            "--type {k:?}: use ipv4, ipv6, cidr, domain, url, sha1, sha256 or md5"
        )));
    }
    let store = open_store(db.as_deref()).await?;
    let ours = match (args.ours, args.foreign) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let mut targets = args.target.clone();
    targets.sort();
    targets.dedup();
    let mut found = Vec::new();
    let filter = IndicatorFilter {
        console: args.console.clone(),
        ours,
        kind: args.kind.as_ref().map(|k| k.to_ascii_lowercase()),
        ..Default::default()
    };
    if targets.is_empty() {
        found = store.list_indicators(&filter).await?;
    } else {
        for t in targets {
            found.extend(
                store
                    .list_indicators(&IndicatorFilter {
                        target: Some(t.as_str().into()),
                        ..filter.clone()
                    })
                    .await?,
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        println!(
            "No indicators match. `s1bridge iocs push FILE` records what it creates or finds; \
             `s1bridge iocs backfill` imports what the console already has."
        );
    } else {
        print!(
            "{}",
            table(
                &[
                    "VALUE",
                    "TYPE",
                    "TARGET",
                    "OS/SCOPE",
                    "OURS",
                    "STATE",
                    "EXPIRES",
                    "LAST SEEN"
                ],
                &list_rows(&found)
            )
        );
        let ours = found.iter().filter(|i| i.ours).count();
        let missing = found
            .iter()
            .filter(|i| i.state == IndicatorState::Missing)
            .count();
        println!(
            "{} indicator object value(s): {ours} ours, {} foreign, {missing} missing",
            found.len(),
            found.len() - ours
        );
    }
    Ok(0)
}
