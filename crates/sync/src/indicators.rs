//! Indicator push: plan and reconcile parsed indicators against the console's blocklist,
//! firewall-control rules and threat-intelligence IOCs (`s1bridge iocs push`).
//!
//! The console is the source of truth: each run reads the objects of every chosen target,
//! judges presence per target object (a hash blocked for Windows only still gets its macOS and
//! Linux entries), creates only what is missing and skips what exists — ours or not. What we
//! create carries the description (default "Created by s1bridge") and an ownership marker, so it
//! is found again without a local database:
//!
//! | target     | object                              | marker                                   |
//! |------------|-------------------------------------|------------------------------------------|
//! | blocklist  | one `black_hash` entry per OS type  | description ends with `[s1bridge]`       |
//! | firewall   | Block rules of up to 500 values     | name starts with `s1bridge: `            |
//! | ti         | one IOC per indicator               | `externalId` starts with `s1bridge:`     |
//!
//! Firewall rules are batched: a rule's `remoteHosts[].values` may hold up to 5,000 values
//! (Swagger `maxItems`), so s1bridge puts up to [`FIREWALL_BATCH`] values of one host type
//! (`addresses`, `cidr`, `fqdn`) in one rule, filling its existing rules before making new
//! ones. Reconciliation stays per value: a value held by any Block rule, ours or not, batched or
//! not, is skipped.
//!
//! `prune` deletes only objects carrying our marker whose indicator is no longer in the input
//! or has expired; in a batched rule it removes the value (`PUT` of the rule) and deletes the
//! rule when it is left empty. After a real run, what was created, found or pruned is recorded
//! in the store per target object (`iocs list`); [`backfill`] imports the console's existing
//! objects, foreign ones marked as not ours. Every real write is recorded in the audit log (`indicators.create`,
//! `indicators.delete`); a dry run plans and writes nothing, not even the audit log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::StreamExt;
use s1bridge_api::indicators::{
    BLACK_HASH, BLOCKLIST_OS_TYPES, FIREWALL_OS_TYPES, FirewallRule, FirewallRuleCreate,
    FirewallRuleData, FirewallRuleUpdate, HostSpec, Ioc, IocCreate, IocData, IocDelete,
    IocDeleteFilter, Restriction, RestrictionCreate, RestrictionData, ScopeFilter,
};
use s1bridge_api::{API_PREFIX, ApiError, Client};
use s1bridge_store::{
    AuditEntry, IndicatorFilter, IndicatorRef, IndicatorState, IndicatorUpsert, Store,
};
use serde::Serialize;
use serde_json::{Value, json};

pub use s1bridge_indicators::{Indicator, IndicatorType};

/// The marker appended to the description of every object we create.
pub const MARKER: &str = "[s1bridge]";
/// The prefix of the name of every firewall rule we create.
pub const RULE_PREFIX: &str = "s1bridge: ";
/// The prefix of the `externalId` of every IOC we create (and its `source`).
pub const IOC_PREFIX: &str = "s1bridge:";
/// The default description.
pub const DEFAULT_DESCRIPTION: &str = "Created by s1bridge";

/// IOCs per create request (the TI path allows 30 requests per minute).
const IOC_BATCH: usize = 500;

/// Values per firewall rule s1bridge creates. The console allows 5,000 per `remoteHosts` entry
/// ([`s1bridge_api::indicators::REMOTE_HOST_VALUES_MAX`]); 500 keeps a rule readable in the
/// console and the `PUT` that adds or prunes one value small, while 10,000 addresses still
/// need only 20 rules.
pub const FIREWALL_BATCH: usize = 500;

/// Blocklist creates in flight at once (one entry per request; the limiter sets the pace).
const CREATE_CONCURRENCY: usize = 8;

/// Where indicators go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Firewall,
    Blocklist,
    Ti,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Firewall => "firewall",
            Target::Blocklist => "blocklist",
            Target::Ti => "ti",
        }
    }

    /// Whether this target can hold an indicator of type `t`.
    pub fn holds(self, t: IndicatorType) -> bool {
        use IndicatorType::*;
        match self {
            Target::Firewall => matches!(t, Ipv4 | Ipv6 | Cidr | Domain),
            Target::Blocklist => matches!(t, Sha1 | Sha256),
            Target::Ti => !matches!(t, Cidr),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "firewall" | "fw" => Ok(Target::Firewall),
            "blocklist" | "blacklist" => Ok(Target::Blocklist),
            "ti" | "threat-intelligence" => Ok(Target::Ti),
            _ => Err(format!(
                "unknown target {s:?}; use firewall, blocklist or ti"
            )),
        }
    }
}

/// What a push does.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub console: String,
    pub actor: String,
    pub targets: Vec<Target>,
    pub scope: ScopeFilter,
    pub description: String,
    pub dry_run: bool,
    pub prune: bool,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Skip,
    Delete,
}

/// One step of the plan and, after a real run, its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub op: Op,
    pub target: Target,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// The OS type of a blocklist entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// Why a step is a skip (`exists`, `exists (not ours)`) or the object's id for a delete.
    pub detail: String,
    /// `planned`, `ok` or `failed: <reason>`.
    pub result: String,
    /// The console object (a delete's target; after a real run, the object created or found).
    #[serde(skip)]
    object_id: Option<String>,
    /// Whether the object found for a skip is ours.
    #[serde(skip)]
    ours: bool,
    #[serde(skip)]
    object_description: Option<String>,
    #[serde(skip)]
    direction: Option<String>,
    #[serde(skip)]
    expires_at: Option<DateTime<Utc>>,
}

/// Per-target counts of the outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub created: usize,
    pub skipped: usize,
    pub deleted: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unsupported {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    pub value: String,
    pub line: usize,
    pub reason: String,
}

/// The result of a push.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub counts: Vec<(Target, Counts)>,
    pub unsupported: Vec<Unsupported>,
    /// Targets that could not be used, with what to do (e.g. Firewall Control not licensed).
    pub warnings: Vec<String>,
}

impl PushReport {
    pub fn failed(&self) -> usize {
        self.counts.iter().map(|(_, c)| c.failed).sum()
    }
}

fn firewall_host_type(t: IndicatorType) -> &'static str {
    match t {
        IndicatorType::Cidr => "cidr",
        IndicatorType::Domain => "fqdn",
        _ => "addresses",
    }
}

