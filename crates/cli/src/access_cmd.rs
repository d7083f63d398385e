//! `s1bridge access`: principals, roles and scope-exact grants from the last access sync
//! (`--who-has`, `--on`, `--principal`), tokens about to expire, the change events, and
//! `access grant|revoke`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use s1bridge_store::{
    AccessChangeFilter, AccessSnapshot, Grant, GrantFilter, Principal, ScopeType, Store,
};
use s1bridge_sync::provision::{Action, ProvisionError, ProvisionRequest, provision};
use serde_json::json;

use crate::ConnArgs;
use crate::connect::{connect, open_store, usage};
use crate::output::table;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AccessArgs {
    #[command(subcommand)]
    pub action: Option<AccessAction>,
    /// Only this console.
    #[arg(long)]
    pub console: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Only grants of this role (id or name).
    #[arg(long, value_name = "ROLE")]
    pub who_has: Option<String>,
    /// Only grants on this scope: tenant, account:ID, site:ID (or an id or name).
    #[arg(long, value_name = "SCOPE")]
    pub on: Option<String>,
    /// Only this principal (id, email or name).
    #[arg(long, value_name = "EMAIL|ID")]
    pub principal: Option<String>,
    /// List the principals whose API token expires within DAYS (expired ones included).
    #[arg(long, value_name = "DAYS")]
    pub expiring_tokens: Option<i64>,
    /// List the changes seen between syncs (principals and grants added/removed, roles changed,
    /// tokens expiring) and made by grant/revoke.
    #[arg(long)]
    pub changes: bool,
    /// With --changes: only changes at or after DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE", requires = "changes")]
    pub since: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AccessAction {
    /// Give a user or service user a role on a scope (through the console's API).
    Grant(ChangeArgs),
    /// Take a role on a scope away from a user or service user.
    Revoke(ChangeArgs),
}

#[derive(Args, Debug)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The user (email or id) or service user (name or id).
    #[arg(long, value_name = "EMAIL|ID")]
    pub user: String,
    /// The role (name or id).
    #[arg(long, value_name = "NAME|ID")]
    pub role: String,
    /// Where the role is held: tenant, account:ID or site:ID.
    #[arg(long, value_name = "tenant|account:ID|site:ID")]
    pub scope: String,
    /// Print the exact request that would be sent (token elided) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the role held on that scope (grant), or revoke a principal's last role.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant.
pub(crate) fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    s1bridge_store::parse_since(s).ok_or_else(|| {
        usage(format!(
            "--since {:?} is not a date: use YYYY-MM-DD or an RFC 3339 time such as 2026-03-01T12:00:00Z",
            s.trim()
        ))
    })
}

/// Who runs this process, for the audit log: `user@host`.
pub(crate) fn actor() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    format!("{user}@{}", s1bridge_sync::host_name())
}

pub async fn run(db: Option<String>, args: AccessArgs) -> Result<u8> {
    match args.action {
        Some(AccessAction::Grant(c)) => change(db, Action::Grant, c).await,
        Some(AccessAction::Revoke(c)) => change(db, Action::Revoke, c).await,
        None => list(db, args).await,
    }
}

async fn consoles(store: &dyn Store, only: Option<&str>) -> Result<Vec<String>> {
    Ok(match only {
        Some(c) => vec![c.to_string()],
        None => store
            .list_consoles()
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
    })
}

async fn list(db: Option<String>, args: AccessArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    if args.changes {
        let since = args.since.as_deref().map(parse_since).transpose()?;
        let changes = store
            .list_access_changes(&AccessChangeFilter {
                console: args.console.clone(),
                since,
                limit: 0,
            })
            .await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&changes)?);
        } else if changes.is_empty() {
            println!(
                "No access changes recorded{}.",
                since.map(|s| format!(" since {s}")).unwrap_or_default()
            );
        } else {
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|c| {
                    vec![
                        c.at.format("%Y-%m-%d %H:%M").to_string(),
                        c.console.clone(),
                        c.kind.as_str().to_string(),
                        c.principal.clone(),
                        c.role_name
                            .clone()
                            .or(c.role_id.clone())
                            .unwrap_or_default(),
                        scope_text(
                            c.scope_type.map(|t| t.as_str()),
                            c.scope_id.as_deref(),
                            c.scope_name.as_deref(),
                        ),
                        c.detail.clone().unwrap_or_default(),
                        c.run_id
                            .map(|r| r.to_string())
                            .unwrap_or_else(|| "grant/revoke".into()),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "at",
                        "console",
                        "change",
                        "principal",
                        "role",
                        "scope",
                        "detail",
                        "run"
                    ],
                    &rows
                )
            );
        }
        return Ok(0);
    }

    let filter = GrantFilter {
        role: args.who_has.clone(),
        scope: args.on.clone(),
        principal: args.principal.clone(),
    };
    let mut out = Vec::new();
    for console in consoles(&*store, args.console.as_deref()).await? {
        let snap = store.load_access(&console).await?;
        if snap.synced_at.is_none() {
            if args.console.is_some() {
                return Err(usage(format!(
                    "no access data for console '{console}': run `s1bridge sync --console {console} --only access` first"
                )));
            }
            continue;
        }
        out.push((console, snap));
    }
    if out.is_empty() {
        return Err(usage(
            "no access data in this database: run `s1bridge sync --url URL --only access` first",
        ));
    }

    if let Some(days) = args.expiring_tokens {
        let now = Utc::now();
        let within = chrono::Duration::days(days.max(0));
        let expiring: Vec<&Principal> = out
            .iter()
            .flat_map(|(_, s)| s.expiring_tokens(now, within))
            .collect();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&expiring)?);
        } else if expiring.is_empty() {
            println!("No API token expires within {days} days.");
        } else {
            let rows: Vec<Vec<String>> = expiring
                .iter()
                .map(|p| {
                    let exp = p.api_token_expires_at.unwrap_or(now);
                    vec![
                        p.console.clone(),
                        p.principal_kind.as_str().to_string(),
                        p.label().to_string(),
                        p.principal_id.clone(),
                        exp.format("%Y-%m-%d %H:%M").to_string(),
                        if exp <= now {
                            "expired".to_string()
                        } else {
                            format!("in {} days", (exp - now).num_days())
                        },
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["console", "kind", "principal", "id", "expires", "when"],
                    &rows
                )
            );
        }
        return Ok(0);
    }

    if args.json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(console, s)| listing_json(console, s, &filter))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    for (console, s) in &out {
        let grants = s.grants_matching(&filter);
        println!(
            "{console}: {} principals, {} roles, {} grants; last access sync {}{}",
            s.principals.len(),
            s.roles.len(),
            s.grants.len(),
            s.synced_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            if s.complete {
                ""
            } else {
                " (partial: the token saw only part of the console)"
            }
        );
        if grants.is_empty() {
            println!("  no grant matches.");
            continue;
        }
        print!("{}", grants_table(&grants));
    }
    Ok(0)
}

