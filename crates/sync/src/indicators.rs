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
//! | firewall   | one Block rule per indicator        | name starts with `s1bridge: `            |
//! | ti         | one IOC per indicator               | `externalId` starts with `s1bridge:`     |
//!
//! `prune` deletes only objects carrying our marker whose indicator is no longer in the input
//! or has expired. Every real write is recorded in the audit log (`indicators.create`,
//! `indicators.delete`); a dry run plans and writes nothing, not even the audit log.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use s1bridge_api::indicators::{
    BLACK_HASH, BLOCKLIST_OS_TYPES, FIREWALL_OS_TYPES, FirewallRuleCreate, FirewallRuleData,
    HostSpec, IocCreate, IocData, IocDelete, IocDeleteFilter, RestrictionCreate, RestrictionData,
    ScopeFilter,
};
use s1bridge_api::{API_PREFIX, ApiError, Client};
use s1bridge_store::{AuditEntry, Store};
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
    #[serde(skip)]
    object_id: Option<String>,
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

fn rule_name(i: &Indicator) -> String {
    format!("{RULE_PREFIX}block {} {}", i.kind, i.value)
}

fn external_id(i: &Indicator) -> String {
    format!("{IOC_PREFIX}{}:{}", i.kind, i.value)
}

fn is_our_description(d: Option<&str>) -> bool {
    d.is_some_and(|d| d.trim_end().ends_with(MARKER))
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
    }
}

