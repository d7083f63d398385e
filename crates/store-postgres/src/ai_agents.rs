//! AI agent detections: chunk merges with the covered window, and listing. The merge rule and
//! the coverage rule are the shared ones of `s1bridge_store` ([`merge_ai_detection`],
//! [`ai_chunk_covered_from`]); a chunk reads the stored detections it touches and writes the
//! merged ones back with one statement each.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use s1bridge_store::{
    AiChunk, AiChunkStats, AiCoverage, AiDetection, AiDetectionFilter, AiEvidence, MAX_EVIDENCE,
    Result, StoreError, UserSource, ai_chunk_covered_from, merge_ai_detection,
};
use tokio_postgres::Row;

use crate::PgStore;
use crate::store::{col, db, json_col, lock_console, to_i64, to_u64};

const COLUMNS: &str = "console, agent_id, user_name, agent_name, display_name, computer_name,
    user_source, process_user, version, first_seen_at, last_seen_at, event_count, evidence";

fn user_source_str(s: UserSource) -> &'static str {
    match s {
        UserSource::Process => "process",
        UserSource::DeviceLastLoggedIn => "device_last_logged_in",
    }
}

fn read_detection(row: &Row) -> Result<AiDetection> {
    let source: String = col(row, 6)?;
    Ok(AiDetection {
        console: col(row, 0)?,
        agent_id: col(row, 1)?,
        user: col(row, 2)?,
        agent_name: col(row, 3)?,
        display_name: col(row, 4)?,
        computer_name: col(row, 5)?,
        user_source: if source == "device_last_logged_in" {
            UserSource::DeviceLastLoggedIn
        } else {
            UserSource::Process
        },
        process_user: col(row, 7)?,
        version: col(row, 8)?,
        first_seen_at: col(row, 9)?,
        last_seen_at: col(row, 10)?,
        event_count: to_u64(col(row, 11)?),
        evidence: json_col::<Vec<AiEvidence>>(row, 12)?,
    })
}

type Key = (String, String, String);