fn scope_text(ty: Option<&str>, id: Option<&str>, name: Option<&str>) -> String {
    match (ty, id) {
        (Some(t), Some(id)) => format!(
            "{t}:{id}{}",
            name.map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        (Some(t), None) => t.to_string(),
        _ => String::new(),
    }
}

fn grants_table(grants: &[&Grant]) -> String {
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            vec![
                g.email
                    .clone()
                    .or(g.principal_name.clone())
                    .unwrap_or_else(|| g.principal_id.clone()),
                g.principal_kind.as_str().to_string(),
                g.role_name.clone().unwrap_or_else(|| g.role_id.clone()),
                scope_text(
                    Some(g.scope_type.as_str()),
                    g.scope_id.as_deref(),
                    g.scope_name.as_deref(),
                ),
            ]
        })
        .collect();
    table(&["principal", "kind", "role", "scope"], &rows)
}

/// One console's listing: with filters, the matching grants and their principals.
fn listing_json(console: &str, s: &AccessSnapshot, filter: &GrantFilter) -> serde_json::Value {
    let grants = s.grants_matching(filter);
    let principals = s.principals_matching(filter);
    json!({
        "console": console,
        "synced_at": s.synced_at,
        "complete": s.complete,
        "principals": principals,
        "roles": s.roles,
        "scopes": s.scopes,
        "grants": grants,
    })
}

async fn change(db: Option<String>, action: Action, args: ChangeArgs) -> Result<u8> {
    let store = open_store(db.as_deref()).await?;
    let c = connect(Some(&store), &args.conn).await?;
    let req = ProvisionRequest {
        console: c.name.clone(),
        action,
        principal: args.user.clone(),
        role: args.role.clone(),
        scope: args.scope.clone(),
        dry_run: args.dry_run,
        force: args.force,
        actor: actor(),
    };
    let outcome = match provision(&c.client, &store, &req).await {
        Ok(o) => o,
        Err(ProvisionError::Refused(msg)) => return Err(usage(msg)),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(0);
    }
    if let Some(r) = &outcome.request
        && outcome.result == "dry_run"
    {
        println!(
            "{} {}{}",
            r["method"].as_str().unwrap_or("PUT"),
            c.url.to_string().trim_end_matches('/'),
            r["path"].as_str().unwrap_or_default()
        );
        println!("Authorization: ApiToken <elided>");
        println!("Content-Type: application/json");
        println!();
        println!("{}", serde_json::to_string_pretty(&r["body"])?);
        println!();
    }
    println!("{}", outcome.message);
    if let Some(id) = outcome.audit_id {
        println!("audit entry #{id} (s1bridge audit)");
    }
    Ok(0)
}

/// The demo's access step: an access sync, then a dry-run grant (nothing is sent).
pub(crate) async fn demo_tour(
    client: &s1bridge_api::Client,
    store: &std::sync::Arc<dyn Store>,
    console: &str,
) -> Result<()> {
    let mut opts = s1bridge_sync::SyncOptions::new(console);
    opts.features = vec![s1bridge_sync::Feature::Access];
    let r = s1bridge_sync::run(client, store.clone(), &opts, Default::default()).await?;
    crate::output::print_run_report(&r, &client.stats());
    let snap = store.load_access(console).await?;
    let site_grant = snap.grants.iter().find(|g| g.scope_type == ScopeType::Site);
    let other_site = site_grant.and_then(|g| {
        snap.scopes
            .iter()
            .find(|s| s.scope_type == ScopeType::Site && Some(&s.scope_id) != g.scope_id.as_ref())
    });
    let (Some(g), Some(site)) = (site_grant, other_site) else {
        return Ok(());
    };
    let req = ProvisionRequest {
        console: console.to_string(),
        action: Action::Grant,
        principal: g.principal_id.clone(),
        role: "Viewer".into(),
        scope: format!("site:{}", site.scope_id),
        dry_run: true,
        force: false,
        actor: actor(),
    };
    let o = provision(client, store, &req).await?;
    println!(
        "\nA dry-run grant of Viewer on site {} to {} (s1bridge access grant … --dry-run):",
        site.name.as_deref().unwrap_or(&site.scope_id),
        g.email.as_deref().unwrap_or(&g.principal_id)
    );
    if let Some(r) = &o.request {
        println!(
            "  {} {}\n  {}",
            r["method"].as_str().unwrap_or_default(),
            r["path"].as_str().unwrap_or_default(),
            serde_json::to_string(&r["body"])?
        );
    }
    println!("  {}", o.message);
    Ok(())
}
