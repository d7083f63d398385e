//! The console URL rules (PRODUCT.md "Console URL rules"): what a user may type as the console
//! address and what s1bridge makes of it.
//!
//! * `https://` only; `http://` only for loopback hosts (`127.0.0.0/8`, `localhost`, `[::1]`),
//!   and then with a [`UrlNotice::InsecureLoopback`] warning.
//! * Path, query and fragment are stripped, each reported as a [`UrlNotice::Stripped`]; a
//!   trailing `/` alone is not worth a notice.
//! * A bare host without a scheme is refused with a message that suggests `https://<host>`.
//! * Userinfo (`https://user:pw@host`) is refused, and the password is never echoed.
//! * Any host is allowed (on-prem, gov, non-`sentinelone.net` consoles).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated console base URL: `https://host[:port]`, without path, query or trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsoleUrl {
    /// `scheme://host[:port]`.
    base: String,
    /// As in a URL: IPv6 addresses keep their brackets (`[::1]`).
    host: String,
    loopback: bool,
}

/// Something the user should be told about the URL they gave, which was nevertheless accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlNotice {
    /// A part of the URL that s1bridge ignores was removed. `part` is `"path"`, `"query"` or
    /// `"fragment"`; `value` is what was removed (`/dashboard`, `?a=b`, `#x`).
    Stripped { part: &'static str, value: String },
    /// Plain `http://` to a loopback host (a simulator or a test): accepted, but unencrypted.
    InsecureLoopback,
}

impl fmt::Display for UrlNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlNotice::Stripped { part, value } => write!(
                f,
                "removed {part} {value} from the console URL: s1bridge only needs the console's \
                 address (scheme, host and port)"
            ),
            UrlNotice::InsecureLoopback => f.write_str(
                "using plain http:// to a loopback address: traffic is not encrypted; this is \
                 meant for the simulator and tests only (real consoles need https://)",
            ),
        }
    }
}

/// Why a console URL was refused. Messages say what is wrong and what to do; they never echo a
/// password given in the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "the console URL is empty: give the address of your SentinelOne console, for example \
         https://usea1-partners.sentinelone.net"
    )]
    Empty,
    #[error(
        "the console URL {input:?} has no scheme: write it as {suggestion} (s1bridge only talks \
         to consoles over https)"
    )]
    MissingScheme { input: String, suggestion: String },
    #[error(
        "the console URL uses the unsupported scheme {scheme:?}: SentinelOne consoles are \
         reached over https://, for example https://usea1-partners.sentinelone.net"
    )]
    UnsupportedScheme { scheme: String },
    #[error(
        "the console URL uses plain http:// to {host}, which is not a loopback address: the API \
         token would travel unencrypted. Use {suggestion} (http:// is accepted only for \
         127.0.0.1, localhost and [::1], i.e. the simulator and tests)"
    )]
    InsecureHttp { host: String, suggestion: String },
    #[error(
        "the console URL contains a user name or password (user:password@host): that is not how \
         SentinelOne authenticates. Remove it and give the API token separately (e.g. \
         {suggestion} and the token from a file or the environment)"
    )]
    UserInfo { suggestion: String },
    #[error(
        "the console URL {input:?} has no host: write it as https://<console host>, for example \
         https://usea1-partners.sentinelone.net"
    )]
    MissingHost { input: String },
    #[error(
        "the console URL {input:?} is not a valid URL ({reason}): write it as https://<console \
         host>[:port], for example https://usea1-partners.sentinelone.net"
    )]
    Invalid { input: String, reason: String },
}

