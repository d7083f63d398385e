//! The blocklist (`/restrictions`), firewall-control rules and threat-intelligence IOCs
//! (research/s1-api.md §6.7–6.9): stored objects, so a re-read shows what was created, with the
//! console's validation (400 listing every problem), "Already Exists" on a duplicate blocklist
//! entry (4000030, the code DM checks) and cursor pagination. Firewall Control unlicensed and
//! missing permissions are the generic per-capability faults (`Faults::not_licensed`,
//! `Faults::forbidden`), answered before routing.
//!
//! INVENTED (no capture exists): the "Already Exists" answer for a firewall rule with the same
//! name or an IOC with the same type, value and source; the defaults a created rule gets
//! (`direction: any`, `location.type: all`).
//!
//! Firewall rules are answered with every key of the console's rule schema (the Swagger example
//! in `firewall-control-create-response.swagger-example.json`: `location`, `osType`, `tagIds`,
//! `tags`, `localHost`, `remotePort` …); `remoteHosts[].values` holds up to 5,000 values
//! (Swagger `maxItems`), so one rule may block many addresses or domains.

use chrono::{Duration, SecondsFormat, Utc};
use s1bridge_api::indicators::{
    BLACK_HASH, FirewallRule, FirewallRuleCreate, FirewallRuleDelete, HostSpec, Ioc, IocCreate,
    IocDelete, REMOTE_HOST_VALUES_MAX, Restriction, RestrictionCreate, RestrictionDelete,
    ScopeFilter,
};
use s1bridge_api::wire::Affected;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::query::{ApiError, Params, data, list, list_params, page_small};
use crate::{Inner, lock};

const OS_TYPES: [&str; 4] = ["windows", "windows_legacy", "macos", "linux"];
const IOC_TYPES: [&str; 7] = ["IPV4", "IPV6", "DNS", "MD5", "SHA1", "SHA256", "URL"];

/// The stored indicator objects. Ids are numeric strings in creation order (so the small-list
/// cursor works); IOCs are keyed by such an id too, next to their uuid.
#[derive(Default)]
pub(crate) struct Indicators {
    next_id: u64,
    restrictions: Vec<Restriction>,
    rules: Vec<FirewallRule>,
    iocs: Vec<(String, Ioc)>,
}

impl Indicators {
    fn id(&mut self) -> String {
        self.next_id += 1;
        (1_900_000_000_000_000_000u64 + self.next_id).to_string()
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Validation(format!("Request body is not valid: {e}")))
}

fn scope_problems(f: &ScopeFilter, problems: &mut Vec<String>) {
    if f.tenant != Some(true)
        && f.account_ids.is_empty()
        && f.site_ids.is_empty()
        && f.group_ids.is_empty()
    {
        problems.push("filter: one of tenant, accountIds, siteIds or groupIds is required.".into());
    }
}

fn scope_name(f: &ScopeFilter) -> (&'static str, Option<String>) {
    if let Some(id) = f.group_ids.first() {
        ("group", Some(id.clone()))
    } else if let Some(id) = f.site_ids.first() {
        ("site", Some(id.clone()))
    } else if let Some(id) = f.account_ids.first() {
        ("account", Some(id.clone()))
    } else {
        ("global", None)
    }
}

fn remote_host_problems(hosts: &[HostSpec], problems: &mut Vec<String>) {
    for h in hosts {
        if !matches!(
            h.kind.as_str(),
            "any" | "cidr" | "range" | "addresses" | "fqdn"
        ) {
            problems.push(
                "data.remoteHosts.type: Must be one of: any, cidr, range, addresses, fqdn.".into(),
            );
        } else if h.kind != "any" && h.values.is_empty() {
            problems.push("data.remoteHosts.values: Must not be empty.".into());
        } else if h.values.len() > REMOTE_HOST_VALUES_MAX {
            problems.push(format!(
                "data.remoteHosts.values: Longer than maximum length {REMOTE_HOST_VALUES_MAX}."
            ));
        }
    }
}

