//! Real response bodies (shared/s1-samples) parse into the wire types with the right values.

use std::path::PathBuf;

use s1bridge_api::wire::{Agent, Envelope, ErrorBody, Group, Pagination, ServiceUser, SitesData};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn sample_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-samples")
        .join(name)
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = sample_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn agents_bare_array_with_string_booleans() {
    let agents: Vec<Agent> = load("agents-list.data-only.demisto.json");
    assert_eq!(agents.len(), 1);
    let a = &agents[0];
    assert_eq!(a.id, "657613730168123595");
    assert_eq!(a.computer_name.as_deref(), Some("EC2AMAZ-AJ0KANC"));
    assert_eq!(a.firewall_enabled, Some(true)); // "True"
    assert_eq!(a.is_up_to_date, Some(true)); // "True"
    assert_eq!(a.is_active, Some(false));
    assert_eq!(a.site_id.as_deref(), Some("475482421366727779"));
    assert_eq!(a.uuid.as_deref(), Some("f431b0a1a8744d2a8a92fc88fa3c13bc"));
    assert_eq!(a.os_type.as_deref(), Some("windows"));
    assert_eq!(a.total_memory, Some(4035));
    assert_eq!(a.network_interfaces.len(), 1);
    assert_eq!(
        a.network_interfaces[0].inet,
        vec!["172.31.43.13".to_string()]
    );
    assert_eq!(a.network_interfaces[0].gateway_ip, None);
    assert_eq!(a.tags, None);
}

#[test]
fn agents_envelope() {
    let env: Envelope<Vec<Agent>> = load("agents-list.swimlane.json");
    assert_eq!(env.data.len(), 1);
    let a = &env.data[0];
    assert_eq!(a.id, "1550901640146865256");
    assert_eq!(a.computer_name.as_deref(), Some("ubuntu"));
    assert_eq!(a.firewall_enabled, Some(true));
    assert_eq!(a.os_type.as_deref(), Some("linux"));
    assert_eq!(a.agent_version.as_deref(), Some("21.10.1.6"));
    assert_eq!(a.account_name.as_deref(), Some("swimlane"));
    assert_eq!(
        a.network_interfaces[0].gateway_ip.as_deref(),
        Some("10.32.0.1")
    );
    assert_eq!(a.network_interfaces[0].name.as_deref(), Some("eth0"));
    assert!(a.tags.as_ref().is_some_and(|t| t.sentinelone.is_empty()));
    let p = env.pagination.expect("pagination");
    assert_eq!(p.next(), None);
    assert_eq!(p.total_items, Some(1));
}

#[test]
fn sites_object_with_all_sites() {
    let env: Envelope<SitesData> = load("sites-list.swimlane.json");
    let all = env.data.all_sites.expect("allSites");
    assert_eq!(all.active_licenses, Some(764));
    assert_eq!(all.total_licenses, Some(40));
    assert_eq!(env.data.sites.len(), 1);
    let s = &env.data.sites[0];
    assert_eq!(s.id, "1286405255257023125");
    assert_eq!(s.name.as_deref(), Some("Default site"));
    assert_eq!(s.is_default, Some(true));
    assert_eq!(s.health_status, Some(true));
    assert_eq!(s.account_id.as_deref(), Some("1286405255240245908"));
    assert!(s.licenses.as_ref().is_some_and(|l| !l.bundles.is_empty()));
    assert_eq!(
        env.pagination.and_then(|p| p.next().map(str::to_string)),
        None
    );
}

#[test]
fn groups_both_samples() {
    let env: Envelope<Vec<Group>> = load("groups-list.swimlane.json");
    assert_eq!(env.data.len(), 2);
    assert_eq!(env.data[0].id, "1286405255265411734");
    assert_eq!(env.data[0].site_id.as_deref(), Some("1286405255257023125"));
    assert_eq!(env.data[0].total_agents, Some(2));
    assert_eq!(env.data[0].kind.as_deref(), Some("static"));
    assert_eq!(env.data[0].rank, None);
    assert_eq!(env.data[1].id, "1758952600065820586");
    assert_eq!(env.data[1].total_agents, Some(0));

    let env: Envelope<Vec<Group>> = load("groups-list.elastic.json");
    assert_eq!(env.data[0].name.as_deref(), Some("Default Group"));
    assert_eq!(env.data[0].inherits, Some(true));
    assert_eq!(
        env.pagination.as_ref().and_then(Pagination::next),
        Some("abcd")
    );
}

#[test]
fn service_users_with_empty_string_cursor() {
    let env: Envelope<Vec<ServiceUser>> = load("service-users-list.demisto.json");
    let u = &env.data[0];
    assert_eq!(u.id, "123456");
    assert_eq!(u.scope.as_deref(), Some("site"));
    assert_eq!(u.description, None);
    assert_eq!(
        u.api_token.as_ref().and_then(|t| t.expires_at.as_deref()),
        Some("2025-03-01T10:12:08Z")
    );
    assert_eq!(u.scope_roles[0].role_name.as_deref(), Some("Admin"));
    assert_eq!(u.scope_roles[0].roles, vec!["Admin".to_string()]);
    assert_eq!(
        u.created_by.as_ref().and_then(|c| c.name.as_deref()),
        Some("sentinelone")
    );
    let p = env.pagination.expect("pagination");
    assert_eq!(p.next_cursor.as_deref(), Some(""));
    assert_eq!(p.next(), None);
}

#[test]
fn cloud_detection_alerts_string_null_cursor() {
    let env: Envelope<Vec<Value>> = load("cloud-detection-alerts-list.demisto.json");
    assert_eq!(env.data.len(), 1);
    let p = env.pagination.expect("pagination");
    assert_eq!(p.next_cursor.as_deref(), Some("null"));
    assert_eq!(p.next(), None);
    assert_eq!(p.total_items, Some(2651));
}

#[test]
fn error_samples() {
    let e: ErrorBody = load("error-401-authentication-failed.json");
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].code, Some(4010010));
    assert_eq!(e.errors[0].title.as_deref(), Some("Authentication Failed"));
    assert_eq!(e.errors[0].detail, None);

    let e: ErrorBody = load("error-403-insufficient-permissions.json");
    assert_eq!(e.errors[0].code, Some(4030010));
    assert_eq!(
        e.errors[0].detail.as_deref(),
        Some("Action limited to global admins.")
    );
    let e: ErrorBody = load("error-403-insufficient-permissions-2.json");
    assert_eq!(
        e.errors[0].detail.as_deref(),
        Some("User does not have required permissions")
    );

    let e: ErrorBody = load("error-400-validation-multiple.json");
    assert_eq!(e.errors.len(), 3);
    assert!(e.errors.iter().all(|i| i.code == Some(4000010)));
    assert_eq!(
        e.errors[2].detail.as_deref(),
        Some("Remote Shell can only be opened on a single Endpoint at a time.")
    );

    let e: ErrorBody = load("error-400-bad-request-dv-parse.json");
    assert_eq!(e.errors[0].code, Some(4000040));
    assert_eq!(e.errors[0].title.as_deref(), Some("Bad Request"));

    let e: ErrorBody = load("error-500-internal.json");
    assert_eq!(e.errors[0].code, Some(5000010));
    assert_eq!(e.errors[0].title.as_deref(), Some("Internal server error"));
}
