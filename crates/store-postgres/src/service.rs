//! API keys and sealed console tokens. The key and the token in clear never reach this module:
//! it stores a hash and a ciphertext.

use chrono::{DateTime, Utc};
use s1bridge_store::{ApiKeyRecord, ApiRole, NewApiKey, Result, SealedToken, StoreError};
use tokio_postgres::Row;

use crate::PgStore;
use crate::store::{bad_value, col, db};

const KEY_COLUMNS: &str = "id, name, role, prefix, created_at, revoked_at";

fn read_key(row: &Row) -> Result<ApiKeyRecord> {
    let role: String = col(row, 2)?;
    Ok(ApiKeyRecord {
        id: col(row, 0)?,
        name: col(row, 1)?,
        role: ApiRole::parse(&role).ok_or_else(|| bad_value("API key role", &role))?,
        prefix: col(row, 3)?,
        created_at: col(row, 4)?,
        revoked_at: col(row, 5)?,
    })
}

fn read_sealed(row: &Row) -> Result<SealedToken> {
    Ok(SealedToken {
        console: col(row, 0)?,
        key_id: col(row, 1)?,
        nonce: col(row, 2)?,
        ciphertext: col(row, 3)?,
        owner: col(row, 4)?,
        scope: col(row, 5)?,
        expires_at: col(row, 6)?,
        stored_at: col(row, 7)?,
        rotated_at: col(row, 8)?,
    })
}

pub(crate) async fn create_api_key(store: &PgStore, key: &NewApiKey) -> Result<ApiKeyRecord> {
    const DOING: &str = "creating an API key";
    // The unique index decides (also between processes): a taken hash inserts nothing.
    let row = store
        .client()
        .await?
        .query_opt(
            &format!(
                "INSERT INTO api_keys (name, role, key_hash, prefix, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (key_hash) DO NOTHING
                 RETURNING {KEY_COLUMNS}"
            ),
            &[
                &key.name,
                &key.role.as_str(),
                &key.key_hash,
                &key.prefix,
                &key.created_at,
            ],
        )
        .await
        .map_err(db(DOING))?;
    match row {
        Some(r) => read_key(&r),
        None => Err(StoreError::Backend(
            "an API key with the same hash already exists; create another key".into(),
        )),
    }
}

pub(crate) async fn api_key_by_hash(
    store: &PgStore,
    key_hash: &str,
) -> Result<Option<ApiKeyRecord>> {
    store
        .client()
        .await?
        .query_opt(
            &format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
            ),
            &[&key_hash],
        )
        .await
        .map_err(db("looking up an API key"))?
        .map(|r| read_key(&r))
        .transpose()
}

pub(crate) async fn list_api_keys(store: &PgStore) -> Result<Vec<ApiKeyRecord>> {
    store
        .client()
        .await?
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"),
            &[],
        )
        .await
        .map_err(db("listing API keys"))?
        .iter()
        .map(read_key)
        .collect()
}

pub(crate) async fn revoke_api_key(store: &PgStore, id: i64, at: DateTime<Utc>) -> Result<()> {
    const DOING: &str = "revoking an API key";
    // One statement: the key exists (row returned) and is revoked unless it already was.
    let row = store
        .client()
        .await?
        .query_opt(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
             RETURNING id",
            &[&id, &at],
        )
        .await
        .map_err(db(DOING))?;
    if row.is_none() {
        return Err(StoreError::NotFound(format!(
            "API key {id}; `s1bridge keys list` shows the keys"
        )));
    }
    Ok(())
}

pub(crate) async fn put_sealed_token(store: &PgStore, t: &SealedToken) -> Result<()> {
    store
        .client()
        .await?
        .execute(
            "INSERT INTO sealed_credentials
               (console, key_id, nonce, ciphertext, owner, scope, expires_at, stored_at, rotated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (console) DO UPDATE SET
               key_id = excluded.key_id, nonce = excluded.nonce,
               ciphertext = excluded.ciphertext, owner = excluded.owner,
               scope = excluded.scope, expires_at = excluded.expires_at,
               stored_at = excluded.stored_at, rotated_at = excluded.rotated_at",
            &[
                &t.console,
                &t.key_id,
                &t.nonce,
                &t.ciphertext,
                &t.owner,
                &t.scope,
                &t.expires_at,
                &t.stored_at,
                &t.rotated_at,
            ],
        )
        .await
        .map_err(db("storing a sealed console token"))?;
    Ok(())
}

pub(crate) async fn get_sealed_token(
    store: &PgStore,
    console: &str,
) -> Result<Option<SealedToken>> {
    store
        .client()
        .await?
        .query_opt(
            "SELECT console, key_id, nonce, ciphertext, owner, scope, expires_at, stored_at,
                    rotated_at
             FROM sealed_credentials WHERE console = $1",
            &[&console],
        )
        .await
        .map_err(db("reading a sealed console token"))?
        .map(|r| read_sealed(&r))
        .transpose()
}
