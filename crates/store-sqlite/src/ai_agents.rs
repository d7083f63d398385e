//! AI agent detections: chunk merges with the covered window, and listing.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};
use s1bridge_store::{
    AiChunk, AiChunkStats, AiCoverage, AiDetection, AiDetectionFilter, AiEvidence, MAX_EVIDENCE,
    Result, StoreError, UserSource, ai_chunk_covered_from, merge_ai_detection,
};

use super::{Ctx, get_json, get_ts, to_i64, to_u64, ts};

const COLUMNS: &str = "console, agent_id, user_name, agent_name, display_name, computer_name,
    user_source, process_user, version, first_seen_at, last_seen_at, event_count, evidence";

fn user_source_str(s: UserSource) -> &'static str {
    match s {
        UserSource::Process => "process",
        UserSource::DeviceLastLoggedIn => "device_last_logged_in",
    }
}

fn read_detection(row: &Row<'_>) -> rusqlite::Result<AiDetection> {
    let source: String = row.get(6)?;
    Ok(AiDetection {
        console: row.get(0)?,
        agent_id: row.get(1)?,
        user: row.get(2)?,
        agent_name: row.get(3)?,
        display_name: row.get(4)?,
        computer_name: row.get(5)?,
        user_source: if source == "device_last_logged_in" {
            UserSource::DeviceLastLoggedIn
        } else {
            UserSource::Process
        },
        process_user: row.get(7)?,
        version: row.get(8)?,
        first_seen_at: get_ts(row, 9)?,
        last_seen_at: get_ts(row, 10)?,
        event_count: to_u64(row.get(11)?),
        evidence: get_json(row, 12, |s| serde_json::from_str::<Vec<AiEvidence>>(s))?,
    })
}

fn refuse(why: String) -> StoreError {
    StoreError::Backend(why)
}

pub(crate) fn apply_ai_chunk(
    conn: &mut Connection,
    console: &str,
    chunk: &AiChunk,
) -> Result<AiChunkStats> {
    const DOING: &str = "storing AI agent detections";
    // Cheap refusals first, before taking the write lock.
    ai_chunk_covered_from(console, None, chunk).map_err(refuse)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let coverage = read_coverage(&tx, console)?;
    let covered_from = ai_chunk_covered_from(console, coverage, chunk).map_err(refuse)?;
    let mut stats = AiChunkStats::default();
    // Merge per key (a chunk may carry the same key twice).
    let mut merged: HashMap<(String, String, String), AiDetection> = HashMap::new();
    {
        let mut get = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM ai_detections
                 WHERE console = ?1 AND agent_id = ?2 AND user_name = ?3 AND agent_name = ?4"
            ))
            .ctx(DOING)?;
        for d in &chunk.detections {
            let key = (d.agent_id.clone(), d.user.clone(), d.agent_name.clone());
            if let Some(m) = merged.get_mut(&key) {
                merge_ai_detection(m, d);
                continue;
            }
            let stored = get
                .query_row(
                    rusqlite::params![console, d.agent_id, d.user, d.agent_name],
                    read_detection,
                )
                .optional()
                .ctx(DOING)?;
            let value = match stored {
                Some(mut s) => {
                    stats.updated += 1;
                    merge_ai_detection(&mut s, d);
                    s
                }
                None => {
                    stats.inserted += 1;
                    let mut n = d.clone();
                    n.console = console.to_string();
                    n.evidence.truncate(MAX_EVIDENCE);
                    n
                }
            };
            merged.insert(key, value);
        }
    }
    {
        let mut put = tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO ai_detections ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))
            .ctx(DOING)?;
        for d in merged.values() {
            let evidence = serde_json::to_string(&d.evidence)
                .map_err(|e| refuse(format!("cannot encode AI agent evidence: {e}")))?;
            put.execute(rusqlite::params![
                console,
                d.agent_id,
                d.user,
                d.agent_name,
                d.display_name,
                d.computer_name,
                user_source_str(d.user_source),
                d.process_user,
                d.version,
                ts(&d.first_seen_at),
                ts(&d.last_seen_at),
                to_i64(d.event_count),
                evidence,
            ])
            .ctx(DOING)?;
        }
    }
    stats.evicted = to_u64(
        tx.execute(
            "DELETE FROM ai_detections WHERE console = ?1 AND last_seen_at < ?2",
            rusqlite::params![console, ts(&chunk.evict_before)],
        )
        .ctx(DOING)? as i64,
    );
    tx.execute(
        "INSERT INTO ai_coverage (console, covered_from, covered_to) VALUES (?1, ?2, ?3)
         ON CONFLICT (console) DO UPDATE SET covered_from = excluded.covered_from,
                                             covered_to = excluded.covered_to",
        rusqlite::params![console, ts(&covered_from), ts(&chunk.to)],
    )
    .ctx(DOING)?;
    tx.commit().ctx(DOING)?;
    Ok(stats)
}

fn read_coverage(conn: &Connection, console: &str) -> Result<Option<AiCoverage>> {
    conn.query_row(
        "SELECT covered_from, covered_to FROM ai_coverage WHERE console = ?1",
        [console],
        |r| {
            Ok(AiCoverage {
                covered_from: get_ts(r, 0)?,
                covered_to: get_ts(r, 1)?,
            })
        },
    )
    .optional()
    .ctx("reading the AI agent coverage")
}

pub(crate) fn ai_coverage(conn: &Connection, console: &str) -> Result<Option<AiCoverage>> {
    read_coverage(conn, console)
}

pub(crate) fn list_ai_detections(
    conn: &Connection,
    filter: &AiDetectionFilter,
) -> Result<Vec<AiDetection>> {
    const DOING: &str = "listing AI agent detections";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM ai_detections
             WHERE (?1 IS NULL OR console = ?1)
               AND (?2 IS NULL OR lower(agent_name) = lower(?2))
               AND (?3 IS NULL OR agent_id = ?3 OR lower(computer_name) = lower(?3))
               AND (?4 IS NULL OR lower(user_name) = lower(?4))
             ORDER BY agent_name, computer_name, user_name, agent_id"
        ))
        .ctx(DOING)?;
    stmt.query_map(
        rusqlite::params![filter.console, filter.agent, filter.device, filter.user],
        read_detection,
    )
    .ctx(DOING)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .ctx(DOING)
}
