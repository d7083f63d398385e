//! Stored indicators (migration 2): console object values, ours and foreign. Same contracts as
//! the SQLite backend's migration 8 (see `Store::upsert_indicators` and its neighbours).

use chrono::{DateTime, Utc};
use s1bridge_store::{
    IndicatorFilter, IndicatorRef, IndicatorState, IndicatorUpsert, IndicatorUpsertStats, Result,
    StoreError, StoredIndicator,
};
use tokio_postgres::Row;

use crate::PgStore;
use crate::store::{bad_value, col, db};

const COLUMNS: &str = "console, target, object_id, kind, value, os_type, direction, description,
    ours, expires_at, first_seen_at, last_seen_at, state, state_at";

fn read(row: &Row) -> Result<StoredIndicator> {
    let state: String = col(row, 12)?;
    Ok(StoredIndicator {
        console: col(row, 0)?,
        target: col(row, 1)?,
        object_id: col(row, 2)?,
        kind: col(row, 3)?,
        value: col(row, 4)?,
        os_type: col(row, 5)?,
        direction: col(row, 6)?,
        description: col(row, 7)?,
        ours: col(row, 8)?,
        expires_at: col(row, 9)?,
        first_seen_at: col(row, 10)?,
        last_seen_at: col(row, 11)?,
        state: IndicatorState::parse(&state).ok_or_else(|| bad_value("indicator state", &state))?,
        state_at: col(row, 13)?,
    })
}

pub(crate) async fn upsert(
    store: &PgStore,
    console: &str,
    records: &[IndicatorUpsert],
    at: DateTime<Utc>,
) -> Result<IndicatorUpsertStats> {
    const DOING: &str = "storing indicators";
    if let Some(r) = records.iter().find(|r| {
        r.target.is_empty() || r.object_id.is_empty() || r.kind.is_empty() || r.value.is_empty()
    }) {
        return Err(StoreError::Backend(format!(
            "an indicator needs a target, an object id, a type and a value \
             (got target {:?}, object {:?}, type {:?}, value {:?}); nothing was stored",
            r.target, r.object_id, r.kind, r.value
        )));
    }
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    // A record repeated within the call is an insert, then updates: rows go one by one, and
    // `xmax = 0` tells a fresh insert from an update of an existing row.
    let stmt = tx
        .prepare(&format!(
            "INSERT INTO indicators AS i ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11,
                     coalesce($12, 'imported'), $11)
             ON CONFLICT (console, target, object_id, kind, value) DO UPDATE SET
                 os_type = EXCLUDED.os_type, direction = EXCLUDED.direction,
                 description = EXCLUDED.description, ours = EXCLUDED.ours,
                 expires_at = EXCLUDED.expires_at, last_seen_at = EXCLUDED.last_seen_at,
                 state = coalesce($12, i.state),
                 state_at = CASE WHEN $12::text IS NULL THEN i.state_at ELSE EXCLUDED.state_at END
             RETURNING (xmax = 0) AS inserted"
        ))
        .await
        .map_err(db(DOING))?;
    let mut stats = IndicatorUpsertStats::default();
    for r in records {
        let state = r.state.map(IndicatorState::as_str);
        let row = tx
            .query_one(
                &stmt,
                &[
                    &console,
                    &r.target,
                    &r.object_id,
                    &r.kind,
                    &r.value,
                    &r.os_type,
                    &r.direction,
                    &r.description,
                    &r.ours,
                    &r.expires_at,
                    &at,
                    &state,
                ],
            )
            .await
            .map_err(db(DOING))?;
        if col::<bool>(&row, 0)? {
            stats.inserted += 1;
        } else {
            stats.updated += 1;
        }
    }
    tx.commit().await.map_err(db(DOING))?;
    Ok(stats)
}

/// `WHERE` of the rows a ref matches: $1 console, $2 target, $3 object_id (or NULL), $4 kind,
/// $5 value, $6 os_type (or NULL).
const MATCHES: &str = "console = $1 AND target = $2 AND kind = $4 AND value = $5
    AND ($3::text IS NULL OR object_id = $3)
    AND ($3::text IS NOT NULL OR $6::text IS NULL OR os_type = $6)";

pub(crate) async fn set_states(
    store: &PgStore,
    console: &str,
    updates: &[(IndicatorRef, IndicatorState)],
    at: DateTime<Utc>,
) -> Result<u64> {
    const DOING: &str = "setting indicator states";
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    let stmt = tx
        .prepare(&format!(
            "UPDATE indicators SET state = $7, state_at = $8 WHERE {MATCHES}"
        ))
        .await
        .map_err(db(DOING))?;
    let mut changed = 0u64;
    for (r, state) in updates {
        changed += tx
            .execute(
                &stmt,
                &[
                    &console,
                    &r.target,
                    &r.object_id,
                    &r.kind,
                    &r.value,
                    &r.os_type,
                    &state.as_str(),
                    &at,
                ],
            )
            .await
            .map_err(db(DOING))?;
    }
    tx.commit().await.map_err(db(DOING))?;
    Ok(changed)
}

pub(crate) async fn delete(store: &PgStore, console: &str, refs: &[IndicatorRef]) -> Result<u64> {
    const DOING: &str = "deleting indicators";
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    let stmt = tx
        .prepare(&format!("DELETE FROM indicators WHERE {MATCHES}"))
        .await
        .map_err(db(DOING))?;
    let mut deleted = 0u64;
    for r in refs {
        deleted += tx
            .execute(
                &stmt,
                &[
                    &console,
                    &r.target,
                    &r.object_id,
                    &r.kind,
                    &r.value,
                    &r.os_type,
                ],
            )
            .await
            .map_err(db(DOING))?;
    }
    tx.commit().await.map_err(db(DOING))?;
    Ok(deleted)
}

pub(crate) async fn list(store: &PgStore, f: &IndicatorFilter) -> Result<Vec<StoredIndicator>> {
    const DOING: &str = "listing indicators";
    let state = f.state.map(IndicatorState::as_str);
    store
        .client()
        .await?
        .query(
            &format!(
                "SELECT {COLUMNS} FROM indicators
                 WHERE ($1::text IS NULL OR console = $1)
                   AND ($2::text IS NULL OR target = $2)
                   AND ($3::bool IS NULL OR ours = $3)
                   AND ($4::text IS NULL OR kind = $4)
                   AND ($5::text IS NULL OR value = $5)
                   AND ($6::text IS NULL OR state = $6)
                 ORDER BY console, target, kind, value, os_type NULLS FIRST, object_id"
            ),
            &[&f.console, &f.target, &f.ours, &f.kind, &f.value, &state],
        )
        .await
        .map_err(db(DOING))?
        .iter()
        .map(read)
        .collect()
}
