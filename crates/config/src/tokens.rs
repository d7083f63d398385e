//! Where a console's API token comes from at run time: the environment, a file, or the
//! encrypted store (sealed under the master key; see [`crate::vault`]). Shared by the CLI and
//! `serve`. The token in clear only ever lives in an [`ApiToken`].

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use s1bridge_api::ApiToken;
use s1bridge_store::{SealedToken, Store};
use secrecy::{ExposeSecret, SecretString};

use crate::vault::{MASTER_KEY_ENV, MasterKey, VaultError, default_key_file};
use crate::{Config, TokenRef};

/// Where the master key is: `S1BRIDGE_MASTER_KEY`, else the key file (config
/// `server.master_key_file` / `S1BRIDGE_MASTER_KEY_FILE`, else the default next to the config).
#[derive(Clone)]
pub struct KeySource {
    env_value: Option<SecretString>,
    pub file: PathBuf,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("env", &self.env_value.as_ref().map(|_| "<set>"))
            .field("file", &self.file)
            .finish()
    }
}

impl KeySource {
    pub fn from_env(cfg: &Config) -> KeySource {
        KeySource {
            env_value: std::env::var(MASTER_KEY_ENV).ok().map(SecretString::from),
            file: cfg
                .server
                .master_key_file
                .clone()
                .unwrap_or_else(default_key_file),
        }
    }

    /// A key source with an explicit value (tests, embedding).
    pub fn new(env_value: Option<String>, file: PathBuf) -> KeySource {
        KeySource {
            env_value: env_value.map(SecretString::from),
            file,
        }
    }

    /// Load the key; with `create`, a missing key file is created (0600) with a fresh key.
    pub fn load(&self, create: bool) -> Result<MasterKey, VaultError> {
        MasterKey::load(
            self.env_value.as_ref().map(|s| s.expose_secret()),
            &self.file,
            create,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenSourceError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] s1bridge_store::StoreError),
    #[error(
        "no token stored for console '{0}'; store one with `s1bridge token set {0}` (it reads the token from stdin)"
    )]
    NotStored(String),
    #[error("the token of console '{console}' ({origin}) is not usable: {reason}")]
    Unusable {
        console: String,
        origin: String,
        reason: String,
    },
}

/// What the console said about a token when it was stored.
#[derive(Debug, Clone, Default)]
pub struct TokenFacts {
    pub owner: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Open the sealed token of `console`.
pub async fn open_sealed(
    store: &dyn Store,
    console: &str,
    keys: &KeySource,
) -> Result<ApiToken, TokenSourceError> {
    let sealed = store
        .get_sealed_token(console)
        .await?
        .ok_or_else(|| TokenSourceError::NotStored(console.to_string()))?;
    let key = keys.load(false)?;
    let secret = key.open(console, &sealed.key_id, &sealed.nonce, &sealed.ciphertext)?;
    ApiToken::new(secret.expose_secret()).map_err(|e| TokenSourceError::Unusable {
        console: console.to_string(),
        origin: "the encrypted token store".into(),
        reason: e.to_string(),
    })
}

/// The token `r` names for `console`.
pub async fn resolve(
    store: &dyn Store,
    console: &str,
    r: &TokenRef,
    keys: &KeySource,
) -> Result<ApiToken, TokenSourceError> {
    let unusable = |origin: String, reason: String| TokenSourceError::Unusable {
        console: console.to_string(),
        origin,
        reason,
    };
    match r {
        TokenRef::Store => open_sealed(store, console, keys).await,
        TokenRef::Env(var) => {
            let origin = format!("environment variable {var}");
            let v =
                std::env::var(var).map_err(|_| unusable(origin.clone(), "it is not set".into()))?;
            ApiToken::new(v).map_err(|e| unusable(origin, e.to_string()))
        }
        TokenRef::File(path) => {
            let origin = format!("file {}", path.display());
            let v = std::fs::read_to_string(path)
                .map_err(|e| unusable(origin.clone(), format!("cannot be read ({e})")))?;
            ApiToken::new(v).map_err(|e| unusable(origin, e.to_string()))
        }
    }
}

/// Seal `token` for `console` and store it (replacing any earlier one). `rotated` marks a
/// rotation. Creates the master key file on first use.
pub async fn seal_and_store(
    store: &dyn Store,
    console: &str,
    token: &SecretString,
    keys: &KeySource,
    facts: TokenFacts,
    rotated: bool,
    now: DateTime<Utc>,
) -> Result<SealedToken, TokenSourceError> {
    let key = keys.load(true)?;
    let (nonce, ciphertext) = key.seal(console, token)?;
    let previous = store.get_sealed_token(console).await?;
    let sealed = SealedToken {
        console: console.to_string(),
        key_id: key.id().to_string(),
        nonce,
        ciphertext,
        owner: facts.owner,
        scope: facts.scope,
        expires_at: facts.expires_at,
        stored_at: if rotated {
            previous.as_ref().map(|p| p.stored_at).unwrap_or(now)
        } else {
            now
        },
        rotated_at: rotated.then_some(now),
    };
    store.put_sealed_token(&sealed).await?;
    Ok(sealed)
}