fn ti_type(t: IndicatorType) -> &'static str {
    match t {
        IndicatorType::Ipv4 => "IPV4",
        IndicatorType::Ipv6 => "IPV6",
        IndicatorType::Domain => "DNS",
        IndicatorType::Url => "URL",
        IndicatorType::Sha1 => "SHA1",
        IndicatorType::Sha256 => "SHA256",
        IndicatorType::Md5 => "MD5",
        IndicatorType::Cidr => "CIDR",
    }
}

/// The name of the one-value rules earlier versions created per indicator (still recognised).
fn rule_name(i: &Indicator) -> String {
    format!("{RULE_PREFIX}block {} {}", i.kind, i.value)
}

fn external_id(i: &Indicator) -> String {
    format!("{IOC_PREFIX}{}:{}", i.kind, i.value)
}

fn is_our_description(d: Option<&str>) -> bool {
    d.is_some_and(|d| d.trim_end().ends_with(MARKER))
}

fn is_our_rule(r: &FirewallRule) -> bool {
    r.name.starts_with(RULE_PREFIX)
}

fn is_our_ioc(x: &Ioc) -> bool {
    x.external_id
        .as_deref()
        .is_some_and(|e| e.starts_with(IOC_PREFIX))
}

fn unavailable(target: Target, e: &ApiError) -> String {
    match (target, e) {
        (Target::Firewall, ApiError::NotLicensed { .. } | ApiError::Forbidden { .. }) => format!(
            "firewall: Firewall Control is not available ({e}). It needs Firewall Control turned \
             on for the scope, the Control SKU, and a role with the Firewall Control view and \
             edit permissions; hashes and other targets were still processed"
        ),
        _ => format!("{target}: the console could not be read ({e}); nothing was changed there"),
    }
}

fn step(op: Op, target: Target, i: &Indicator, os: Option<&str>, detail: &str) -> Step {
    Step {
        op,
        target,
        kind: i.kind.to_string(),
        value: i.value.clone(),
        os_type: os.map(str::to_owned),
        detail: detail.to_owned(),
        result: "planned".into(),
        object_id: None,
        ours: false,
        object_description: None,
        direction: None,
        expires_at: None,
    }
}

/// A planned deletion of one of our console objects (`label` names its id: "id" or "uuid").
fn delete_step(
    target: Target,
    kind: String,
    value: String,
    os_type: Option<String>,
    label: &str,
    id: &str,
) -> Step {
    Step {
        op: Op::Delete,
        target,
        kind,
        value,
        os_type,
        detail: format!("{label} {id}"),
        result: "planned".into(),
        object_id: Some(id.to_owned()),
        ours: true,
        object_description: None,
        direction: None,
        expires_at: None,
    }
}

