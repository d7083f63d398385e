//! `verify`: is the URL right, does the token work, who owns it, when does it expire, and which
//! features do the token's permissions and the console's licence allow.

use chrono::{DateTime, Utc};
use s1bridge_api::features::Capability;
use s1bridge_api::{ApiError, Client, ProbeResult};
use serde::Serialize;

use crate::convert::parse_timestamp;

#[derive(Debug, Clone, Serialize)]
pub struct TokenOwner {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `tenant|account|site`.
    pub scope: Option<String>,
    /// `role @ scope-name (scope-id)` for each scopeRoles entry.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapabilityCheck {
    pub feature: String,
    /// `available|missing permission|not licensed|unknown`.
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub url: String,
    /// True when the token was accepted.
    pub ok: bool,
    /// Why it was not (the client's explanation), when `ok` is false.
    pub error: Option<String>,
    pub console_version: Option<String>,
    pub owner: Option<TokenOwner>,
    pub token_created_at: Option<DateTime<Utc>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub token_days_left: Option<i64>,
    /// Set when the token expires within the warning window (or has expired).
    pub expiry_warning: Option<String>,
    pub capabilities: Vec<CapabilityCheck>,
}

/// Run every check. Never fails: problems are described in the report.
pub async fn verify(client: &Client, expiry_warning_days: i64) -> VerifyReport {
    let mut report = VerifyReport {
        url: client.url().to_string(),
        ok: false,
        error: None,
        console_version: None,
        owner: None,
        token_created_at: None,
        token_expires_at: None,
        token_days_left: None,
        expiry_warning: None,
        capabilities: Vec::new(),
    };

    // The token's own user first: it proves the token works and says who owns it.
    let user = match client.current_user().await {
        Ok(u) => Some(u),
        Err(e) if e.is_auth() => {
            report.error = Some(e.to_string());
            return report;
        }
        Err(e) => {
            // Some service-user tokens cannot read /user; token details still prove validity.
            tracing::info!(error = %e, "GET /user failed; continuing with token details.");
            None
        }
    };
    if let Some(u) = &user {
        report.owner = Some(TokenOwner {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.full_name.clone(),
            scope: u.scope.clone(),
            roles: u
                .scope_roles
                .iter()
                .map(|r| {
                    format!(
                        "{} @ {} ({})",
                        r.role_name.as_deref().unwrap_or("?"),
                        r.name.as_deref().unwrap_or("?"),
                        r.id.as_deref().unwrap_or("?")
                    )
                })
                .collect(),
        });
    }

    match client.token_details().await {
        Ok(d) => {
            report.ok = true;
            report.token_created_at = d.created_at.as_deref().and_then(parse_timestamp);
            report.token_expires_at = d.expires_at.as_deref().and_then(parse_timestamp);
        }
        Err(e) if e.is_auth() => {
            report.error = Some(e.to_string());
            return report;
        }
        Err(e) => {
            // Fall back to the expiry on the user record.
            report.ok = user.is_some();
            if let Some(t) = user.as_ref().and_then(|u| u.api_token.as_ref()) {
                report.token_created_at = t.created_at.as_deref().and_then(parse_timestamp);
                report.token_expires_at = t.expires_at.as_deref().and_then(parse_timestamp);
            }
            if !report.ok {
                report.error = Some(describe(&e));
                return report;
            }
        }
    }

    if let Some(exp) = report.token_expires_at {
        let left = exp - Utc::now();
        let days = left.num_days();
        report.token_days_left = Some(days);
        if left <= chrono::Duration::zero() {
            report.expiry_warning = Some(format!(
                "the token expired on {}; generate a new one",
                exp.format("%Y-%m-%d")
            ));
        } else if days < expiry_warning_days {
            report.expiry_warning = Some(format!(
                "the token expires in {days} day(s), on {}; rotate it before then",
                exp.format("%Y-%m-%d")
            ));
        }
    }

    if let Ok(info) = client.system_info().await {
        report.console_version = info.version;
    }

    for cap in Capability::ALL {
        let result = client.probe(cap).await;
        let reason = match &result {
            ProbeResult::Available => None,
            ProbeResult::MissingPermission { reason }
            | ProbeResult::NotLicensed { reason }
            | ProbeResult::Unknown { reason } => Some(reason.clone()),
        };
        report.capabilities.push(CapabilityCheck {
            feature: cap.as_str().to_string(),
            status: result.as_str().to_string(),
            reason,
        });
    }
    report
}

fn describe(e: &ApiError) -> String {
    e.to_string()
}
