//! Pure conversions from wire types to stored domain types. No I/O.

use chrono::{DateTime, NaiveDateTime, Utc};
use s1bridge_api::wire::AgentRecord;
use s1bridge_store::Device;
use std::net::IpAddr;

/// Parse the timestamp shapes consoles send: RFC 3339 with `Z` or an offset, with 0-9
/// fractional digits, and naive `YYYY-MM-DDTHH:MM:SS[.ffffff]` (taken as UTC). The epoch
/// placeholder `1970-01-01T00:00:00Z` means "unknown".
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let t = DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .ok()
                .map(|n| n.and_utc())
        })?;
    if t.timestamp() == 0 { None } else { Some(t) }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Every non-loopback, non-unspecified address of every interface, in interface order, deduped.
fn interface_ips(agent: &AgentRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for nic in &agent.network_interfaces {
        for raw in nic.inet.iter().chain(nic.inet6.iter()) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            // Some consoles append a prefix length or a zone id; judge the address part.
            let addr_part = raw.split(['/', '%']).next().unwrap_or(raw);
            let keep = match addr_part.parse::<IpAddr>() {
                Ok(ip) => !ip.is_loopback() && !ip.is_unspecified(),
                Err(_) => true, // keep what we cannot judge rather than lose it
            };
            if keep && !out.iter().any(|o| o == raw) {
                out.push(raw.to_string());
            }
        }
    }
    out
}

fn interface_macs(agent: &AgentRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for nic in &agent.network_interfaces {
        if let Some(mac) = nic.physical.as_deref() {
            let mac = mac.trim().replace('-', ":").to_ascii_uppercase();
            if mac.is_empty() || mac == "00:00:00:00:00:00" {
                continue;
            }
            if !out.contains(&mac) {
                out.push(mac);
            }
        }
    }
    out
}

