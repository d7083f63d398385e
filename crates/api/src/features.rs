//! The features of a console that s1bridge uses, which API paths belong to each, and the cheap
//! read-only probe `verify` makes to tell whether the token and licence allow it. The simulator
//! uses the same table to deny a feature (403) or mark it unlicensed.

use serde::{Deserialize, Serialize};

/// A capability of the console as `verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    Devices,
    Vulnerabilities,
    Access,
    FirewallControl,
    Blocklist,
    ThreatIntelligence,
    DeepVisibility,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Capability::Devices,
        Capability::Vulnerabilities,
        Capability::Access,
        Capability::FirewallControl,
        Capability::Blocklist,
        Capability::ThreatIntelligence,
        Capability::DeepVisibility,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Devices => "devices",
            Capability::Vulnerabilities => "vulnerabilities",
            Capability::Access => "access",
            Capability::FirewallControl => "firewall-control",
            Capability::Blocklist => "blocklist",
            Capability::ThreatIntelligence => "threat-intelligence",
            Capability::DeepVisibility => "deep-visibility",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A human label.
    pub fn label(self) -> &'static str {
        match self {
            Capability::Devices => "devices (Agents API)",
            Capability::Vulnerabilities => "vulnerabilities (Application Management risks)",
            Capability::Access => "access (accounts, sites, users, roles)",
            Capability::FirewallControl => "firewall control",
            Capability::Blocklist => "blocklist",
            Capability::ThreatIntelligence => "threat intelligence",
            Capability::DeepVisibility => "deep visibility / PowerQuery",
        }
    }

    /// The cheap read-only probe: path (relative to `/web/api/v2.1`) and query.
    pub fn probe(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        match self {
            Capability::Devices => ("/agents", &[("limit", "1"), ("skipCount", "true")]),
            Capability::Vulnerabilities => (
                "/application-management/risks",
                &[("limit", "1"), ("skipCount", "true")],
            ),
            Capability::Access => ("/users", &[("limit", "1"), ("skipCount", "true")]),
            Capability::FirewallControl => (
                "/firewall-control",
                &[
                    ("limit", "1"),
                    ("skipCount", "true"),
                    ("statuses", "Enabled,Disabled"),
                ],
            ),
            Capability::Blocklist => (
                "/restrictions",
                &[
                    ("limit", "1"),
                    ("skipCount", "true"),
                    ("type", "black_hash"),
                ],
            ),
            Capability::ThreatIntelligence => (
                "/threat-intelligence/iocs",
                &[("limit", "1"), ("skipCount", "true")],
            ),
            // A status query for an unknown id is read-only, costs no init-query budget (1/min)
            // and answers 403 when the token or licence lacks Deep Visibility.
            Capability::DeepVisibility => (
                "/dv/query-status",
                &[("queryId", "q00000000000000000000000000000000")],
            ),
        }
    }

    /// The role permissions this feature needs (console wording), for 403 explanations.
    pub fn permission_hint(self) -> &'static str {
        match self {
            Capability::Devices => "Endpoints → View",
            Capability::Vulnerabilities => {
                "Application Management / Vulnerability Management → View (and the Singularity Vulnerability Management or Application Risk licence)"
            }
            Capability::Access => {
                "Users → View, Service Users → View, Roles → View, Accounts/Sites → View"
            }
            Capability::FirewallControl => {
                "Firewall Control → View (Manage Rules and Tags to write); Firewall Control must be enabled and needs the Control SKU"
            }
            Capability::Blocklist => "Blocklist → View (Create/Edit to write)",
            Capability::ThreatIntelligence => {
                "Threat Intelligence → View (and a console that offers the IOC store)"
            }
            Capability::DeepVisibility => {
                "Deep Visibility → View (needs the Complete SKU with Deep Visibility)"
            }
        }
    }

    /// Which capability a request path belongs to, if any (path relative or with the API prefix).
    pub fn for_path(path: &str) -> Option<Capability> {
        let p = crate::limits::strip_api_prefix(path);
        let starts = |pre: &str| p == pre || p.starts_with(&format!("{pre}/"));
        if starts("/agents") || starts("/groups") {
            Some(Capability::Devices)
        } else if starts("/application-management") || starts("/installed-applications") {
            Some(Capability::Vulnerabilities)
        } else if starts("/users") && p != "/users/api-token-details"
            || starts("/service-users")
            || starts("/rbac")
        {
            Some(Capability::Access)
        } else if starts("/firewall-control") {
            Some(Capability::FirewallControl)
        } else if starts("/restrictions") {
            Some(Capability::Blocklist)
        } else if starts("/threat-intelligence") {
            Some(Capability::ThreatIntelligence)
        } else if starts("/dv") {
            Some(Capability::DeepVisibility)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_maps_back_to_its_capability() {
        for c in Capability::ALL {
            assert_eq!(Capability::for_path(c.probe().0), Some(c), "{c}");
            assert_eq!(Capability::parse(c.as_str()), Some(c));
        }
        assert_eq!(
            Capability::for_path("/web/api/v2.1/users/api-token-details"),
            None
        );
        assert_eq!(Capability::for_path("/system/info"), None);
    }
}