/// Plans (and unless `dry_run`, applies) pushing `indicators` to the chosen targets.
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
        let planned = match target {
            Target::Blocklist => plan_blocklist(client, &mine, opts).await,
            Target::Firewall => plan_firewall(client, &mine, opts).await,
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
            apply(
                client,
                store,
                target,
                &mut report.steps[start..],
                &live,
                opts,
            )
            .await?;
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

async fn plan_blocklist(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<Vec<Step>, ApiError> {
    let existing = client.list_blocklist(&opts.scope).await?;
    let mut steps = Vec::new();
    let mut wanted = HashSet::new();
    for i in mine {
        for os in BLOCKLIST_OS_TYPES {
            wanted.insert((i.value.clone(), os.to_string()));
            let found = existing.iter().find(|r| {
                r.value.eq_ignore_ascii_case(&i.value) && r.os_type.as_deref() == Some(os)
            });
            steps.push(match found {
                Some(r) if is_our_description(r.description.as_deref()) => {
                    step(Op::Skip, Target::Blocklist, i, Some(os), "exists")
                }
                Some(_) => step(
                    Op::Skip,
                    Target::Blocklist,
                    i,
                    Some(os),
                    "exists (not ours)",
                ),
                None => step(Op::Create, Target::Blocklist, i, Some(os), ""),
            });
        }
    }
    if opts.prune {
        for r in &existing {
            let os = r.os_type.clone().unwrap_or_default();
            if is_our_description(r.description.as_deref())
                && !wanted.contains(&(r.value.to_ascii_lowercase(), os.clone()))
            {
                let kind = if r.value.len() == 64 {
                    "sha256"
                } else {
                    "sha1"
                };
                steps.push(delete_step(
                    Target::Blocklist,
                    kind.into(),
                    r.value.clone(),
                    Some(os),
                    "id",
                    &r.id,
                ));
            }
        }
    }
    Ok(steps)
}

async fn plan_firewall(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<Vec<Step>, ApiError> {
    let existing = client.list_firewall_rules(&opts.scope).await?;
    let mut steps = Vec::new();
    let mut wanted = BTreeSet::new();
    for i in mine {
        wanted.insert(rule_name(i));
        let host_type = firewall_host_type(i.kind);
        let found = existing.iter().find(|r| {
            r.name == rule_name(i)
                || (r.action.as_deref() == Some("Block")
                    && r.remote_hosts.iter().any(|h| {
                        h.kind == host_type
                            && h.values.iter().any(|v| v.eq_ignore_ascii_case(&i.value))
                    }))
        });
        steps.push(match found {
            Some(r) if r.name.starts_with(RULE_PREFIX) => {
                step(Op::Skip, Target::Firewall, i, None, "exists")
            }
            Some(_) => step(Op::Skip, Target::Firewall, i, None, "exists (not ours)"),
            None => step(Op::Create, Target::Firewall, i, None, ""),
        });
    }
    if opts.prune {
        for r in &existing {
            if r.name.starts_with(RULE_PREFIX) && !wanted.contains(&r.name) {
                let (kind, value) = r
                    .remote_hosts
                    .first()
                    .map(|h| (h.kind.clone(), h.values.join(",")))
                    .unwrap_or_default();
                steps.push(delete_step(
                    Target::Firewall,
                    kind,
                    value,
                    None,
                    "id",
                    &r.id,
                ));
            }
        }
    }
    Ok(steps)
}

async fn plan_ti(
    client: &Client,
    mine: &[&Indicator],
    opts: &PushOptions,
) -> Result<Vec<Step>, ApiError> {
    let existing = client.list_iocs(&opts.scope).await?;
    let mut steps = Vec::new();
    let mut wanted = HashSet::new();
    for i in mine {
        wanted.insert(external_id(i));
        let found = existing
            .iter()
            .find(|x| x.kind == ti_type(i.kind) && x.value.eq_ignore_ascii_case(&i.value));
        steps.push(match found {
            Some(x)
                if x.external_id
                    .as_deref()
                    .is_some_and(|e| e.starts_with(IOC_PREFIX)) =>
            {
                step(Op::Skip, Target::Ti, i, None, "exists")
            }
            Some(_) => step(Op::Skip, Target::Ti, i, None, "exists (not ours)"),
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
                steps.push(delete_step(
                    Target::Ti,
                    x.kind.to_ascii_lowercase(),
                    x.value.clone(),
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

async fn apply(
    client: &Client,
    store: &Arc<dyn Store>,
    target: Target,
    steps: &mut [Step],
    live: &[&Indicator],
    opts: &PushOptions,
) -> Result<(), s1bridge_store::StoreError> {
    let audit =
        |action: &str, target_text: String, request: Value, after: Value, result: String| {
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
        };
    // TI creates go in batches; everything else one request per object.
    let mut ioc_batch: Vec<(usize, IocData)> = Vec::new();
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
                let res = client.create_blocklist_entry(&body).await;
                let (result, after) = outcome(res.map(|v| json!(v)));
                s.result = result.clone();
                let e = audit(
                    "indicators.create",
                    format!("blocklist {} {} ({})", i.kind, i.value, body.data.os_type),
                    json!({"method": "POST", "path": format!("{API_PREFIX}/restrictions"), "body": body}),
                    after,
                    result,
                );
                store.record_audit(&e).await?;
            }
            (Op::Create, Target::Firewall) => {
                let Some(i) = find(live, s) else { continue };
                let body = FirewallRuleCreate {
                    data: FirewallRuleData {
                        name: rule_name(i),
                        description: Some(describe(opts, i)),
                        action: "Block".into(),
                        status: "Enabled".into(),
                        direction: Some("any".into()),
                        os_types: FIREWALL_OS_TYPES.iter().map(|s| s.to_string()).collect(),
                        remote_hosts: vec![HostSpec {
                            kind: firewall_host_type(i.kind).into(),
                            values: vec![i.value.clone()],
                        }],
                        tag_ids: Vec::new(),
                    },
                    filter: opts.scope.clone(),
                };
                let res = client.create_firewall_rule(&body).await;
                let (result, after) = outcome(res.map(|v| json!(v)));
                s.result = result.clone();
                let e = audit(
                    "indicators.create",
                    format!("firewall block rule {} {}", i.kind, i.value),
                    json!({"method": "POST", "path": format!("{API_PREFIX}/firewall-control"), "body": body}),
                    after,
                    result,
                );
                store.record_audit(&e).await?;
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
                let e = audit(
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
    for chunk in ioc_batch.chunks(IOC_BATCH) {
        let body = IocCreate {
            filter: opts.scope.clone(),
            data: chunk.iter().map(|(_, d)| d.clone()).collect(),
        };
        let res = client.create_iocs(&body).await;
        let (result, after) = outcome(res.map(|v| json!(v)));
        for (n, _) in chunk {
            steps[*n].result = result.clone();
        }
        let e = audit(
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
                    for i in &mine {
                        let host = firewall_host_type(i.kind);
                        let (state, detail) = match existing.iter().find(|r| r.name == rule_name(i))
                        {
                            Some(r) => {
                                let mut changed = Vec::new();
                                if r.action.as_deref() != Some("Block") {
                                    changed.push(format!("action is {:?}", r.action));
                                }
                                if r.status.as_deref() != Some("Enabled") {
                                    changed.push(format!("status is {:?}", r.status));
                                }
                                let expected = [HostSpec {
                                    kind: host.into(),
                                    values: vec![i.value.clone()],
                                }];
                                if r.remote_hosts != expected {
                                    changed.push("remote hosts changed".into());
                                }
                                if changed.is_empty() {
                                    (State::Deployed, String::new())
                                } else {
                                    (State::Drifted, changed.join(", "))
                                }
                            }
                            None if existing.iter().any(|r| {
                                r.action.as_deref() == Some("Block")
                                    && r.remote_hosts.iter().any(|h| {
                                        h.kind == host
                                            && h.values
                                                .iter()
                                                .any(|v| v.eq_ignore_ascii_case(&i.value))
                                    })
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
