//! Validation and normalisation of one indicator value.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of indicator s1bridge understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Sha1,
    Sha256,
    Md5,
}

impl IndicatorType {
    pub const ALL: [IndicatorType; 8] = [
        Self::Ipv4,
        Self::Ipv6,
        Self::Cidr,
        Self::Domain,
        Self::Url,
        Self::Sha1,
        Self::Sha256,
        Self::Md5,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Cidr => "cidr",
            Self::Domain => "domain",
            Self::Url => "url",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    /// Whether this is a file hash.
    pub fn is_hash(self) -> bool {
        matches!(self, Self::Sha1 | Self::Sha256 | Self::Md5)
    }

    /// Parses a type name as written in input files. `ip` is accepted and
    /// resolved from the value (IPv4, IPv6 or CIDR); `fqdn`/`hostname`/`dns`
    /// mean domain; `sha-1`/`sha-256` are accepted.
    pub fn parse_name(name: &str) -> Option<TypeName> {
        let n = name.trim().to_ascii_lowercase().replace(['-', '_'], "");
        Some(match n.as_str() {
            "ip" | "ipaddress" | "address" => TypeName::AnyIp,
            "ipv4" | "ipv4addr" => TypeName::Exact(Self::Ipv4),
            "ipv6" | "ipv6addr" => TypeName::Exact(Self::Ipv6),
            "cidr" | "subnet" | "network" => TypeName::Exact(Self::Cidr),
            "domain" | "domainname" | "fqdn" | "hostname" | "dns" => TypeName::Exact(Self::Domain),
            "url" | "uri" => TypeName::Exact(Self::Url),
            "sha1" => TypeName::Exact(Self::Sha1),
            "sha256" => TypeName::Exact(Self::Sha256),
            "md5" => TypeName::Exact(Self::Md5),
            _ => return None,
        })
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndicatorType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match Self::parse_name(s) {
            Some(TypeName::Exact(t)) => Ok(t),
            _ => Err(format!(
                "unknown indicator type {s:?}; use one of ipv4, ipv6, cidr, domain, url, sha1, sha256, md5"
            )),
        }
    }
}

/// A type name from an input file: either exact, or `ip` (resolved from the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeName {
    Exact(IndicatorType),
    AnyIp,
}

/// Validates `raw` as an indicator of the named type and returns the
/// resolved type and the normalised value, or the reason it was rejected.
pub fn normalise_named(name: TypeName, raw: &str) -> Result<(IndicatorType, String), String> {
    match name {
        TypeName::Exact(t) => normalise(t, raw).map(|v| (t, v)),
        TypeName::AnyIp => {
            let v = raw.trim();
            let t = if v.contains('/') {
                IndicatorType::Cidr
            } else if v.contains(':') {
                IndicatorType::Ipv6
            } else {
                IndicatorType::Ipv4
            };
            normalise(t, v).map(|v| (t, v))
        }
    }
}

/// Validates and normalises one value: surrounding whitespace removed,
/// hashes and domains lower-cased, trailing dots of domains removed, IP
/// addresses in their canonical text form, URLs with a lower-case scheme
/// and host.
pub fn normalise(kind: IndicatorType, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        IndicatorType::Ipv4 => v
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("{v:?} is not an IPv4 address (like 203.0.113.7)")),
        IndicatorType::Ipv6 => v
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("{v:?} is not an IPv6 address (like 2001:db8::1)")),
        IndicatorType::Cidr => cidr(v),
        IndicatorType::Domain => domain(v),
        IndicatorType::Url => url(v),
        IndicatorType::Sha1 => hash(v, 40, "SHA1"),
        IndicatorType::Sha256 => hash(v, 64, "SHA256"),
        IndicatorType::Md5 => hash(v, 32, "MD5"),
    }
}

fn cidr(v: &str) -> Result<String, String> {
    let Some((addr, prefix)) = v.split_once('/') else {
        return Err(format!("{v:?} is not a CIDR block (like 203.0.113.0/24)"));
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{v:?}: {addr:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = prefix
        .trim()
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("{v:?}: the prefix length must be a number from 0 to {max}"))?;
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    if network != addr {
        return Err(format!(
            "{v:?} has host bits set; did you mean {network}/{prefix}?"
        ));
    }
    Ok(format!("{network}/{prefix}"))
}

fn domain(v: &str) -> Result<String, String> {
    let d = v.trim_end_matches('.').to_ascii_lowercase();
    if !d.is_ascii() {
        return Err(format!(
            "{v:?} is not an ASCII domain name; write internationalised names in punycode (xn--…)"
        ));
    }
    if d.len() > 253 {
        return Err(format!("{v:?} is longer than 253 characters"));
    }
    if d.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{v:?} is an IP address, not a domain; use type ipv4 or ipv6"
        ));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "{v:?} is not a fully qualified domain name (like evil.example)"
        ));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!(
                "{v:?} has an invalid label {label:?} (letters, digits and inner hyphens, 1-63 characters)"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{v:?} has a numeric top-level label"));
    }
    Ok(d)
}

fn url(v: &str) -> Result<String, String> {
    if v.chars().any(char::is_whitespace) {
        return Err(format!("{v:?} contains whitespace"));
    }
    let mut u = url::Url::parse(v).map_err(|e| format!("{v:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https" | "ftp") {
        return Err(format!(
            "{v:?} has scheme {:?}; only http, https and ftp URLs are accepted",
            u.scheme()
        ));
    }
    let Some(host) = u.host_str().map(str::to_owned) else {
        return Err(format!("{v:?} has no host"));
    };
    let trimmed = host.trim_end_matches('.');
    if trimmed != host {
        if trimmed.is_empty() {
            return Err(format!("{v:?} has no host"));
        }
        u.set_host(Some(trimmed))
            .map_err(|e| format!("{v:?} has an invalid host: {e}"))?;
    }
    Ok(u.to_string())
}

fn hash(v: &str, len: usize, name: &str) -> Result<String, String> {
    if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{name} must be hexadecimal; {v:?} is not"));
    }
    if v.len() != len {
        let hint = match v.len() {
            32 => " (that is the length of an MD5)",
            40 => " (that is the length of a SHA1)",
            64 => " (that is the length of a SHA256)",
            _ => "",
        };
        return Err(format!(
            "{name} is {len} hex characters, got {}{hint}",
            v.len()
        ));
    }
    Ok(v.to_ascii_lowercase())
}
