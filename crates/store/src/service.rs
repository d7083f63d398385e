//! Stored state of the service (`s1bridge serve`, `keys`, `token`): API keys, kept only as a
//! hash, and console tokens, kept only sealed (encrypted) by the caller.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an API key may do: `read` reads everything; `admin` also triggers syncs and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiRole {
    Read,
    Admin,
}

impl ApiRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Read => "read",
            ApiRole::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(ApiRole::Read),
            "admin" => Some(ApiRole::Admin),
            _ => None,
        }
    }
}

/// A key to create. The key itself never reaches the store: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    pub role: ApiRole,
    /// Hex SHA-256 of the key (unique).
    pub key_hash: String,
    /// The key's first characters, to recognise it in listings.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// A stored API key (without the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub role: ApiRole,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A console's API token as stored: encrypted by the caller (XChaCha20-Poly1305 under the master
/// key), plus what `token show` prints without decrypting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedToken {
    pub console: String,
    /// Identifies the master key it was sealed with (a fingerprint, never the key).
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// The token's owner (e-mail or name) as the console reported it when it was stored.
    pub owner: Option<String>,
    /// `tenant|account|site` of the owner.
    pub scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub stored_at: DateTime<Utc>,
    /// When it was last replaced by `token rotate`.
    pub rotated_at: Option<DateTime<Utc>>,
}