/// A rule as the console answers it: every key of its schema (values the simulator does not
/// model are the schema's empty forms).
fn render_rule(r: &FirewallRule) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        let extra = json!({
            "location": {"type": "all", "values": []},
            "osType": r.os_types.first().cloned().unwrap_or_default(),
            "tagIds": [],
            "tags": [],
            "tagNames": [],
            "tag": "",
            "localHost": {},
            "remoteHost": {},
            "localPort": {},
            "remotePort": {},
            "application": {},
            "protocol": "any",
            "productId": "",
            "creatorId": "1900000000000000000",
            "editable": true,
        });
        if let Value::Object(e) = extra {
            for (k, x) in e {
                m.entry(k).or_insert(x);
            }
        }
    }
    v
}

fn fail(problems: Vec<String>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::ValidationMany(problems))
    }
}

impl Inner {
    pub(crate) fn list_restrictions(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        let kind = p.get("type").unwrap_or(BLACK_HASH).to_string();
        let value = p.get("value").map(str::to_string);
        let os = p.csv("osTypes");
        let ids = p.csv("ids");
        let st = lock(&self.indicators);
        let items = st
            .restrictions
            .iter()
            .filter(|r| r.kind.as_deref() == Some(kind.as_str()))
            .filter(|r| value.as_ref().is_none_or(|v| &r.value == v))
            .filter(|r| {
                os.as_ref()
                    .is_none_or(|o| r.os_type.as_ref().is_some_and(|x| o.contains(x)))
            })
            .filter(|r| ids.as_ref().is_none_or(|i| i.contains(&r.id)))
            .map(|r| (r.id.as_str(), r))
            .collect();
        let (page, pg) = page_small(items, &lp)?;
        Ok(list(page, pg))
    }

    pub(crate) fn create_restriction(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: RestrictionCreate = parse_body(body)?;
        let d = &req.data;
        let mut problems = Vec::new();
        if d.kind != BLACK_HASH {
            problems.push(format!(
                "data.type: {:?} is not a blocklist type; the simulator only models black_hash.",
                d.kind
            ));
        }
        let hex = d.value.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex || !(d.value.len() == 40 || d.value.len() == 64) {
            problems.push("data.value: Must be a valid SHA1 or SHA256 hash.".into());
        }
        if !OS_TYPES.contains(&d.os_type.as_str()) {
            problems.push(format!(
                "data.osType: Must be one of: {}.",
                OS_TYPES.join(", ")
            ));
        }
        scope_problems(&req.filter, &mut problems);
        fail(problems)?;
        let mut st = lock(&self.indicators);
        let value = d.value.to_ascii_lowercase();
        if st.restrictions.iter().any(|r| {
            r.value.eq_ignore_ascii_case(&value) && r.os_type.as_deref() == Some(&d.os_type)
        }) {
            return Err(ApiError::AlreadyExists(format!(
                "Restriction with value {value} already exists for {}",
                d.os_type
            )));
        }
        let (scope, _) = scope_name(&req.filter);
        let at = now();
        let item = Restriction {
            id: st.id(),
            kind: Some(BLACK_HASH.into()),
            value,
            os_type: Some(d.os_type.clone()),
            description: d.description.clone(),
            source: Some("user".into()),
            scope_name: Some(scope.into()),
            scope_path: Some(scope.into()),
            user_id: Some("1900000000000000000".into()),
            user_name: Some("s1bridge simulator".into()),
            created_at: Some(at.clone()),
            updated_at: Some(at),
        };
        st.restrictions.push(item.clone());
        Ok(data(vec![item]))
    }

    pub(crate) fn delete_restrictions(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: RestrictionDelete = parse_body(body)?;
        if req.data.ids.is_empty() {
            return Err(ApiError::Validation("data.ids: Must not be empty.".into()));
        }
        let mut st = lock(&self.indicators);
        let before = st.restrictions.len();
        st.restrictions.retain(|r| !req.data.ids.contains(&r.id));
        let affected = (before - st.restrictions.len()) as i64;
        Ok(data(Affected {
            affected: Some(affected),
        }))
    }