impl ConsoleUrl {
    /// Parse and normalise what the user typed. Returns the URL and what was changed about it.
    pub fn parse(input: &str) -> Result<(ConsoleUrl, Vec<UrlNotice>), UrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(no_scheme(input));
        };
        // "host/x://y" is a bare host whose path happens to contain "://".
        if scheme.is_empty() || !scheme.chars().all(is_scheme_char) {
            return Err(no_scheme(input));
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(UrlError::UnsupportedScheme { scheme });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(UrlError::UserInfo {
                suggestion: format!("https://{}", host_part(authority)),
            });
        }
        if authority.is_empty() {
            return Err(UrlError::MissingHost {
                input: input.to_string(),
            });
        }
        let parsed = ::url::Url::parse(input).map_err(|e| match e {
            ::url::ParseError::EmptyHost => UrlError::MissingHost {
                input: input.to_string(),
            },
            other => UrlError::Invalid {
                input: input.to_string(),
                reason: other.to_string(),
            },
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::UserInfo {
                suggestion: format!("https://{}", host_part(authority)),
            });
        }
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => {
                return Err(UrlError::MissingHost {
                    input: input.to_string(),
                });
            }
        };
        let loopback = match parsed.host() {
            Some(::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        };
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let mut notices = Vec::new();
        if scheme == "http" {
            if !loopback {
                return Err(UrlError::InsecureHttp {
                    host: host.clone(),
                    suggestion: format!("https://{host}{port}"),
                });
            }
            notices.push(UrlNotice::InsecureLoopback);
        }
        let path = parsed.path();
        if !path.is_empty() && path != "/" {
            notices.push(UrlNotice::Stripped {
                part: "path",
                value: path.to_string(),
            });
        }
        if let Some(q) = parsed.query().filter(|q| !q.is_empty()) {
            notices.push(UrlNotice::Stripped {
                part: "query",
                value: format!("?{q}"),
            });
        }
        if let Some(fr) = parsed.fragment().filter(|f| !f.is_empty()) {
            notices.push(UrlNotice::Stripped {
                part: "fragment",
                value: format!("#{fr}"),
            });
        }
        Ok((
            ConsoleUrl {
                base: format!("{scheme}://{host}{port}"),
                host,
                loopback,
            },
            notices,
        ))
    }

    /// `https://host[:port]`, no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The full URL of a Management API path: base + `/web/api/v2.1` + `path`. A missing
    /// leading `/` is added; a path that already carries the API prefix is not prefixed twice.
    pub fn api(&self, path: &str) -> String {
        let path = path.strip_prefix(crate::API_PREFIX).unwrap_or(path);
        if path.starts_with('/') || path.is_empty() {
            format!("{}{}{}", self.base, crate::API_PREFIX, path)
        } else {
            format!("{}{}/{}", self.base, crate::API_PREFIX, path)
        }
    }

    /// Whether the host is a loopback address (`127.0.0.0/8`, `localhost`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The host as written in a URL (lower-case; IPv6 addresses in brackets), without port.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for ConsoleUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl FromStr for ConsoleUrl {
    type Err = UrlError;
    /// [`ConsoleUrl::parse`] without the notices.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsoleUrl::parse(s).map(|(u, _)| u)
    }
}

impl Serialize for ConsoleUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.base)
    }
}

impl<'de> Deserialize<'de> for ConsoleUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'
}

/// The host[:port] of an authority, without any userinfo (never echo a password).
fn host_part(authority: &str) -> &str {
    authority.rsplit('@').next().unwrap_or(authority)
}

