//! API keys: generated once, shown once, stored as a SHA-256 hash. A request authenticates with
//! `Authorization: Bearer <key>` or the dashboard's `s1bridge_key` cookie.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use s1bridge_config::vault::{hex, random_bytes, sha256_hex};
use s1bridge_store::{ApiKeyRecord, ApiRole, NewApiKey, Store};

use crate::AppState;
use crate::error::ApiError;

/// The cookie the dashboard keeps the key in (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "s1bridge_key";
/// Every key starts with this (recognisable in logs and secret scanners).
pub const KEY_PREFIX: &str = "s1b_";

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: i64,
    pub name: String,
    pub role: ApiRole,
}

impl Principal {
    /// Refuse `what` unless the key is an admin key.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self.role {
            ApiRole::Admin => Ok(()),
            ApiRole::Read => Err(ApiError::forbidden(what)),
        }
    }
}

/// Create a key: returns the key (to show once) and its record.
pub async fn create_key(
    store: &dyn Store,
    name: &str,
    role: ApiRole,
) -> Result<(String, ApiKeyRecord), String> {
    let mut bytes = [0u8; 24];
    random_bytes(&mut bytes).map_err(|e| e.to_string())?;
    let key = format!("{KEY_PREFIX}{}", hex(&bytes));
    let rec = store
        .create_api_key(&NewApiKey {
            name: name.to_string(),
            role,
            key_hash: sha256_hex(key.as_bytes()),
            prefix: key[..KEY_PREFIX.len() + 6].to_string(),
            created_at: Utc::now(),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok((key, rec))
}

/// The key of a request: the bearer token, else the cookie.
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(k) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    {
        return Some(k.trim().to_string());
    }
    cookie(headers, COOKIE)
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Look a presented key up.
pub async fn authenticate(
    store: &Arc<dyn Store>,
    key: &str,
) -> Result<Option<Principal>, ApiError> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let rec = store.api_key_by_hash(&sha256_hex(key.as_bytes())).await?;
    Ok(rec.map(|r| Principal {
        key_id: r.id,
        name: r.name,
        role: r.role,
    }))
}

/// Middleware of every `/api/v1` route and `/metrics`: no valid key, no answer.
pub async fn require_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = presented_key(req.headers()).ok_or_else(ApiError::unauthorized)?;
    let principal = authenticate(&state.store, &key).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this API key is unknown or revoked; `s1bridge keys list` shows the valid keys",
        )
    })?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