/// The agent's tags as `key=value` (or the value alone when the tag has no key), without
/// repeats.
fn agent_tags(agent: &AgentRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in agent.tags.iter().flat_map(|t| &t.sentinelone) {
        let key = tag.key.as_deref().map(str::trim).unwrap_or_default();
        let value = tag.value.as_deref().map(str::trim).unwrap_or_default();
        let text = match (key.is_empty(), value.is_empty()) {
            (true, true) => continue,
            (true, false) => value.to_string(),
            (false, _) => format!("{key}={value}"),
        };
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

/// Convert one agent. `seen_at` is the time of the sync that saw it. Returns None for a record
/// without an id (it cannot be stored or tracked; the caller counts it as rejected).
pub fn device_from_agent(
    console: &str,
    agent: &AgentRecord,
    seen_at: DateTime<Utc>,
) -> Option<Device> {
    let agent_id = agent.id.trim();
    if agent_id.is_empty() {
        return None;
    }
    Some(Device {
        console: console.to_string(),
        agent_id: agent_id.to_string(),
        uuid: non_empty(&agent.uuid),
        computer_name: agent.computer_name.clone().unwrap_or_default(),
        os_name: non_empty(&agent.os_name),
        os_type: non_empty(&agent.os_type),
        os_revision: non_empty(&agent.os_revision),
        os_arch: non_empty(&agent.os_arch),
        agent_version: non_empty(&agent.agent_version),
        ips: interface_ips(agent),
        macs: interface_macs(agent),
        tags: agent_tags(agent),
        external_ip: non_empty(&agent.external_ip),
        last_logged_in_user: non_empty(&agent.last_logged_in_user_name),
        account_id: non_empty(&agent.account_id),
        account_name: non_empty(&agent.account_name),
        site_id: non_empty(&agent.site_id),
        site_name: non_empty(&agent.site_name),
        group_id: non_empty(&agent.group_id),
        group_name: non_empty(&agent.group_name),
        machine_type: non_empty(&agent.machine_type),
        serial_number: non_empty(&agent.serial_number),
        domain: non_empty(&agent.domain),
        model_name: non_empty(&agent.model_name),
        network_status: non_empty(&agent.network_status),
        infected: agent.infected.unwrap_or(false),
        active_threats: agent.active_threats.unwrap_or(0),
        last_active_at: agent.last_active_date.as_deref().and_then(parse_timestamp),
        registered_at: agent
            .registered_at
            .as_deref()
            .or(agent.created_at.as_deref())
            .and_then(parse_timestamp),
        console_updated_at: non_empty(&agent.updated_at),
        is_active: agent.is_active.unwrap_or(false),
        is_decommissioned: agent.is_decommissioned.unwrap_or(false),
        is_uninstalled: agent.is_uninstalled.unwrap_or(false),
        first_seen_at: seen_at,
        last_seen_at: seen_at,
        removed_at: None,
        stale: false,
        duplicate_of: None,
    })
}

/// The larger of two console timestamps, compared as instants (strings as a fallback).
pub fn max_timestamp(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b.to_string()),
        (Some(a), Some(b)) => {
            let newer = match (parse_timestamp(&a), parse_timestamp(b)) {
                (Some(x), Some(y)) => y > x,
                _ => b > a.as_str(),
            };
            if newer { Some(b.to_string()) } else { Some(a) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s1bridge_api::wire::{Envelope, NetworkInterface};

    fn sample_agent() -> AgentRecord {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/s1-samples/agents-list.swimlane.json"
        ))
        .expect("the shared samples sit next to the repository");
        let env: Envelope<Vec<AgentRecord>> = serde_json::from_str(&raw).expect("sample parses");
        env.data.into_iter().next().expect("one agent")
    }

    #[test]
    fn converts_the_real_sample() {
        let now = Utc::now();
        let d = device_from_agent("c", &sample_agent(), now).unwrap();
        assert_eq!(d.agent_id, "1550901640146865256");
        assert_eq!(d.computer_name, "ubuntu");
        assert_eq!(d.os_type.as_deref(), Some("linux"));
        assert_eq!(
            d.os_revision.as_deref(),
            Some("Ubuntu 14.04.6 LTS 4.4.0-142-generic")
        );
        assert_eq!(d.ips, vec!["10.32.0.158", "fe80::250:56ff:fe90:80e0"]);
        assert_eq!(d.macs, vec!["00:50:56:90:80:E0"]);
        assert_eq!(d.external_ip.as_deref(), Some("96.79.235.37"));
        assert_eq!(d.last_logged_in_user, None, "empty user name means none");
        assert_eq!(d.site_name.as_deref(), Some("Default site"));
        assert_eq!(d.group_name.as_deref(), Some("Default Group"));
        assert_eq!(d.machine_type.as_deref(), Some("server"));
        assert_eq!(
            d.last_active_at.unwrap().to_rfc3339(),
            "2022-11-10T20:10:21.624510+00:00"
        );
        assert!(!d.is_active && !d.is_decommissioned);
        assert_eq!(d.serial_number, None);
        assert_eq!(
            d.console_updated_at.as_deref(),
            Some("2022-11-16T03:20:46.218532Z")
        );
    }

    #[test]
    fn loopback_and_unspecified_addresses_are_dropped() {
        let mut a = AgentRecord {
            id: "1".into(),
            ..Default::default()
        };
        a.network_interfaces = vec![NetworkInterface {
            inet: vec!["127.0.0.1".into(), "10.0.0.5".into(), "0.0.0.0".into()],
            inet6: vec!["::1".into(), "2001:db8::5".into(), "10.0.0.5".into()],
            physical: Some("aa-bb-cc-dd-ee-ff".into()),
            ..Default::default()
        }];
        let d = device_from_agent("c", &a, Utc::now()).unwrap();
        assert_eq!(d.ips, vec!["10.0.0.5", "2001:db8::5"]);
        assert_eq!(d.macs, vec!["AA:BB:CC:DD:EE:FF"]);
    }

    #[test]
    fn tags_become_key_value_strings() {
        use s1bridge_api::wire::{AgentTag, AgentTags};
        let tag = |key: Option<&str>, value: Option<&str>| AgentTag {
            key: key.map(str::to_string),
            value: value.map(str::to_string),
            ..Default::default()
        };
        let a = AgentRecord {
            id: "1".into(),
            tags: Some(AgentTags {
                sentinelone: vec![
                    tag(Some("env"), Some(" prod ")),
                    tag(None, Some("pci")),
                    tag(Some("env"), Some("prod")),
                    tag(None, None),
                    tag(Some("owner"), None),
                ],
            }),
            ..Default::default()
        };
        let d = device_from_agent("c", &a, Utc::now()).unwrap();
        assert_eq!(d.tags, vec!["env=prod", "pci", "owner="]);
        assert!(
            device_from_agent("c", &sample_agent(), Utc::now())
                .unwrap()
                .tags
                .is_empty(),
            "the sample's empty tag list"
        );
    }

    #[test]
    fn an_agent_without_id_is_rejected() {
        assert!(device_from_agent("c", &AgentRecord::default(), Utc::now()).is_none());
    }

    #[test]
    fn timestamps_in_every_observed_shape() {
        for s in [
            "2022-11-10T20:04:42.684950Z",
            "2022-11-10T20:04:19Z",
            "2023-10-23T00:00:00.000Z",
            "2022-07-31T08:11:06+00:00",
            "2022-11-10T20:04:42.684950",
        ] {
            assert!(parse_timestamp(s).is_some(), "{s}");
        }
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(
            max_timestamp(
                Some("2022-11-10T20:04:19Z".into()),
                Some("2022-11-10T20:04:19.5Z")
            ),
            Some("2022-11-10T20:04:19.5Z".into())
        );
    }
}