    pub(crate) fn list_firewall_rules(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        let filters = [
            "actions",
            "statuses",
            "osTypes",
            "name",
            "siteIds",
            "accountIds",
            "groupIds",
            "tenant",
            "ids",
        ];
        if !filters.iter().any(|k| p.get(k).is_some()) {
            return Err(ApiError::Validation(
                "At least one of action, status, osType, name or a scope filter is required."
                    .into(),
            ));
        }
        let name = p.get("name").map(str::to_string);
        let ids = p.csv("ids");
        let st = lock(&self.indicators);
        let items = st
            .rules
            .iter()
            .filter(|r| name.as_ref().is_none_or(|n| &r.name == n))
            .filter(|r| ids.as_ref().is_none_or(|i| i.contains(&r.id)))
            .map(|r| (r.id.as_str(), r))
            .collect();
        let (page, pg) = page_small(items, &lp)?;
        Ok(list(page.iter().map(render_rule).collect::<Vec<_>>(), pg))
    }

    pub(crate) fn create_firewall_rule(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: FirewallRuleCreate = parse_body(body)?;
        let d = &req.data;
        let mut problems = Vec::new();
        if d.name.trim().is_empty() || d.name.chars().count() > 200 {
            problems.push("data.name: Length must be between 1 and 200.".into());
        }
        if !matches!(d.action.as_str(), "Allow" | "Block") {
            problems.push("data.action: Must be one of: Allow, Block.".into());
        }
        if !matches!(d.status.as_str(), "Enabled" | "Disabled") {
            problems.push("data.status: Must be one of: Enabled, Disabled.".into());
        }
        if let Some(dir) = &d.direction
            && !matches!(dir.as_str(), "any" | "inbound" | "outbound")
        {
            problems.push("data.direction: Must be one of: any, inbound, outbound.".into());
        }
        if d.os_types.is_empty() || d.os_types.iter().any(|o| !OS_TYPES.contains(&o.as_str())) {
            problems.push(format!(
                "data.osTypes: Must be a non-empty list of: {}.",
                OS_TYPES.join(", ")
            ));
        }
        remote_host_problems(&d.remote_hosts, &mut problems);
        scope_problems(&req.filter, &mut problems);
        fail(problems)?;
        let mut st = lock(&self.indicators);
        if st.rules.iter().any(|r| r.name == d.name) {
            return Err(ApiError::AlreadyExists(format!(
                "Firewall rule with name {:?} already exists",
                d.name
            )));
        }
        let (scope, scope_id) = scope_name(&req.filter);
        let at = now();
        let order = st.rules.len() as i64;
        let rule = FirewallRule {
            id: st.id(),
            name: d.name.clone(),
            description: d.description.clone(),
            action: Some(d.action.clone()),
            status: Some(d.status.clone()),
            direction: Some(d.direction.clone().unwrap_or_else(|| "any".into())),
            os_types: d.os_types.clone(),
            remote_hosts: d.remote_hosts.clone(),
            scope: Some(scope.into()),
            scope_id,
            rule_category: Some("firewall".into()),
            creator: Some("s1bridge simulator".into()),
            order: Some(order),
            created_at: Some(at.clone()),
            updated_at: Some(at),
        };
        st.rules.push(rule.clone());
        Ok(data(render_rule(&rule)))
    }