pub(crate) async fn apply_ai_chunk(
    store: &PgStore,
    console: &str,
    chunk: &AiChunk,
) -> Result<AiChunkStats> {
    const DOING: &str = "storing AI agent detections";
    // Cheap refusals first, before touching the database.
    ai_chunk_covered_from(console, None, chunk).map_err(StoreError::Backend)?;
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    lock_console(&tx, "ai", console, DOING).await?;
    let coverage = read_coverage(&tx, console).await?;
    let covered_from =
        ai_chunk_covered_from(console, coverage, chunk).map_err(StoreError::Backend)?;

    // The stored detections this chunk touches, in one query.
    let (mut agents, mut users, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for d in &chunk.detections {
        agents.push(d.agent_id.as_str());
        users.push(d.user.as_str());
        names.push(d.agent_name.as_str());
    }
    let mut stored: HashMap<Key, AiDetection> = HashMap::new();
    if !chunk.detections.is_empty() {
        for r in tx
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM ai_detections
                     WHERE console = $1 AND (agent_id, user_name, agent_name) IN (
                         SELECT * FROM UNNEST($2::text[], $3::text[], $4::text[]))"
                ),
                &[&console, &agents, &users, &names],
            )
            .await
            .map_err(db(DOING))?
        {
            let d = read_detection(&r)?;
            stored.insert(
                (d.agent_id.clone(), d.user.clone(), d.agent_name.clone()),
                d,
            );
        }
    }

    // Merge per key (a chunk may carry the same key twice), in chunk order.
    let mut stats = AiChunkStats::default();
    let mut merged: Vec<AiDetection> = Vec::new();
    let mut position: HashMap<Key, usize> = HashMap::new();
    for d in &chunk.detections {
        let key = (d.agent_id.clone(), d.user.clone(), d.agent_name.clone());
        if let Some(&i) = position.get(&key) {
            merge_ai_detection(&mut merged[i], d);
            continue;
        }
        let value = match stored.remove(&key) {
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
        position.insert(key, merged.len());
        merged.push(value);
    }

    if !merged.is_empty() {
        let m = &merged;
        let agent_ids: Vec<&str> = m.iter().map(|d| d.agent_id.as_str()).collect();
        let users: Vec<&str> = m.iter().map(|d| d.user.as_str()).collect();
        let names: Vec<&str> = m.iter().map(|d| d.agent_name.as_str()).collect();
        let display: Vec<&str> = m.iter().map(|d| d.display_name.as_str()).collect();
        let computers: Vec<&str> = m.iter().map(|d| d.computer_name.as_str()).collect();
        let sources: Vec<&str> = m.iter().map(|d| user_source_str(d.user_source)).collect();
        let process_users: Vec<Option<&str>> =
            m.iter().map(|d| d.process_user.as_deref()).collect();
        let versions: Vec<Option<&str>> = m.iter().map(|d| d.version.as_deref()).collect();
        let first: Vec<DateTime<Utc>> = m.iter().map(|d| d.first_seen_at).collect();
        let last: Vec<DateTime<Utc>> = m.iter().map(|d| d.last_seen_at).collect();
        let counts: Vec<i64> = m.iter().map(|d| to_i64(d.event_count)).collect();
        let evidence: Vec<String> = m
            .iter()
            .map(|d| {
                serde_json::to_string(&d.evidence).map_err(|e| {
                    StoreError::Backend(format!("cannot encode AI agent evidence: {e}"))
                })
            })
            .collect::<Result<_>>()?;
        tx.execute(
            &format!(
                "INSERT INTO ai_detections ({COLUMNS})
                 SELECT $1, u.agent_id, u.user_name, u.agent_name, u.display_name,
                        u.computer_name, u.user_source, u.process_user, u.version,
                        u.first_seen_at, u.last_seen_at, u.event_count, u.evidence::jsonb
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::text[], $10::timestamptz[],
                             $11::timestamptz[], $12::int8[], $13::text[])
                      AS u(agent_id, user_name, agent_name, display_name, computer_name,
                           user_source, process_user, version, first_seen_at, last_seen_at,
                           event_count, evidence)
                 ON CONFLICT (console, agent_id, user_name, agent_name) DO UPDATE SET
                     display_name = excluded.display_name,
                     computer_name = excluded.computer_name,
                     user_source = excluded.user_source,
                     process_user = excluded.process_user,
                     version = excluded.version,
                     first_seen_at = excluded.first_seen_at,
                     last_seen_at = excluded.last_seen_at,
                     event_count = excluded.event_count,
                     evidence = excluded.evidence"
            ),
            &[
                &console,
                &agent_ids,
                &users,
                &names,
                &display,
                &computers,
                &sources,
                &process_users,
                &versions,
                &first,
                &last,
                &counts,
                &evidence,
            ],
        )
        .await
        .map_err(db(DOING))?;
    }
    stats.evicted = tx
        .execute(
            "DELETE FROM ai_detections WHERE console = $1 AND last_seen_at < $2",
            &[&console, &chunk.evict_before],
        )
        .await
        .map_err(db(DOING))?;
    tx.execute(
        "INSERT INTO ai_coverage (console, covered_from, covered_to) VALUES ($1, $2, $3)
         ON CONFLICT (console) DO UPDATE SET covered_from = excluded.covered_from,
                                             covered_to = excluded.covered_to",
        &[&console, &covered_from, &chunk.to],
    )
    .await
    .map_err(db(DOING))?;
    tx.commit().await.map_err(db(DOING))?;
    Ok(stats)
}

async fn read_coverage(
    c: &tokio_postgres::Transaction<'_>,
    console: &str,
) -> Result<Option<AiCoverage>> {
    c.query_opt(
        "SELECT covered_from, covered_to FROM ai_coverage WHERE console = $1",
        &[&console],
    )
    .await
    .map_err(db("reading the AI agent coverage"))?
    .map(|r| {
        Ok(AiCoverage {
            covered_from: col(&r, 0)?,
            covered_to: col(&r, 1)?,
        })
    })
    .transpose()
}

pub(crate) async fn ai_coverage(store: &PgStore, console: &str) -> Result<Option<AiCoverage>> {
    store
        .client()
        .await?
        .query_opt(
            "SELECT covered_from, covered_to FROM ai_coverage WHERE console = $1",
            &[&console],
        )
        .await
        .map_err(db("reading the AI agent coverage"))?
        .map(|r| {
            Ok(AiCoverage {
                covered_from: col(&r, 0)?,
                covered_to: col(&r, 1)?,
            })
        })
        .transpose()
}

pub(crate) async fn list_ai_detections(
    store: &PgStore,
    filter: &AiDetectionFilter,
) -> Result<Vec<AiDetection>> {
    const DOING: &str = "listing AI agent detections";
    store
        .client()
        .await?
        .query(
            &format!(
                "SELECT {COLUMNS} FROM ai_detections
                 WHERE ($1::text IS NULL OR console = $1)
                   AND ($2::text IS NULL OR lower(agent_name) = lower($2))
                   AND ($3::text IS NULL OR agent_id = $3 OR lower(computer_name) = lower($3))
                   AND ($4::text IS NULL OR lower(user_name) = lower($4))
                 ORDER BY agent_name, computer_name, user_name, agent_id"
            ),
            &[&filter.console, &filter.agent, &filter.device, &filter.user],
        )
        .await
        .map_err(db(DOING))?
        .iter()
        .map(read_detection)
        .collect()
}
