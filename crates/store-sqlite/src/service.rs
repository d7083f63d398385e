//! API keys and sealed console tokens (migration 6). The key and the token in clear never reach
//! this module: it stores a hash and a ciphertext.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, TransactionBehavior};
use s1bridge_store::{ApiKeyRecord, ApiRole, NewApiKey, Result, SealedToken, StoreError};

use super::{Ctx, SqliteStore, get_opt_ts, get_ts, opt_ts, ts};

const KEY_COLUMNS: &str = "id, name, role, prefix, created_at, revoked_at";

fn read_key(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let role: String = row.get(2)?;
    let role = ApiRole::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Text,
            format!("unknown API key role {role:?}").into(),
        )
    })?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        role,
        prefix: row.get(3)?,
        created_at: get_ts(row, 4)?,
        revoked_at: get_opt_ts(row, 5)?,
    })
}

fn read_sealed(row: &Row<'_>) -> rusqlite::Result<SealedToken> {
    Ok(SealedToken {
        console: row.get(0)?,
        key_id: row.get(1)?,
        nonce: row.get(2)?,
        ciphertext: row.get(3)?,
        owner: row.get(4)?,
        scope: row.get(5)?,
        expires_at: get_opt_ts(row, 6)?,
        stored_at: get_ts(row, 7)?,
        rotated_at: get_opt_ts(row, 8)?,
    })
}

impl SqliteStore {
    pub(crate) async fn service_create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        let key = key.clone();
        self.with_writer(move |conn| {
            const DOING: &str = "creating an API key";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(DOING)?;
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = ?1)",
                    [&key.key_hash],
                    |r| r.get(0),
                )
                .ctx(DOING)?;
            if taken {
                return Err(StoreError::Backend(
                    "an API key with the same hash already exists; create another key".into(),
                ));
            }
            tx.execute(
                "INSERT INTO api_keys (name, role, key_hash, prefix, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    key.name,
                    key.role.as_str(),
                    key.key_hash,
                    key.prefix,
                    ts(&key.created_at)
                ],
            )
            .ctx(DOING)?;
            let id = tx.last_insert_rowid();
            let rec = tx
                .query_row(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                    [id],
                    read_key,
                )
                .ctx(DOING)?;
            tx.commit().ctx(DOING)?;
            Ok(rec)
        })
        .await
    }

    pub(crate) async fn service_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRecord>> {
        let key_hash = key_hash.to_string();
        self.with_reader(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
                ),
                [key_hash],
                read_key,
            )
            .optional()
            .ctx("looking up an API key")
        })
        .await
    }

    pub(crate) async fn service_list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.with_reader(|conn| {
            const DOING: &str = "listing API keys";
            let mut stmt = conn
                .prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))
                .ctx(DOING)?;
            let rows = stmt.query_map([], read_key).ctx(DOING)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().ctx(DOING)
        })
        .await
    }

    pub(crate) async fn service_revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.with_writer(move |conn| {
            const DOING: &str = "revoking an API key";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(DOING)?;
            let exists: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)",
                    [id],
                    |r| r.get(0),
                )
                .ctx(DOING)?;
            if !exists {
                return Err(StoreError::NotFound(format!(
                    "API key {id}; `s1bridge keys list` shows the keys"
                )));
            }
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                rusqlite::params![id, ts(&at)],
            )
            .ctx(DOING)?;
            tx.commit().ctx(DOING)
        })
        .await
    }

    pub(crate) async fn service_put_sealed_token(&self, t: &SealedToken) -> Result<()> {
        let t = t.clone();
        self.with_writer(move |conn| {
            conn.execute(
                "INSERT INTO sealed_credentials
                   (console, key_id, nonce, ciphertext, owner, scope, expires_at, stored_at, rotated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (console) DO UPDATE SET
                   key_id = excluded.key_id, nonce = excluded.nonce,
                   ciphertext = excluded.ciphertext, owner = excluded.owner,
                   scope = excluded.scope, expires_at = excluded.expires_at,
                   stored_at = excluded.stored_at, rotated_at = excluded.rotated_at",
                rusqlite::params![
                    t.console,
                    t.key_id,
                    t.nonce,
                    t.ciphertext,
                    t.owner,
                    t.scope,
                    opt_ts(&t.expires_at),
                    ts(&t.stored_at),
                    opt_ts(&t.rotated_at)
                ],
            )
            .ctx("storing a sealed console token")
            .map(|_| ())
        })
        .await
    }

    pub(crate) async fn service_get_sealed_token(
        &self,
        console: &str,
    ) -> Result<Option<SealedToken>> {
        let console = console.to_string();
        self.with_reader(move |conn| {
            conn.query_row(
                "SELECT console, key_id, nonce, ciphertext, owner, scope, expires_at, stored_at,
                        rotated_at
                 FROM sealed_credentials WHERE console = ?1",
                [console],
                read_sealed,
            )
            .optional()
            .ctx("reading a sealed console token")
        })
        .await
    }
}
