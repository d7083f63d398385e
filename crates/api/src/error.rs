//! Typed errors of the client. Every message says what happened and what to do, and none ever
//! contains the token (server-provided text is scrubbed of it before it is stored here).

use std::fmt;
use std::time::Duration;

use crate::features::Capability;
use crate::wire::ErrorItem;

/// An error of a Management API call. `path` is relative to `/web/api/v2.1`, without query.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// HTTP 401: the token is wrong, expired or revoked.
    Unauthorized {
        path: String,
        code: Option<i64>,
        detail: Option<String>,
    },
    /// HTTP 403: the token's role lacks a permission (or its scope does not cover the object).
    Forbidden {
        path: String,
        code: Option<i64>,
        detail: Option<String>,
        capability: Option<Capability>,
    },
    /// HTTP 403 whose text says the console is not licensed for the feature.
    NotLicensed {
        path: String,
        detail: Option<String>,
        capability: Option<Capability>,
    },
    /// HTTP 400 and any other 4xx not listed here (405, 409, 422 …): the request was refused.
    Validation {
        path: String,
        status: u16,
        errors: Vec<ErrorItem>,
    },
    /// HTTP 404.
    NotFound {
        path: String,
        detail: Option<String>,
    },
    /// HTTP 429 after all retries, or with a `Retry-After` longer than we are willing to wait.
    RateLimited {
        path: String,
        attempts: u32,
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx after all retries.
    Server {
        path: String,
        status: u16,
        errors: Vec<ErrorItem>,
        attempts: u32,
    },
    /// The console could not be reached or the connection broke, after all retries.
    Transport {
        path: String,
        reason: String,
        attempts: u32,
    },
    /// A 2xx answer that is not the expected JSON (after retries when it was not even JSON).
    Decode { path: String, reason: String },
    /// The console handed back a cursor already used in this listing.
    CursorLoop { path: String, cursor: String },
    /// A status the client does not expect from the Management API (1xx, 3xx).
    Unexpected {
        path: String,
        status: u16,
        excerpt: String,
    },
    /// The client could not be built or a request could not be formed.
    Config(String),
}

impl ApiError {
    /// The HTTP status behind the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } | ApiError::NotLicensed { .. } => Some(403),
            ApiError::NotFound { .. } => Some(404),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Validation { status, .. }
            | ApiError::Server { status, .. }
            | ApiError::Unexpected { status, .. } => Some(*status),
            ApiError::Transport { .. }
            | ApiError::Decode { .. }
            | ApiError::CursorLoop { .. }
            | ApiError::Config(_) => None,
        }
    }

    /// A 401 or 403 (including "not licensed"): the token, its role or the licence is at fault,
    /// and retrying later will not help.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized { .. }
                | ApiError::Forbidden { .. }
                | ApiError::NotLicensed { .. }
        )
    }

    /// Worth trying again later (rate limits, server faults, network trouble).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Transport { .. }
        )
    }

    /// The request path (relative to `/web/api/v2.1`), when the error is about a request.
    pub fn path(&self) -> Option<&str> {
        match self {
            ApiError::Unauthorized { path, .. }
            | ApiError::Forbidden { path, .. }
            | ApiError::NotLicensed { path, .. }
            | ApiError::Validation { path, .. }
            | ApiError::NotFound { path, .. }
            | ApiError::RateLimited { path, .. }
            | ApiError::Server { path, .. }
            | ApiError::Transport { path, .. }
            | ApiError::Decode { path, .. }
            | ApiError::CursorLoop { path, .. }
            | ApiError::Unexpected { path, .. } => Some(path),
            ApiError::Config(_) => None,
        }
    }
}

/// "4000010 Validation Error: detail".
pub(crate) fn describe_item(e: &ErrorItem) -> String {
    let mut s = String::new();
    if let Some(c) = e.code {
        s.push_str(&c.to_string());
    }
    if let Some(t) = e.title.as_deref().filter(|t| !t.is_empty()) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(t);
    }
    if let Some(d) = e.detail.as_deref().filter(|d| !d.is_empty()) {
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(d);
    }
    if s.is_empty() {
        s.push_str("(no details)");
    }
    s
}