/// Plans (and unless `dry_run`, applies) pushing `indicators` to the chosen targets. After a
/// real run, what was created, found (skipped) or pruned per target object is recorded in the
/// store (`Store::upsert_indicators` / `delete_indicators`), so `iocs list` knows it without
/// reading the console; a dry run records nothing.
pub async fn push(
    client: &Client,
    store: &Arc<dyn Store>,
    indicators: &[Indicator],
    opts: &PushOptions,
) -> Result<PushReport, s1bridge_store::StoreError> {
    let mut report = PushReport {
        dry_run: opts.dry_run,
        steps: Vec::new(),
        counts: Vec::new(),
        unsupported: Vec::new(),
        warnings: Vec::new(),
    };
    let live: Vec<&Indicator> = indicators
        .iter()
        .filter(|i| i.expires_at.is_none_or(|t| t > opts.now))
        .collect();
    for i in indicators {
        if !opts.targets.iter().any(|t| t.holds(i.kind)) {
            let names: Vec<&str> = opts.targets.iter().map(|t| t.as_str()).collect();
            report.unsupported.push(Unsupported {
                kind: i.kind,
                value: i.value.clone(),
                line: i.line,
                reason: format!(
                    "a {} indicator cannot be held by the chosen targets ({}){}",
                    i.kind,
                    names.join(","),
                    if i.kind == IndicatorType::Url || i.kind == IndicatorType::Md5 {
                        "; add --target ti"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    let mut targets = opts.targets.clone();
    targets.sort();
    targets.dedup();
    for target in targets {
        let mine: Vec<&Indicator> = live
            .iter()
            .copied()
            .filter(|i| target.holds(i.kind))
            .collect();
        let start = report.steps.len();
        let mut our_rules = Vec::new();
        let planned = match target {
            Target::Blocklist => plan_blocklist(client, &mine, opts).await,
            Target::Firewall => plan_firewall(client, &mine, opts)
                .await
                .map(|(steps, rules)| {
                    our_rules = rules;
                    steps
                }),
            Target::Ti => plan_ti(client, &mine, opts).await,
        };
        match planned {
            Ok(steps) => report.steps.extend(steps),
            Err(e) => {
                report.warnings.push(unavailable(target, &e));
                for i in &mine {
                    let mut s = step(Op::Create, target, i, None, "");
                    s.result = format!("failed: {target} unavailable");
                    report.steps.push(s);
                }
                continue;
            }
        }
        if !opts.dry_run {
            let steps = &mut report.steps[start..];
            match target {
                Target::Firewall => {
                    apply_firewall(client, store, steps, &live, opts, our_rules).await?
                }
                _ => apply(client, store, target, steps, &live, opts).await?,
            }
            record(store, target, &report.steps[start..], &live, opts).await?;
        }
    }
    let mut counts: Vec<(Target, Counts)> = Vec::new();
    for s in &report.steps {
        let c = match counts.iter_mut().find(|(t, _)| *t == s.target) {
            Some((_, c)) => c,
            None => {
                counts.push((s.target, Counts::default()));
                &mut counts.last_mut().expect("just pushed").1
            }
        };
        if s.result.starts_with("failed") {
            c.failed += 1;
        } else {
            match s.op {
                Op::Create => c.created += 1,
                Op::Skip => c.skipped += 1,
                Op::Delete => c.deleted += 1,
            }
        }
    }
    report.counts = counts;
    Ok(report)
}

/// The indicator type of a blocklist hash, by length.
fn hash_kind(value: &str) -> &'static str {
    match value.len() {
        64 => "sha256",
        32 => "md5",
        _ => "sha1",
    }
}

/// The indicator type of a firewall `remoteHosts` value.
fn host_kind(host_type: &str, value: &str) -> Option<IndicatorType> {
    match host_type {
        "cidr" => Some(IndicatorType::Cidr),
        "fqdn" => Some(IndicatorType::Domain),
        "addresses" if value.contains('/') => Some(IndicatorType::Cidr),
        "addresses" if value.contains(':') => Some(IndicatorType::Ipv6),
        "addresses" => Some(IndicatorType::Ipv4),
        _ => None,
    }
}

/// The indicator type of a threat-intelligence IOC type.
fn ti_kind(ti: &str) -> Option<IndicatorType> {
    Some(match ti.to_ascii_uppercase().as_str() {
        "IPV4" => IndicatorType::Ipv4,
        "IPV6" => IndicatorType::Ipv6,
        "DNS" => IndicatorType::Domain,
        "URL" => IndicatorType::Url,
        "SHA1" => IndicatorType::Sha1,
        "SHA256" => IndicatorType::Sha256,
        "MD5" => IndicatorType::Md5,
        _ => return None,
    })
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Remembers, on a skip step, the object found holding the value.
fn found(
    mut s: Step,
    id: &str,
    ours: bool,
    description: Option<&str>,
    direction: Option<&str>,
    expires: Option<DateTime<Utc>>,
) -> Step {
    s.object_id = Some(id.to_owned());
    s.ours = ours;
    s.object_description = description.map(str::to_owned);
    s.direction = direction.map(str::to_owned);
    s.expires_at = expires;
    s
}

async fn plan_blocklist(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<Vec<Step>, ApiError> {
    let existing = client.list_blocklist(&opts.scope).await?;
    // (lower-case value, OS type) → entry; an entry of ours wins over a foreign one.
    let mut index: HashMap<(String, String), &Restriction> = HashMap::new();
    for r in &existing {
        let key = (
            r.value.to_ascii_lowercase(),
            r.os_type.clone().unwrap_or_default(),
        );
        let ours = is_our_description(r.description.as_deref());
        match index.get(&key) {
            Some(prev) if is_our_description(prev.description.as_deref()) || !ours => {}
            _ => {
                index.insert(key, r);
            }
        }
    }
    let mut steps = Vec::new();
    let mut wanted = HashSet::new();
    for i in mine {
        for os in BLOCKLIST_OS_TYPES {
            let key = (i.value.to_ascii_lowercase(), os.to_string());
            steps.push(match index.get(&key) {
                Some(r) => {
                    let ours = is_our_description(r.description.as_deref());
                    let detail = if ours { "exists" } else { "exists (not ours)" };
                    found(
                        step(Op::Skip, Target::Blocklist, i, Some(os), detail),
                        &r.id,
                        ours,
                        r.description.as_deref(),
                        None,
                        None,
                    )
                }
                None => step(Op::Create, Target::Blocklist, i, Some(os), ""),
            });
            wanted.insert(key);
        }
    }
    if opts.prune {
        for r in &existing {
            let os = r.os_type.clone().unwrap_or_default();
            if is_our_description(r.description.as_deref())
                && !wanted.contains(&(r.value.to_ascii_lowercase(), os.clone()))
            {
                steps.push(delete_step(
                    Target::Blocklist,
                    hash_kind(&r.value).into(),
                    r.value.to_ascii_lowercase(),
                    Some(os),
                    "id",
                    &r.id,
                ));
            }
        }
    }
    Ok(steps)
}

/// Plans the firewall target. Presence is judged per value: a value held by any Block rule of
/// the same host type (ours or not, batched or not) is skipped. Returns our rules too: creates
/// fill them before new rules are made, and a prune edits them.
async fn plan_firewall(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<(Vec<Step>, Vec<FirewallRule>), ApiError> {
    let existing = client.list_firewall_rules(&opts.scope).await?;
    // (host type, lower-case value) → rule; a rule of ours wins over a foreign one.
    let mut index: HashMap<(String, String), &FirewallRule> = HashMap::new();
    for r in existing
        .iter()
        .filter(|r| r.action.as_deref() == Some("Block"))
    {
        let ours = is_our_rule(r);
        for h in &r.remote_hosts {
            for v in &h.values {
                let key = (h.kind.clone(), v.to_ascii_lowercase());
                match index.get(&key) {
                    Some(prev) if is_our_rule(prev) || !ours => {}
                    _ => {
                        index.insert(key, r);
                    }
                }
            }
        }
    }
    let mut steps = Vec::new();
    let mut wanted = HashSet::new();
    for i in mine {
        let key = (
            firewall_host_type(i.kind).to_string(),
            i.value.to_ascii_lowercase(),
        );
        steps.push(match index.get(&key) {
            Some(r) => {
                let ours = is_our_rule(r);
                let detail = if ours { "exists" } else { "exists (not ours)" };
                found(
                    step(Op::Skip, Target::Firewall, i, None, detail),
                    &r.id,
                    ours,
                    r.description.as_deref(),
                    r.direction.as_deref(),
                    None,
                )
            }
            None => step(Op::Create, Target::Firewall, i, None, ""),
        });
        wanted.insert(key);
    }
    let ours: Vec<FirewallRule> = existing.into_iter().filter(is_our_rule).collect();
    if opts.prune {
        for r in &ours {
            for h in &r.remote_hosts {
                for v in &h.values {
                    if wanted.contains(&(h.kind.clone(), v.to_ascii_lowercase())) {
                        continue;
                    }
                    let kind =
                        host_kind(&h.kind, v).map_or_else(|| h.kind.clone(), |k| k.to_string());
                    let mut s = delete_step(
                        Target::Firewall,
                        kind,
                        v.to_ascii_lowercase(),
                        None,
                        "rule",
                        &r.id,
                    );
                    s.direction = r.direction.clone();
                    steps.push(s);
                }
            }
        }
    }
    Ok((steps, ours))
}

async fn plan_ti(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<Vec<Step>, ApiError> {
    let existing = client.list_iocs(&opts.scope).await?;
    // (IOC type, lower-case value) → IOC; one of ours wins over a foreign one.
    let mut index: HashMap<(String, String), &Ioc> = HashMap::new();
    for x in &existing {
        let key = (x.kind.to_ascii_uppercase(), x.value.to_ascii_lowercase());
        match index.get(&key) {
            Some(prev) if is_our_ioc(prev) || !is_our_ioc(x) => {}
            _ => {
                index.insert(key, x);
            }
        }
    }
    let mut steps = Vec::new();
    let mut wanted = HashSet::new();
    for i in mine {
        wanted.insert(external_id(i));
        let key = (ti_type(i.kind).to_string(), i.value.to_ascii_lowercase());
        steps.push(match index.get(&key) {
            Some(x) => {
                let ours = is_our_ioc(x);
                let detail = if ours { "exists" } else { "exists (not ours)" };
                found(
                    step(Op::Skip, Target::Ti, i, None, detail),
                    &x.uuid,
                    ours,
                    x.description.as_deref(),
                    None,
                    parse_time(x.valid_until.as_deref()),
                )
            }
            None => step(Op::Create, Target::Ti, i, None, ""),
        });
    }
    if opts.prune {
        for x in &existing {
            let ours = x
                .external_id
                .as_deref()
                .filter(|e| e.starts_with(IOC_PREFIX));
            if ours.is_some_and(|e| !wanted.contains(e)) {
                let kind =
                    ti_kind(&x.kind).map_or_else(|| x.kind.to_ascii_lowercase(), |k| k.to_string());
                steps.push(delete_step(
                    Target::Ti,
                    kind,
                    x.value.to_ascii_lowercase(),
                    None,
                    "uuid",
                    &x.uuid,
                ));
            }
        }
    }
    Ok(steps)
}

fn find<'a>(live: &[&'a Indicator], s: &Step) -> Option<&'a Indicator> {
    live.iter()
        .copied()
        .find(|i| i.kind.as_str() == s.kind && i.value == s.value)
}

fn describe(opts: &PushOptions, i: &Indicator) -> String {
    match &i.description {
        Some(d) => format!("{} - {d} {MARKER}", opts.description),
        None => format!("{} {MARKER}", opts.description),
    }
}

fn scope_filter_for_ioc_delete(scope: &ScopeFilter) -> ScopeFilter {
    ScopeFilter {
        account_ids: scope.account_ids.clone(),
        tenant: scope.tenant,
        ..Default::default()
    }
}

fn audit_entry(
    opts: &PushOptions,
    action: &str,
    target_text: String,
    request: Value,
    after: Value,
    result: String,
) -> AuditEntry {
    AuditEntry {
        id: 0,
        console: opts.console.clone(),
        at: Utc::now(),
        actor: opts.actor.clone(),
        action: action.into(),
        target: target_text,
        dry_run: false,
        request,
        before: Value::Null,
        after,
        result,
        run_id: None,
    }
}

/// Applies the blocklist and threat-intelligence steps. Blocklist entries are one request each
/// (the console creates one entry per call), sent [`CREATE_CONCURRENCY`] at a time so the
/// client's rate limiter, not the round trip, sets the pace.
async fn apply(
    client: &Client,
    store: &Arc<dyn Store>,
    target: Target,
    steps: &mut [Step],
    live: &[&Indicator],
    opts: &PushOptions,
) -> Result<(), s1bridge_store::StoreError> {
    let mut ioc_batch: Vec<(usize, IocData)> = Vec::new();
    let mut blocklist_creates: Vec<(usize, RestrictionCreate, String)> = Vec::new();
    for (n, s) in steps.iter_mut().enumerate() {
        match (s.op, target) {
            (Op::Skip, _) => s.result = "ok".into(),
            (Op::Create, Target::Blocklist) => {
                let Some(i) = find(live, s) else { continue };
                let body = RestrictionCreate {
                    data: RestrictionData {
                        kind: BLACK_HASH.into(),
                        value: i.value.clone(),
                        os_type: s.os_type.clone().unwrap_or_default(),
                        description: Some(describe(opts, i)),
                        source: Some("s1bridge".into()),
                    },
                    filter: opts.scope.clone(),
                };
                let text = format!("blocklist {} {} ({})", i.kind, i.value, body.data.os_type);
                blocklist_creates.push((n, body, text));
            }
            (Op::Create, Target::Ti) => {
                let Some(i) = find(live, s) else { continue };
                ioc_batch.push((
                    n,
                    IocData {
                        kind: ti_type(i.kind).into(),
                        value: i.value.clone(),
                        source: "s1bridge".into(),
                        method: "EQUALS".into(),
                        valid_until: Some(ti_valid_until(i, opts.now)),
                        name: Some(format!("{} {}", i.kind, i.value)),
                        description: Some(describe(opts, i)),
                        external_id: Some(external_id(i)),
                        creation_time: None,
                        creator: None,
                    },
                ));
            }
            (Op::Create, Target::Firewall) => {}
            (Op::Delete, _) => {
                let id = s.object_id.clone().unwrap_or_default();
                let (path, res) = match target {
                    Target::Blocklist => (
                        "/restrictions",
                        client
                            .delete_blocklist_entries(std::slice::from_ref(&id))
                            .await,
                    ),
                    Target::Firewall => (
                        "/firewall-control",
                        client
                            .delete_firewall_rules(std::slice::from_ref(&id))
                            .await,
                    ),
                    Target::Ti => (
                        "/threat-intelligence/iocs",
                        client
                            .delete_iocs(&IocDelete {
                                filter: IocDeleteFilter {
                                    scope: scope_filter_for_ioc_delete(&opts.scope),
                                    uuids: vec![id.clone()],
                                },
                            })
                            .await,
                    ),
                };
                let (result, after) = outcome(res.map(|v| json!(v)));
                s.result = result.clone();
                let e = audit_entry(
                    opts,
                    "indicators.delete",
                    format!("{target} {} {} ({})", s.kind, s.value, s.detail),
                    json!({"method": "DELETE", "path": format!("{API_PREFIX}{path}"), "ids": [id]}),
                    after,
                    result,
                );
                store.record_audit(&e).await?;
            }
        }
    }
    let mut results = futures::stream::iter(blocklist_creates)
        .map(|(n, body, text)| async move {
            let res = client.create_blocklist_entry(&body).await;
            (n, body, text, res)
        })
        .buffer_unordered(CREATE_CONCURRENCY);
    while let Some((n, body, text, res)) = results.next().await {
        if let Ok(created) = &res {
            steps[n].object_id = created.first().map(|r| r.id.clone());
        }
        let (result, after) = outcome(res.map(|v| json!(v)));
        steps[n].result = result.clone();
        let e = audit_entry(
            opts,
            "indicators.create",
            text,
            json!({"method": "POST", "path": format!("{API_PREFIX}/restrictions"), "body": body}),
            after,
            result,
        );
        store.record_audit(&e).await?;
    }
    for chunk in ioc_batch.chunks(IOC_BATCH) {
        let body = IocCreate {
            filter: opts.scope.clone(),
            data: chunk.iter().map(|(_, d)| d.clone()).collect(),
        };
        let res = client.create_iocs(&body).await;
        if let Ok(created) = &res {
            let by_value: HashMap<(String, String), &Ioc> = created
                .iter()
                .map(|x| {
                    (
                        (x.kind.to_ascii_uppercase(), x.value.to_ascii_lowercase()),
                        x,
                    )
                })
                .collect();
            for (n, d) in chunk {
                if let Some(x) = by_value.get(&(d.kind.clone(), d.value.to_ascii_lowercase())) {
                    steps[*n].object_id = Some(x.uuid.clone());
                    steps[*n].expires_at = parse_time(x.valid_until.as_deref());
                }
            }
        }
        let (result, after) = outcome(res.map(|v| json!(v)));
        for (n, _) in chunk {
            steps[*n].result = result.clone();
        }
        let e = audit_entry(
            opts,
            "indicators.create",
            format!("threat intelligence: {} IOCs", chunk.len()),
            json!({"method": "POST", "path": format!("{API_PREFIX}/threat-intelligence/iocs"), "body": body}),
            after,
            result,
        );
        store.record_audit(&e).await?;
    }
    Ok(())
}

/// One of our firewall rules while a push edits it.
struct RuleEdit {
    rule: FirewallRule,
    /// The rule's remote hosts after the edit.
    hosts: Vec<HostSpec>,
    /// Steps whose value this edit adds / removes.
    added: Vec<usize>,
    removed: Vec<usize>,
}

fn rule_data(
    name: String,
    description: Option<String>,
    hosts: Vec<HostSpec>,
    base: Option<&FirewallRule>,
) -> FirewallRuleData {
    FirewallRuleData {
        name,
        description,
        action: "Block".into(),
        status: base
            .and_then(|r| r.status.clone())
            .unwrap_or_else(|| "Enabled".into()),
        direction: Some(
            base.and_then(|r| r.direction.clone())
                .unwrap_or_else(|| "any".into()),
        ),
        os_types: match base {
            Some(r) if !r.os_types.is_empty() => r.os_types.clone(),
            _ => FIREWALL_OS_TYPES.iter().map(|s| s.to_string()).collect(),
        },
        remote_hosts: hosts,
        tag_ids: Vec::new(),
    }
}

/// Applies the firewall steps with batched rules: values are removed from (prune) and added to
/// our rules first — one `PUT` per changed rule, or a `DELETE` when a rule is left empty — and
/// the remaining new values go into new Block rules of at most [`FIREWALL_BATCH`] values, one
/// host type per rule (`POST`). Every request is an audit entry.
async fn apply_firewall(
    client: &Client,
    store: &Arc<dyn Store>,
    steps: &mut [Step],
    live: &[&Indicator],
    opts: &PushOptions,
    our_rules: Vec<FirewallRule>,
) -> Result<(), s1bridge_store::StoreError> {
    let mut names: HashSet<String> = our_rules.iter().map(|r| r.name.clone()).collect();
    let mut edits: Vec<RuleEdit> = our_rules
        .into_iter()
        .map(|r| RuleEdit {
            hosts: r.remote_hosts.clone(),
            rule: r,
            added: Vec::new(),
            removed: Vec::new(),
        })
        .collect();
    let mut creates: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (n, s) in steps.iter_mut().enumerate() {
        match s.op {
            Op::Skip => s.result = "ok".into(),
            Op::Create => {
                if let Some(i) = find(live, s) {
                    creates
                        .entry(firewall_host_type(i.kind))
                        .or_default()
                        .push(n);
                }
            }
            Op::Delete => {
                let id = s.object_id.clone().unwrap_or_default();
                if let Some(e) = edits.iter_mut().find(|e| e.rule.id == id) {
                    for h in &mut e.hosts {
                        h.values.retain(|v| !v.eq_ignore_ascii_case(&s.value));
                    }
                    e.hosts.retain(|h| h.kind == "any" || !h.values.is_empty());
                    e.removed.push(n);
                }
            }
        }
    }
    // Fill our Block rules that hold one host type and have room, then make new rules.
    let mut new_rules: Vec<(&'static str, Vec<usize>)> = Vec::new();
    for (host, idxs) in creates {
        let mut idxs = idxs.into_iter().peekable();
        for e in edits.iter_mut().filter(|e| {
            e.rule.action.as_deref() == Some("Block")
                && e.hosts.len() == 1
                && e.hosts[0].kind == host
        }) {
            while e.hosts[0].values.len() < FIREWALL_BATCH {
                let Some(n) = idxs.next() else { break };
                e.hosts[0].values.push(steps[n].value.clone());
                e.added.push(n);
            }
        }
        let rest: Vec<usize> = idxs.collect();
        for chunk in rest.chunks(FIREWALL_BATCH) {
            new_rules.push((host, chunk.to_vec()));
        }
    }
    let description = format!("{} {MARKER}", opts.description);
    for e in edits
        .iter()
        .filter(|e| !e.added.is_empty() || !e.removed.is_empty())
    {
        let id = e.rule.id.clone();
        let (action, request, res) = if e.hosts.is_empty() {
            let res = client
                .delete_firewall_rules(std::slice::from_ref(&id))
                .await
                .map(|v| json!(v));
            (
                "indicators.delete",
                json!({"method": "DELETE", "path": format!("{API_PREFIX}/firewall-control"), "ids": [id]}),
                res,
            )
        } else {
            let body = FirewallRuleUpdate {
                data: rule_data(
                    e.rule.name.clone(),
                    e.rule
                        .description
                        .clone()
                        .or_else(|| Some(description.clone())),
                    e.hosts.clone(),
                    Some(&e.rule),
                ),
            };
            let res = client
                .update_firewall_rule(&id, &body)
                .await
                .map(|v| json!(v));
            (
                "indicators.update",
                json!({"method": "PUT", "path": format!("{API_PREFIX}/firewall-control/{id}"), "body": body}),
                res,
            )
        };
        let (result, after) = outcome(res);
        for &n in e.added.iter().chain(&e.removed) {
            steps[n].result = result.clone();
            if steps[n].op == Op::Create {
                steps[n].object_id = Some(id.clone());
                steps[n].object_description = e.rule.description.clone();
                steps[n].direction = e.rule.direction.clone();
            }
        }
        let text = format!(
            "firewall block rule {} ({}): {} value(s) added, {} removed",
            e.rule.name,
            id,
            e.added.len(),
            e.removed.len()
        );
        let mut entry = audit_entry(opts, action, text, request, after, result);
        entry.before = json!(e.rule);
        store.record_audit(&entry).await?;
    }
    let mut counter = 1usize;
    for (host, idxs) in new_rules {
        let name = loop {
            let candidate = format!("{RULE_PREFIX}block {host} #{counter}");
            counter += 1;
            if names.insert(candidate.clone()) {
                break candidate;
            }
        };
        let body = FirewallRuleCreate {
            data: rule_data(
                name.clone(),
                Some(description.clone()),
                vec![HostSpec {
                    kind: host.into(),
                    values: idxs.iter().map(|&n| steps[n].value.clone()).collect(),
                }],
                None,
            ),
            filter: opts.scope.clone(),
        };
        let res = client.create_firewall_rule(&body).await;
        if let Ok(rule) = &res {
            for &n in &idxs {
                steps[n].object_id = Some(rule.id.clone());
                steps[n].object_description = rule.description.clone();
                steps[n].direction = rule.direction.clone();
            }
        }
        let (result, after) = outcome(res.map(|v| json!(v)));
        for &n in &idxs {
            steps[n].result = result.clone();
        }
        store
            .record_audit(&audit_entry(
                opts,
                "indicators.create",
                format!("firewall block rule {name}: {} {host} value(s)", idxs.len()),
                json!({"method": "POST", "path": format!("{API_PREFIX}/firewall-control"), "body": body}),
                after,
                result,
            ))
            .await?;
    }
    Ok(())
}

/// Records what a real push did per target object: created and found objects are upserted
/// (ours or not, with state `created` / `skipped`), pruned values deleted. Failed steps are
/// not recorded.
async fn record(
    store: &Arc<dyn Store>,
    target: Target,
    steps: &[Step],
    live: &[&Indicator],
    opts: &PushOptions,
) -> Result<(), s1bridge_store::StoreError> {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for s in steps.iter().filter(|s| s.result == "ok") {
        let Some(id) = s.object_id.clone() else {
            continue;
        };
        match s.op {
            Op::Create | Op::Skip => {
                let i = find(live, s);
                let created = s.op == Op::Create;
                upserts.push(IndicatorUpsert {
                    target: target.as_str().into(),
                    object_id: id,
                    kind: s.kind.clone(),
                    value: s.value.clone(),
                    os_type: s.os_type.clone(),
                    direction: s.direction.clone(),
                    description: match (created, target, i) {
                        (true, Target::Blocklist | Target::Ti, Some(i)) => Some(describe(opts, i)),
                        _ => s.object_description.clone(),
                    },
                    ours: created || s.ours,
                    expires_at: if created {
                        s.expires_at.or_else(|| i.and_then(|i| i.expires_at))
                    } else {
                        s.expires_at
                    },
                    state: Some(if created {
                        IndicatorState::Created
                    } else {
                        IndicatorState::Skipped
                    }),
                });
            }
            Op::Delete => deletes.push(IndicatorRef {
                target: target.as_str().into(),
                object_id: Some(id),
                kind: s.kind.clone(),
                value: s.value.clone(),
                os_type: None,
            }),
        }
    }
    if !upserts.is_empty() {
        store
            .upsert_indicators(&opts.console, &upserts, opts.now)
            .await?;
    }
    if !deletes.is_empty() {
        store.delete_indicators(&opts.console, &deletes).await?;
    }
    Ok(())
}

fn outcome(res: Result<Value, ApiError>) -> (String, Value) {
    match res {
        Ok(v) => ("ok".into(), v),
        Err(e) => (format!("failed: {e}"), Value::Null),
    }
}

/// `validUntil` of an IOC: the indicator's expiry, capped like the console does (IPs 30 days,
/// everything else 180), or the cap when the input gives none.
fn ti_valid_until(i: &Indicator, now: DateTime<Utc>) -> String {
    let cap_days = match i.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 => 30,
        _ => 180,
    };
    let cap = now + Duration::days(cap_days);
    i.expires_at
        .map_or(cap, |t| t.min(cap))
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The state of one of our indicators on one target object, as `iocs verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Our object is there as we created it.
    Deployed,
    /// Not ours, but an object covering the indicator exists.
    DeployedForeign,
    /// Nothing covers the indicator.
    Missing,
    /// Our object is there but was changed in the console.
    Drifted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub target: Target,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    pub state: State,
    /// What changed, for a drifted object.
    pub detail: String,
}

/// Re-reads the console and reports each indicator of the input per target object as deployed,
/// missing or drifted. Read-only. A target that cannot be read is an error for that target.
pub async fn verify(
    client: &Client,
    indicators: &[Indicator],
    opts: &PushOptions,
) -> (Vec<Verified>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut targets = opts.targets.clone();
    targets.sort();
    targets.dedup();
    let row = |target, i: &Indicator, os: Option<&str>, state, detail: String| Verified {
        target,
        kind: i.kind.to_string(),
        value: i.value.clone(),
        os_type: os.map(str::to_owned),
        state,
        detail,
    };
    for target in targets {
        let mine: Vec<&Indicator> = indicators.iter().filter(|i| target.holds(i.kind)).collect();
        match target {
            Target::Blocklist => match client.list_blocklist(&opts.scope).await {
                Err(e) => warnings.push(unavailable(target, &e)),
                Ok(existing) => {
                    for i in &mine {
                        for os in BLOCKLIST_OS_TYPES {
                            let found = existing.iter().filter(|r| {
                                r.value.eq_ignore_ascii_case(&i.value)
                                    && r.os_type.as_deref() == Some(os)
                            });
                            let (ours, foreign): (Vec<_>, Vec<_>) =
                                found.partition(|r| is_our_description(r.description.as_deref()));
                            let want = describe(opts, i);
                            let (state, detail) = match (ours.first(), foreign.is_empty()) {
                                (Some(r), _) if r.description.as_deref() == Some(want.as_str()) => {
                                    (State::Deployed, String::new())
                                }
                                (Some(r), _) => (
                                    State::Drifted,
                                    format!(
                                        "description is {:?}, expected {want:?}",
                                        r.description.as_deref().unwrap_or_default()
                                    ),
                                ),
                                (None, false) => (State::DeployedForeign, String::new()),
                                (None, true) => (State::Missing, String::new()),
                            };
                            out.push(row(target, i, Some(os), state, detail));
                        }
                    }
                }
            },
            Target::Firewall => match client.list_firewall_rules(&opts.scope).await {
                Err(e) => warnings.push(unavailable(target, &e)),
                Ok(existing) => {
                    // (host type, lower-case value) → our rule holding it / a foreign Block rule.
                    let mut ours: HashMap<(String, String), &FirewallRule> = HashMap::new();
                    let mut foreign: HashSet<(String, String)> = HashSet::new();
                    for r in &existing {
                        for h in &r.remote_hosts {
                            for v in &h.values {
                                let key = (h.kind.clone(), v.to_ascii_lowercase());
                                if is_our_rule(r) {
                                    ours.entry(key).or_insert(r);
                                } else if r.action.as_deref() == Some("Block") {
                                    foreign.insert(key);
                                }
                            }
                        }
                    }
                    for i in &mine {
                        let key = (
                            firewall_host_type(i.kind).to_string(),
                            i.value.to_ascii_lowercase(),
                        );
                        let (state, detail) = match ours.get(&key) {
                            Some(r) => {
                                let mut changed = Vec::new();
                                if r.action.as_deref() != Some("Block") {
                                    changed.push(format!("action is {:?}", r.action));
                                }
                                if r.status.as_deref() != Some("Enabled") {
                                    changed.push(format!("status is {:?}", r.status));
                                }
                                if changed.is_empty() {
                                    (State::Deployed, String::new())
                                } else {
                                    (State::Drifted, changed.join(", "))
                                }
                            }
                            // A one-value rule of ours named after this indicator whose hosts
                            // were changed in the console.
                            None if existing.iter().any(|r| r.name == rule_name(i)) => {
                                (State::Drifted, "remote hosts changed".into())
                            }
                            None if foreign.contains(&key) => {
                                (State::DeployedForeign, String::new())
                            }
                            None => (State::Missing, String::new()),
                        };
                        out.push(row(target, i, None, state, detail));
                    }
                }
            },
            Target::Ti => match client.list_iocs(&opts.scope).await {
                Err(e) => warnings.push(unavailable(target, &e)),
                Ok(existing) => {
                    for i in &mine {
                        let ext = external_id(i);
                        let ours = existing
                            .iter()
                            .find(|x| x.external_id.as_deref() == Some(ext.as_str()));
                        let (state, detail) = match ours {
                            Some(x)
                                if x.kind == ti_type(i.kind)
                                    && x.value.eq_ignore_ascii_case(&i.value) =>
                            {
                                (State::Deployed, String::new())
                            }
                            Some(x) => (State::Drifted, format!("now {} {}", x.kind, x.value)),
                            None if existing.iter().any(|x| {
                                x.kind == ti_type(i.kind) && x.value.eq_ignore_ascii_case(&i.value)
                            }) =>
                            {
                                (State::DeployedForeign, String::new())
                            }
                            None => (State::Missing, String::new()),
                        };
                        out.push(row(target, i, None, state, detail));
                    }
                }
            },
        }
    }
    (out, warnings)
}

/// Records `iocs verify`'s findings in the store: our rows of a deployed or drifted indicator
/// take that state; every row of a missing one becomes `missing`. Returns the rows changed.
pub async fn record_verify(
    store: &Arc<dyn Store>,
    console: &str,
    rows: &[Verified],
    at: DateTime<Utc>,
) -> Result<u64, s1bridge_store::StoreError> {
    let ours = store
        .list_indicators(&IndicatorFilter {
            console: Some(console.into()),
            ours: Some(true),
            ..Default::default()
        })
        .await?;
    let mut updates = Vec::new();
    for r in rows {
        let by_value = IndicatorRef {
            target: r.target.as_str().into(),
            object_id: None,
            kind: r.kind.clone(),
            value: r.value.clone(),
            os_type: r.os_type.clone(),
        };
        match r.state {
            State::Missing => updates.push((by_value, IndicatorState::Missing)),
            State::Deployed | State::Drifted => {
                let state = if r.state == State::Deployed {
                    IndicatorState::Deployed
                } else {
                    IndicatorState::Drifted
                };
                for o in ours.iter().filter(|o| {
                    o.target == by_value.target
                        && o.kind == r.kind
                        && o.value == r.value
                        && (r.os_type.is_none() || o.os_type == r.os_type)
                }) {
                    updates.push((
                        IndicatorRef {
                            object_id: Some(o.object_id.clone()),
                            os_type: None,
                            ..by_value.clone()
                        },
                        state,
                    ));
                }
            }
            State::DeployedForeign => {}
        }
    }
    store.set_indicator_states(console, &updates, at).await
}

/// What `iocs backfill` does.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    pub console: String,
    pub actor: String,
    pub targets: Vec<Target>,
    pub scope: ScopeFilter,
    pub now: DateTime<Utc>,
}

/// Per-target outcome of a backfill.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BackfillCounts {
    pub target: String,
    /// Console objects read (blocklist entries, Block rules, IOCs).
    pub objects: usize,
    /// Indicator values on them (a batched rule holds many).
    pub values: usize,
    /// Values stored for the first time.
    pub imported: u64,
    /// Values already stored (their `last_seen_at` moves).
    pub updated: u64,
    pub ours: usize,
    pub foreign: usize,
    /// Values s1bridge cannot represent (firewall `range`/`any` hosts, unknown IOC types,
    /// values that do not validate).
    pub unsupported: usize,
    /// Stored values whose object is no longer in the console (state becomes `missing`).
    pub missing: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillReport {
    pub targets: Vec<BackfillCounts>,
    /// Targets that could not be read, with what to do.
    pub warnings: Vec<String>,
}

/// One console object value seen by a backfill.
fn seen(
    target: Target,
    object_id: &str,
    kind: IndicatorType,
    raw: &str,
    ours: bool,
) -> Option<IndicatorUpsert> {
    let value = s1bridge_indicators::normalise(kind, raw).ok()?;
    Some(IndicatorUpsert {
        target: target.as_str().into(),
        object_id: object_id.into(),
        kind: kind.to_string(),
        value,
        os_type: None,
        direction: None,
        description: None,
        ours,
        expires_at: None,
        state: None,
    })
}

/// Reads the console's blocklist entries, firewall Block rules and threat-intelligence IOCs of
/// the chosen targets and stores every value they hold: objects carrying our marker as ours,
/// every other one as not ours. New values are `imported`; values already stored keep their
/// state and get `last_seen_at` (so a second backfill adds nothing). Stored values of a target
/// that was read completely and no longer holds them become `missing`. A target the console
/// refuses (e.g. Firewall Control not licensed) is a warning and the others still import. Reads
/// only; one audit entry (`indicators.backfill`) records what was imported.
pub async fn backfill(
    client: &Client,
    store: &Arc<dyn Store>,
    opts: &BackfillOptions,
) -> Result<BackfillReport, s1bridge_store::StoreError> {
    let mut report = BackfillReport::default();
    let mut targets = opts.targets.clone();
    targets.sort();
    targets.dedup();
    let mut paths = Vec::new();
    for target in targets {
        let mut counts = BackfillCounts {
            target: target.as_str().into(),
            ..Default::default()
        };
        let mut records: Vec<IndicatorUpsert> = Vec::new();
        let read: Result<(), ApiError> = match target {
            Target::Blocklist => {
                paths.push("/restrictions");
                client.list_blocklist(&opts.scope).await.map(|list| {
                    counts.objects = list.len();
                    for r in list {
                        let kind = match r.value.len() {
                            64 => IndicatorType::Sha256,
                            32 => IndicatorType::Md5,
                            _ => IndicatorType::Sha1,
                        };
                        let ours = is_our_description(r.description.as_deref());
                        match seen(target, &r.id, kind, &r.value, ours) {
                            Some(mut u) => {
                                u.os_type = r.os_type.clone();
                                u.description = r.description.clone();
                                records.push(u);
                            }
                            None => counts.unsupported += 1,
                        }
                    }
                })
            }
            Target::Firewall => {
                paths.push("/firewall-control");
                client.list_firewall_rules(&opts.scope).await.map(|list| {
                    for r in list.iter().filter(|r| r.action.as_deref() == Some("Block")) {
                        counts.objects += 1;
                        for h in &r.remote_hosts {
                            for v in &h.values {
                                let u = host_kind(&h.kind, v)
                                    .and_then(|k| seen(target, &r.id, k, v, is_our_rule(r)));
                                match u {
                                    Some(mut u) => {
                                        u.direction = r.direction.clone();
                                        u.description = r.description.clone();
                                        records.push(u);
                                    }
                                    None => counts.unsupported += 1,
                                }
                            }
                        }
                    }
                })
            }
            Target::Ti => {
                paths.push("/threat-intelligence/iocs");
                client.list_iocs(&opts.scope).await.map(|list| {
                    counts.objects = list.len();
                    for x in list {
                        let u = ti_kind(&x.kind)
                            .and_then(|k| seen(target, &x.uuid, k, &x.value, is_our_ioc(&x)));
                        match u {
                            Some(mut u) => {
                                u.description = x.description.clone();
                                u.expires_at = parse_time(x.valid_until.as_deref());
                                records.push(u);
                            }
                            None => counts.unsupported += 1,
                        }
                    }
                })
            }
        };
        if let Err(e) = read {
            report.warnings.push(match (target, &e) {
                (Target::Firewall, ApiError::NotLicensed { .. } | ApiError::Forbidden { .. }) => {
                    format!(
                        "firewall: Firewall Control is not available ({e}); its rules were not \
                         imported. It needs the Control SKU, Firewall Control turned on for the \
                         scope, and a role with the Firewall Control view permission; the other \
                         targets were still imported"
                    )
                }
                _ => format!(
                    "{target}: the console could not be read ({e}); nothing was imported from it"
                ),
            });
            continue;
        }
        // One record per key (a rule may list a value twice).
        let mut keys = HashSet::new();
        records.retain(|u| keys.insert((u.object_id.clone(), u.kind.clone(), u.value.clone())));
        counts.values = records.len();
        counts.ours = records.iter().filter(|u| u.ours).count();
        counts.foreign = records.len() - counts.ours;
        if !records.is_empty() {
            let stats = store
                .upsert_indicators(&opts.console, &records, opts.now)
                .await?;
            counts.imported = stats.inserted;
            counts.updated = stats.updated;
        }
        // Stored values of this target the console no longer holds.
        let stored = store
            .list_indicators(&IndicatorFilter {
                console: Some(opts.console.clone()),
                target: Some(target.as_str().into()),
                ..Default::default()
            })
            .await?;
        let gone: Vec<(IndicatorRef, IndicatorState)> = stored
            .into_iter()
            .filter(|r| {
                r.state != IndicatorState::Missing
                    && !keys.contains(&(r.object_id.clone(), r.kind.clone(), r.value.clone()))
            })
            .map(|r| {
                (
                    IndicatorRef {
                        target: r.target,
                        object_id: Some(r.object_id),
                        kind: r.kind,
                        value: r.value,
                        os_type: None,
                    },
                    IndicatorState::Missing,
                )
            })
            .collect();
        if !gone.is_empty() {
            counts.missing = store
                .set_indicator_states(&opts.console, &gone, opts.now)
                .await?;
        }
        report.targets.push(counts);
    }
    let result = if report.warnings.is_empty() {
        "ok".to_string()
    } else {
        format!("partial: {}", report.warnings.join("; "))
    };
    store
        .record_audit(&AuditEntry {
            id: 0,
            console: opts.console.clone(),
            at: Utc::now(),
            actor: opts.actor.clone(),
            action: "indicators.backfill".into(),
            target: format!(
                "import of {}",
                report
                    .targets
                    .iter()
                    .map(|c| c.target.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            dry_run: false,
            request: json!({
                "method": "GET",
                "paths": paths.iter().map(|p| format!("{API_PREFIX}{p}")).collect::<Vec<_>>(),
                "scope": opts.scope,
            }),
            before: Value::Null,
            after: json!(report.targets),
            result,
            run_id: None,
        })
        .await?;
    Ok(report)
}
