//! Stored indicators (migration 8): console object values, ours and foreign.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};
use s1bridge_store::{
    IndicatorFilter, IndicatorRef, IndicatorState, IndicatorUpsert, IndicatorUpsertStats, Result,
    StoreError, StoredIndicator,
};

use super::{Ctx, get_opt_ts, get_ts, opt_ts, ts};

const COLUMNS: &str = "console, target, object_id, kind, value, os_type, direction, description,
    ours, expires_at, first_seen_at, last_seen_at, state, state_at";

fn read(row: &Row<'_>) -> rusqlite::Result<StoredIndicator> {
    let state: String = row.get(12)?;
    Ok(StoredIndicator {
        console: row.get(0)?,
        target: row.get(1)?,
        object_id: row.get(2)?,
        kind: row.get(3)?,
        value: row.get(4)?,
        os_type: row.get(5)?,
        direction: row.get(6)?,
        description: row.get(7)?,
        ours: row.get::<_, i64>(8)? != 0,
        expires_at: get_opt_ts(row, 9)?,
        first_seen_at: get_ts(row, 10)?,
        last_seen_at: get_ts(row, 11)?,
        state: IndicatorState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                12,
                rusqlite::types::Type::Text,
                format!("unknown indicator state {state:?}").into(),
            )
        })?,
        state_at: get_ts(row, 13)?,
    })
}

pub(crate) fn upsert(
    conn: &mut Connection,
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
    let now = ts(&at);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let mut stats = IndicatorUpsertStats::default();
    {
        let mut exists = tx
            .prepare_cached(
                "SELECT 1 FROM indicators
                 WHERE console = ?1 AND target = ?2 AND object_id = ?3 AND kind = ?4 AND value = ?5",
            )
            .ctx(DOING)?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO indicators ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?11)"
            ))
            .ctx(DOING)?;
        let mut update = tx
            .prepare_cached(
                "UPDATE indicators SET os_type = ?6, direction = ?7, description = ?8, ours = ?9,
                        expires_at = ?10, last_seen_at = ?11,
                        state = coalesce(?12, state),
                        state_at = CASE WHEN ?12 IS NULL THEN state_at ELSE ?11 END
                 WHERE console = ?1 AND target = ?2 AND object_id = ?3 AND kind = ?4 AND value = ?5",
            )
            .ctx(DOING)?;
        for r in records {
            let key = rusqlite::params![console, r.target, r.object_id, r.kind, r.value];
            let found = exists
                .query_row(key, |_| Ok(()))
                .optional()
                .ctx(DOING)?
                .is_some();
            let state = r.state.map(IndicatorState::as_str);
            let params = rusqlite::params![
                console,
                r.target,
                r.object_id,
                r.kind,
                r.value,
                r.os_type,
                r.direction,
                r.description,
                i64::from(r.ours),
                opt_ts(&r.expires_at),
                now,
                if found {
                    state
                } else {
                    Some(state.unwrap_or(IndicatorState::Imported.as_str()))
                },
            ];
            if found {
                update.execute(params).ctx(DOING)?;
                stats.updated += 1;
            } else {
                insert.execute(params).ctx(DOING)?;
                stats.inserted += 1;
            }
        }
    }
    tx.commit().ctx(DOING)?;
    Ok(stats)
}

/// `WHERE` of the rows a ref matches, parameters ?1 console, ?2 target, ?3 object_id (or NULL),
/// ?4 kind, ?5 value, ?6 os_type (or NULL).
const MATCHES: &str = "console = ?1 AND target = ?2 AND kind = ?4 AND value = ?5
    AND (?3 IS NULL OR object_id = ?3)
    AND (?3 IS NOT NULL OR ?6 IS NULL OR os_type = ?6)";

pub(crate) fn set_states(
    conn: &mut Connection,
    console: &str,
    updates: &[(IndicatorRef, IndicatorState)],
    at: DateTime<Utc>,
) -> Result<u64> {
    const DOING: &str = "setting indicator states";
    let now = ts(&at);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let mut changed = 0u64;
    {
        let mut stmt = tx
            .prepare_cached(&format!(
                "UPDATE indicators SET state = ?7, state_at = ?8 WHERE {MATCHES}"
            ))
            .ctx(DOING)?;
        for (r, state) in updates {
            changed += stmt
                .execute(rusqlite::params![
                    console,
                    r.target,
                    r.object_id,
                    r.kind,
                    r.value,
                    r.os_type,
                    state.as_str(),
                    now
                ])
                .ctx(DOING)? as u64;
        }
    }
    tx.commit().ctx(DOING)?;
    Ok(changed)
}

pub(crate) fn delete(conn: &mut Connection, console: &str, refs: &[IndicatorRef]) -> Result<u64> {
    const DOING: &str = "deleting indicators";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let mut deleted = 0u64;
    {
        let mut stmt = tx
            .prepare_cached(&format!("DELETE FROM indicators WHERE {MATCHES}"))
            .ctx(DOING)?;
        for r in refs {
            deleted += stmt
                .execute(rusqlite::params![
                    console,
                    r.target,
                    r.object_id,
                    r.kind,
                    r.value,
                    r.os_type
                ])
                .ctx(DOING)? as u64;
        }
    }
    tx.commit().ctx(DOING)?;
    Ok(deleted)
}

pub(crate) fn list(conn: &Connection, f: &IndicatorFilter) -> Result<Vec<StoredIndicator>> {
    const DOING: &str = "listing indicators";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM indicators
             WHERE (?1 IS NULL OR console = ?1)
               AND (?2 IS NULL OR target = ?2)
               AND (?3 IS NULL OR ours = ?3)
               AND (?4 IS NULL OR kind = ?4)
               AND (?5 IS NULL OR value = ?5)
               AND (?6 IS NULL OR state = ?6)
             ORDER BY console, target, kind, value, os_type, object_id"
        ))
        .ctx(DOING)?;
    stmt.query_map(
        rusqlite::params![
            f.console,
            f.target,
            f.ours.map(i64::from),
            f.kind,
            f.value,
            f.state.map(IndicatorState::as_str)
        ],
        read,
    )
    .ctx(DOING)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .ctx(DOING)
}