fn no_scheme(input: &str) -> UrlError {
    let trimmed = input.trim_start_matches('/');
    let authority = trimmed.split(['/', '?', '#']).next().unwrap_or(trimmed);
    let host = host_part(authority);
    let host = host.strip_suffix(":443").unwrap_or(host);
    // Never echo a password: when userinfo is present, show only the host part.
    let shown = if authority.contains('@') {
        host.to_string()
    } else {
        input.to_string()
    };
    if host.is_empty() {
        return UrlError::MissingHost { input: shown };
    }
    // "mailto:x", "ftp:host" — a scheme without "//" and not a port.
    if let Some((_, after)) = host.split_once(':')
        && !after.chars().all(|c| c.is_ascii_digit())
    {
        return UrlError::Invalid {
            input: shown,
            reason: "expected https://<host>".to_string(),
        };
    }
    UrlError::MissingScheme {
        input: shown,
        suggestion: format!("https://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(part: &'static str, value: &str) -> UrlNotice {
        UrlNotice::Stripped {
            part,
            value: value.to_string(),
        }
    }

    #[test]
    fn accepted_urls_table() {
        let cases: &[(&str, &str, Vec<UrlNotice>, bool)] = &[
            (
                "https://usea1-partners.sentinelone.net",
                "https://usea1-partners.sentinelone.net",
                vec![],
                false,
            ),
            (
                "https://usea1-partners.sentinelone.net/",
                "https://usea1-partners.sentinelone.net",
                vec![],
                false,
            ),
            (
                "https://usea1-partners.sentinelone.net/dashboard",
                "https://usea1-partners.sentinelone.net",
                vec![stripped("path", "/dashboard")],
                false,
            ),
            (
                "https://usea1-partners.sentinelone.net/web/api/v2.1/agents?limit=5#top",
                "https://usea1-partners.sentinelone.net",
                vec![
                    stripped("path", "/web/api/v2.1/agents"),
                    stripped("query", "?limit=5"),
                    stripped("fragment", "#top"),
                ],
                false,
            ),
            (
                "https://host.example/?",
                "https://host.example",
                vec![],
                false,
            ),
            (
                "https://host.example/#x",
                "https://host.example",
                vec![stripped("fragment", "#x")],
                false,
            ),
            (
                "  https://Console.Example.COM:8443/  \n",
                "https://console.example.com:8443",
                vec![],
                false,
            ),
            (
                "HTTPS://host.example:443",
                "https://host.example",
                vec![],
                false,
            ),
            (
                "https://s1.internal.corp",
                "https://s1.internal.corp",
                vec![],
                false,
            ),
            (
                "https://10.1.2.3:4443",
                "https://10.1.2.3:4443",
                vec![],
                false,
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
                vec![UrlNotice::InsecureLoopback],
                true,
            ),
            (
                "http://127.8.9.10",
                "http://127.8.9.10",
                vec![UrlNotice::InsecureLoopback],
                true,
            ),
            (
                "http://localhost:3000/",
                "http://localhost:3000",
                vec![UrlNotice::InsecureLoopback],
                true,
            ),
            (
                "http://LOCALHOST",
                "http://localhost",
                vec![UrlNotice::InsecureLoopback],
                true,
            ),
            (
                "http://[::1]:9000",
                "http://[::1]:9000",
                vec![UrlNotice::InsecureLoopback],
                true,
            ),
            (
                "http://127.0.0.1:1/x",
                "http://127.0.0.1:1",
                vec![UrlNotice::InsecureLoopback, stripped("path", "/x")],
                true,
            ),
            ("https://localhost", "https://localhost", vec![], true),
        ];
        for (input, want, notices, loopback) in cases {
            let (u, n) = ConsoleUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(u.as_str(), *want, "{input}");
            assert_eq!(u.to_string(), *want, "{input}");
            assert_eq!(&n, notices, "{input}");
            assert_eq!(u.is_loopback(), *loopback, "{input}");
        }
    }

    #[test]
    fn refused_urls_table() {
        type Check = fn(&UrlError) -> bool;
        let cases: &[(&str, Check, &str)] = &[
            ("", |e| matches!(e, UrlError::Empty), "empty"),
            ("   \n", |e| matches!(e, UrlError::Empty), "empty"),
            (
                "usea1.sentinelone.net",
                |e| matches!(e, UrlError::MissingScheme { suggestion, .. } if suggestion == "https://usea1.sentinelone.net"),
                "https://usea1.sentinelone.net",
            ),
            (
                "usea1.sentinelone.net/x",
                |e| matches!(e, UrlError::MissingScheme { suggestion, .. } if suggestion == "https://usea1.sentinelone.net"),
                "https://usea1.sentinelone.net",
            ),
            (
                "host:443",
                |e| matches!(e, UrlError::MissingScheme { suggestion, .. } if suggestion == "https://host"),
                "https://host",
            ),
            (
                "localhost:8080",
                |e| matches!(e, UrlError::MissingScheme { suggestion, .. } if suggestion == "https://localhost:8080"),
                "https://localhost:8080",
            ),
            (
                "//host.example/x",
                |e| matches!(e, UrlError::MissingScheme { suggestion, .. } if suggestion == "https://host.example"),
                "https://host.example",
            ),
            (
                "ftp://host.example",
                |e| matches!(e, UrlError::UnsupportedScheme { scheme } if scheme == "ftp"),
                "https://",
            ),
            (
                "file:///etc/passwd",
                |e| matches!(e, UrlError::UnsupportedScheme { .. }),
                "https://",
            ),
            (
                "ws://host.example",
                |e| matches!(e, UrlError::UnsupportedScheme { .. }),
                "https://",
            ),
            (
                "mailto:someone",
                |e| matches!(e, UrlError::Invalid { .. }),
                "https://",
            ),
            (
                "http://usea1.sentinelone.net",
                |e| matches!(e, UrlError::InsecureHttp { suggestion, .. } if suggestion == "https://usea1.sentinelone.net"),
                "https://usea1.sentinelone.net",
            ),
            (
                "http://10.0.0.1:8080",
                |e| matches!(e, UrlError::InsecureHttp { .. }),
                "https://10.0.0.1:8080",
            ),
            (
                "http://128.0.0.1",
                |e| matches!(e, UrlError::InsecureHttp { .. }),
                "https://",
            ),
            (
                "http://localhost.evil.example",
                |e| matches!(e, UrlError::InsecureHttp { .. }),
                "https://",
            ),
            (
                "https://user:hunter2@host.example",
                |e| matches!(e, UrlError::UserInfo { .. }),
                "https://host.example",
            ),
            (
                "https://user@host.example/x",
                |e| matches!(e, UrlError::UserInfo { .. }),
                "https://host.example",
            ),
            (
                "user:hunter2@host.example",
                |e| matches!(e, UrlError::MissingScheme { .. }),
                "https://host.example",
            ),
            (
                "https://",
                |e| matches!(e, UrlError::MissingHost { .. }),
                "https://<console host>",
            ),
            (
                "https:///dashboard",
                |e| matches!(e, UrlError::MissingHost { .. }),
                "https://<console host>",
            ),
            (
                "https://host.example:99999",
                |e| matches!(e, UrlError::Invalid { .. }),
                "https://",
            ),
            (
                "https://ho st.example",
                |e| matches!(e, UrlError::Invalid { .. }),
                "https://",
            ),
        ];
        for (input, check, hint) in cases {
            let e = match ConsoleUrl::parse(input) {
                Ok((u, _)) => panic!("{input:?} was accepted as {u}"),
                Err(e) => e,
            };
            assert!(check(&e), "{input:?}: unexpected error {e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains(hint),
                "{input:?}: message {msg:?} lacks {hint:?}"
            );
            assert!(
                !msg.contains("hunter2"),
                "{input:?}: message echoes the password: {msg}"
            );
        }
    }

    #[test]
    fn api_paths_and_accessors() {
        let (u, _) = ConsoleUrl::parse("https://usea1.sentinelone.net:8443/x").unwrap();
        assert_eq!(
            u.api("/agents"),
            "https://usea1.sentinelone.net:8443/web/api/v2.1/agents"
        );
        assert_eq!(
            u.api("agents"),
            "https://usea1.sentinelone.net:8443/web/api/v2.1/agents"
        );
        assert_eq!(
            u.api("/web/api/v2.1/system/info"),
            "https://usea1.sentinelone.net:8443/web/api/v2.1/system/info"
        );
        assert_eq!(u.host(), "usea1.sentinelone.net");
        let (v6, _) = ConsoleUrl::parse("http://[::1]:1234").unwrap();
        assert_eq!(v6.host(), "[::1]");
        assert!(v6.is_loopback());
        let parsed: ConsoleUrl = "https://a.example/".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            "\"https://a.example\""
        );
        let back: ConsoleUrl = serde_json::from_str("\"https://a.example/b\"").unwrap();
        assert_eq!(back, parsed);
        assert!(serde_json::from_str::<ConsoleUrl>("\"http://a.example\"").is_err());
    }

    #[test]
    fn notices_read_as_sentences() {
        let (_, n) = ConsoleUrl::parse("https://usea1-partners.sentinelone.net/dashboard").unwrap();
        assert!(
            n[0].to_string().starts_with("removed path /dashboard"),
            "{}",
            n[0]
        );
        assert!(
            UrlNotice::InsecureLoopback
                .to_string()
                .contains("not encrypted")
        );
    }
}