    /// `PUT /firewall-control/{id}`: changes the given fields of a rule (how someone edits a
    /// rule in the console, and how s1bridge adds values to or removes values from its batched
    /// rules; the path takes the rule id, research §6.9). Fields left out keep their value.
    pub(crate) fn update_firewall_rule(&self, id: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: Value = parse_body(body)?;
        let d = req.get("data").cloned().unwrap_or_default();
        let text = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let mut problems = Vec::new();
        if let Some(a) = text("action")
            && !matches!(a.as_str(), "Allow" | "Block")
        {
            problems.push("data.action: Must be one of: Allow, Block.".into());
        }
        if let Some(st) = text("status")
            && !matches!(st.as_str(), "Enabled" | "Disabled")
        {
            problems.push("data.status: Must be one of: Enabled, Disabled.".into());
        }
        if let Some(n) = text("name")
            && (n.trim().is_empty() || n.chars().count() > 200)
        {
            problems.push("data.name: Length must be between 1 and 200.".into());
        }
        let hosts: Option<Vec<HostSpec>> = match d.get("remoteHosts") {
            None | Some(Value::Null) => None,
            Some(h) => match serde_json::from_value::<Vec<HostSpec>>(h.clone()) {
                Ok(h) => Some(h),
                Err(e) => {
                    problems.push(format!("data.remoteHosts: {e}"));
                    None
                }
            },
        };
        if let Some(h) = &hosts {
            remote_host_problems(h, &mut problems);
        }
        let os_types: Option<Vec<String>> = d
            .get("osTypes")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        if let Some(o) = &os_types
            && (o.is_empty() || o.iter().any(|x| !OS_TYPES.contains(&x.as_str())))
        {
            problems.push(format!(
                "data.osTypes: Must be a non-empty list of: {}.",
                OS_TYPES.join(", ")
            ));
        }
        fail(problems)?;
        let mut st = lock(&self.indicators);
        if let Some(n) = text("name")
            && st.rules.iter().any(|r| r.name == n && r.id != id)
        {
            return Err(ApiError::AlreadyExists(format!(
                "Firewall rule with name {n:?} already exists"
            )));
        }
        let rule = st
            .rules
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(ApiError::NotFound)?;
        if let Some(a) = text("action") {
            rule.action = Some(a);
        }
        if let Some(s) = text("status") {
            rule.status = Some(s);
        }
        if let Some(n) = text("description") {
            rule.description = Some(n);
        }
        if let Some(n) = text("name") {
            rule.name = n;
        }
        if let Some(dir) = text("direction") {
            rule.direction = Some(dir);
        }
        if let Some(h) = hosts {
            rule.remote_hosts = h;
        }
        if let Some(o) = os_types {
            rule.os_types = o;
        }
        rule.updated_at = Some(now());
        Ok(data(render_rule(rule)))
    }

    pub(crate) fn delete_firewall_rules(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: FirewallRuleDelete = parse_body(body)?;
        if req.filter.ids.is_empty() {
            return Err(ApiError::Validation(
                "filter.ids: Must not be empty.".into(),
            ));
        }
        let mut st = lock(&self.indicators);
        let before = st.rules.len();
        st.rules.retain(|r| !req.filter.ids.contains(&r.id));
        Ok(data(Affected {
            affected: Some((before - st.rules.len()) as i64),
        }))
    }

    pub(crate) fn list_iocs(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        let kind = p.get("type").map(str::to_string);
        let value = p.get("value").map(str::to_string);
        let source = p.get("source").map(str::to_string);
        let uuids = p.csv("uuids");
        let st = lock(&self.indicators);
        let items = st
            .iocs
            .iter()
            .filter(|(_, i)| kind.as_ref().is_none_or(|k| &i.kind == k))
            .filter(|(_, i)| value.as_ref().is_none_or(|v| &i.value == v))
            .filter(|(_, i)| source.as_ref().is_none_or(|s| i.source.as_ref() == Some(s)))
            .filter(|(_, i)| uuids.as_ref().is_none_or(|u| u.contains(&i.uuid)))
            .map(|(k, i)| (k.as_str(), i))
            .collect();
        let (page, pg) = page_small(items, &lp)?;
        Ok(list(page, pg))
    }

