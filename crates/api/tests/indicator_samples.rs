//! The blocklist, firewall-control and threat-intelligence samples (shared/s1-samples) parse into
//! the indicator wire types with the right values, and serialise back to the same keys.

use std::path::PathBuf;

use s1bridge_api::indicators::{
    FirewallRule, FirewallRuleCreate, Ioc, IocCreate, IocData, Restriction, RestrictionCreate,
    RestrictionDelete, ScopeFilter,
};
use s1bridge_api::wire::{Affected, Envelope};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-samples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn restrictions_list() {
    let env: Envelope<Vec<Restriction>> = load("restrictions-list.demisto.json");
    assert_eq!(env.data.len(), 1);
    let r = &env.data[0];
    assert_eq!(r.id, "1234");
    assert_eq!(r.os_type.as_deref(), Some("windows"));
    assert_eq!(r.description.as_deref(), Some("test description"));
    assert_eq!(r.user_id.as_deref(), Some("xsoar"));
    assert!(r.value.starts_with("f2ca1bb6"));
}

#[test]
fn restriction_create_requests_global_and_site() {
    let g: RestrictionCreate = load("restrictions-create-request-global.demisto.json");
    assert_eq!(g.data.kind, "black_hash");
    assert_eq!(g.data.os_type, "windows");
    assert_eq!(g.data.value, "3395856ce81f2b7382dee72602f798b642f14140");
    assert_eq!(g.filter, ScopeFilter::global());
    let s: RestrictionCreate = load("restrictions-create-request-site.splunk-soar.json");
    assert_eq!(s.filter.site_ids, vec!["1286405255257023125".to_string()]);
    assert_eq!(s.filter.tenant, Some(true)); // sent as the string "true"
    assert_eq!(s.data.source.as_deref(), Some("phantom"));
    // Canonical form: the same keys as the integration's body, tenant as a boolean.
    let back = serde_json::to_value(&g).unwrap();
    let orig: Value =
        serde_json::from_str(&text("restrictions-create-request-global.demisto.json")).unwrap();
    assert_eq!(back, orig);
}

#[test]
fn restriction_delete_request_and_response() {
    let d: RestrictionDelete = load("restrictions-delete-request.splunk-soar.json");
    assert_eq!(d.data.ids, vec!["1234567890123456789".to_string()]);
    assert_eq!(d.data.kind, "black_hash");
    let env: Envelope<Affected> = load("restrictions-delete.swimlane.json");
    assert_eq!(env.data.affected, Some(1)); // despite "errors": [{}]
}

#[test]
fn firewall_create_request_and_response() {
    let c: FirewallRuleCreate = load("firewall-control-create-block-request.splunk-soar.json");
    assert_eq!(c.data.action, "Block");
    assert_eq!(c.data.status, "Enabled");
    assert_eq!(c.data.os_types.len(), 4);
    assert_eq!(c.data.remote_hosts[0].kind, "fqdn");
    assert_eq!(
        c.data.remote_hosts[0].values,
        vec!["evil.example.com".to_string()]
    );
    assert_eq!(c.data.direction, None);
    assert_eq!(c.filter.tenant, Some(true));
    let env: Envelope<FirewallRule> = load("firewall-control-create-response.swagger-example.json");
    let r = &env.data;
    assert_eq!(r.id, "225494730938493804");
    assert_eq!(r.action.as_deref(), Some("Allow"));
    assert_eq!(r.direction.as_deref(), Some("any"));
    assert_eq!(r.os_types, vec!["windows_legacy".to_string()]);
    assert_eq!(r.remote_hosts[0].kind, "any");
    assert_eq!(r.scope.as_deref(), Some("global"));
    assert_eq!(r.order, Some(0));
}

#[test]
fn ioc_create_requests() {
    let data: Vec<IocData> = load("threat-intelligence-iocs-create-request-data.demisto.json");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].kind, "SHA256");
    assert_eq!(data[0].method, "EQUALS");
    assert_eq!(
        data[0].valid_until.as_deref(),
        Some("2026-04-28T08:17:48.062976Z")
    );
    let c: IocCreate = load("threat-intelligence-iocs-create-request.demisto.json");
    assert_eq!(
        c.filter.account_ids,
        vec!["2163822725049635476".to_string()]
    );
    assert_eq!(c.data[0].kind, "IPV4");
    assert_eq!(c.data[0].external_id.as_deref(), Some("ext-123"));
    let n: IocCreate = load("threat-intelligence-iocs-create-request.netskope.json");
    assert_eq!(n.filter, ScopeFilter::default());
    assert_eq!(n.data[0].kind, "DNS");
    assert_eq!(
        n.data[0].creation_time.as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    let back = serde_json::to_value(&n).unwrap();
    let orig: Value = serde_json::from_str(&text(
        "threat-intelligence-iocs-create-request.netskope.json",
    ))
    .unwrap();
    assert_eq!(back, orig);
}

#[test]
fn ioc_list() {
    let env: Envelope<Vec<Ioc>> = load("threat-intelligence-iocs-list.demisto.json");
    assert_eq!(env.data.len(), 2);
    let i = &env.data[0];
    assert_eq!(i.uuid, "11b317f0acf1a0005b8d003d8da44476");
    assert_eq!(
        i.batch_id.as_deref(),
        Some("00000006e7caf1b52e91c898faf0d8d2")
    );
    assert_eq!(i.kind, "SHA256");
    assert_eq!(i.scope.as_deref(), Some("account"));
    assert_eq!(i.scope_id.as_deref(), Some("2163822725049635476"));
    assert_eq!(i.creation_time, None);
    assert_eq!(
        i.valid_until.as_deref(),
        Some("2026-04-28T08:17:48.062976Z")
    );
}