fn describe_items(errors: &[ErrorItem]) -> String {
    match errors {
        [] => "no error details were given".to_string(),
        [one] => describe_item(one),
        many => many
            .iter()
            .enumerate()
            .map(|(i, e)| format!("({}) {}", i + 1, describe_item(e)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 || s == 0.0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn scope_note() -> &'static str {
    "Note that a Site-scoped token sees only its own site(s) and an Account-scoped token only its \
     account: use a token whose scope covers what you sync"
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized { path, code, detail } => {
                let code = code.unwrap_or(4010010);
                let title = if code == 4010010 {
                    "Authentication Failed".to_string()
                } else {
                    "authentication refused".to_string()
                };
                write!(f, "{path}: the API token was rejected ({code} {title}")?;
                if let Some(d) = detail.as_deref().filter(|d| !d.is_empty()) {
                    write!(f, ": {d}")?;
                }
                write!(
                    f,
                    "): it is wrong, expired or revoked. Generate a new one under Settings → \
                     Users → Service Users (or your user's API token), and check that the URL is \
                     the console the token was issued by"
                )
            }
            ApiError::Forbidden {
                path,
                code,
                detail,
                capability,
            } => {
                write!(f, "{path}: the API token is not allowed to do this (")?;
                if let Some(c) = code {
                    write!(f, "{c} ")?;
                }
                f.write_str("Insufficient permissions")?;
                if let Some(d) = detail.as_deref().filter(|d| !d.is_empty()) {
                    write!(f, ": {d}")?;
                }
                f.write_str("). ")?;
                match capability {
                    Some(cap) => write!(
                        f,
                        "{} needs the role permission {}; give the token's user or service user \
                         a role that has it. ",
                        cap.label(),
                        cap.permission_hint()
                    )?,
                    None => f.write_str(
                        "Give the token's user or service user a role with the permission this \
                         endpoint needs. ",
                    )?,
                }
                f.write_str(scope_note())
            }
            ApiError::NotLicensed {
                path,
                detail,
                capability,
            } => {
                write!(f, "{path}: this console is not licensed for ")?;
                match capability {
                    Some(cap) => f.write_str(cap.label())?,
                    None => f.write_str("this feature")?,
                }
                if let Some(d) = detail.as_deref().filter(|d| !d.is_empty()) {
                    write!(f, " ({d})")?;
                }
                if let Some(cap) = capability {
                    write!(f, ". It needs: {}", cap.permission_hint())?;
                }
                f.write_str(
                    ". Ask your SentinelOne administrator or account team to enable it, or turn \
                     the feature off in s1bridge",
                )
            }
            ApiError::Validation {
                path,
                status,
                errors,
            } => {
                let n = errors.len();
                write!(
                    f,
                    "{path}: the console refused the request (HTTP {status}) with {n} error{}: {}",
                    if n == 1 { "" } else { "s" },
                    describe_items(errors)
                )?;
                if *status == 400 {
                    f.write_str(
                        ". Check the filters and values given; if they come from s1bridge \
                         itself, please report it with this message",
                    )?;
                }
                Ok(())
            }
            ApiError::NotFound { path, detail } => {
                write!(f, "{path}: not found (HTTP 404")?;
                if let Some(d) = detail.as_deref().filter(|d| !d.is_empty()) {
                    write!(f, ": {d}")?;
                }
                f.write_str(
                    "). The object may no longer exist, or this console does not offer the \
                     endpoint (older version, or the feature is not enabled)",
                )
            }
            ApiError::RateLimited {
                path,
                attempts,
                retry_after,
            } => {
                write!(
                    f,
                    "{path}: the console kept answering 429 Too Many Requests ({attempts} \
                     attempt{})",
                    if *attempts == 1 { "" } else { "s" }
                )?;
                if let Some(d) = retry_after {
                    write!(f, " and asked to wait {} before trying again", secs(*d))?;
                }
                f.write_str(
                    ". Try again later; if it persists, lower s1bridge's request rate for this \
                     path or run fewer tools against this console with the same token",
                )
            }
            ApiError::Server {
                path,
                status,
                errors,
                attempts,
            } => write!(
                f,
                "{path}: the console failed with HTTP {status} after {attempts} attempt{}: {}. \
                 This is a fault on the console's side; try again later and contact SentinelOne \
                 support if it persists",
                if *attempts == 1 { "" } else { "s" },
                describe_items(errors)
            ),
            ApiError::Transport {
                path,
                reason,
                attempts,
            } => write!(
                f,
                "{path}: no complete answer from the console after {attempts} attempt{}: \
                 {reason}. Check the console URL, DNS, proxy and firewall, and that the \
                 console's TLS certificate is valid for its host",
                if *attempts == 1 { "" } else { "s" }
            ),
            ApiError::Decode { path, reason } => write!(
                f,
                "{path}: the console's answer is not the JSON expected: {reason}. If this \
                 persists, the console may be a different version than s1bridge supports; \
                 please report it with this message"
            ),
            ApiError::CursorLoop { path, cursor } => {
                let shown: String = cursor.chars().take(64).collect();
                let ell = if shown.len() < cursor.len() {
                    "…"
                } else {
                    ""
                };
                write!(
                    f,
                    "{path}: the console returned the page cursor {shown:?}{ell} a second time; \
                     the listing was stopped to avoid an endless loop. Try again later; if it \
                     persists, report it to SentinelOne support"
                )
            }
            ApiError::Unexpected {
                path,
                status,
                excerpt,
            } => write!(
                f,
                "{path}: unexpected HTTP {status} from the console ({excerpt}). Check that the \
                 URL is the console's own address (not a login page or a proxy)"
            ),
            ApiError::Config(msg) => f.write_str(msg),
        }
    }
}