    pub(crate) fn create_iocs(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: IocCreate = parse_body(body)?;
        let mut problems = Vec::new();
        if req.data.is_empty() {
            problems.push("data: Must not be empty.".into());
        }
        let upload = Utc::now();
        let mut valid_until = Vec::with_capacity(req.data.len());
        for (n, d) in req.data.iter().enumerate() {
            if !IOC_TYPES.contains(&d.kind.as_str()) {
                problems.push(format!(
                    "data.{n}.type: Must be one of: {}.",
                    IOC_TYPES.join(", ")
                ));
            }
            if d.method != "EQUALS" {
                problems.push(format!("data.{n}.method: Must be one of: EQUALS."));
            }
            if d.source.trim().is_empty() {
                problems.push(format!("data.{n}.source: Missing data for required field."));
            }
            if d.value.trim().is_empty() {
                problems.push(format!("data.{n}.value: Missing data for required field."));
            }
            // Default and cap per type (Swagger text): IPs 14 d / 30 d, others 90|180 d / 180 d.
            let (default_days, cap_days) = match d.kind.as_str() {
                "IPV4" | "IPV6" => (14, 30),
                "URL" | "DNS" => (90, 180),
                _ => (180, 180),
            };
            let until = match d.valid_until.as_deref().filter(|v| !v.trim().is_empty()) {
                None => upload + Duration::days(default_days),
                Some(v) => match chrono::DateTime::parse_from_rfc3339(v) {
                    Ok(t) => t.with_timezone(&Utc).min(upload + Duration::days(cap_days)),
                    Err(_) => {
                        problems.push(format!("data.{n}.validUntil: Not a valid datetime."));
                        upload
                    }
                },
            };
            valid_until.push(until);
        }
        // No scope check: IOCs may be created with an empty filter (Netskope sends
        // `"filter": {}`), which means the token's own scope.
        fail(problems)?;
        let mut st = lock(&self.indicators);
        for d in &req.data {
            if st.iocs.iter().any(|(_, i)| {
                i.kind == d.kind && i.value == d.value && i.source.as_deref() == Some(&d.source)
            }) {
                return Err(ApiError::AlreadyExists(format!(
                    "IOC {} {} from source {} already exists",
                    d.kind, d.value, d.source
                )));
            }
        }
        let (scope, scope_id) = scope_name(&req.filter);
        let at = now();
        let batch = format!("{:032x}", st.next_id + 1);
        let mut created = Vec::with_capacity(req.data.len());
        for (d, until) in req.data.iter().zip(valid_until) {
            let key = st.id();
            let ioc = Ioc {
                uuid: format!("{:032x}", key.parse::<u128>().unwrap_or_default()),
                batch_id: Some(batch.clone()),
                kind: d.kind.clone(),
                value: d.value.clone(),
                name: d.name.clone(),
                description: d.description.clone(),
                source: Some(d.source.clone()),
                method: Some(d.method.clone()),
                external_id: d.external_id.clone(),
                creator: d.creator.clone(),
                scope: Some(scope.into()),
                scope_id: scope_id.clone(),
                upload_time: Some(at.clone()),
                updated_at: Some(at.clone()),
                creation_time: d.creation_time.clone(),
                valid_until: Some(until.to_rfc3339_opts(SecondsFormat::Micros, true)),
            };
            st.iocs.push((key, ioc.clone()));
            created.push(ioc);
        }
        Ok(data(created))
    }

    pub(crate) fn delete_iocs(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: IocDelete = parse_body(body)?;
        if req.filter.uuids.is_empty() {
            return Err(ApiError::Validation(
                "filter.uuids: the simulator deletes IOCs by uuid only; must not be empty.".into(),
            ));
        }
        let mut st = lock(&self.indicators);
        let before = st.iocs.len();
        st.iocs.retain(|(_, i)| !req.filter.uuids.contains(&i.uuid));
        Ok(data(Affected {
            affected: Some((before - st.iocs.len()) as i64),
        }))
    }
}
