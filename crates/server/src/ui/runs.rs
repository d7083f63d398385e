//! Sync history: a chart of records and durations over time (inline SVG, drawn here) and the
//! run table.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;
use s1bridge_store::SyncRun;
use serde::Deserialize;

use super::{badge, esc, filter_bar, layout, table, when};
use crate::AppState;
use crate::error::ApiResult;
use crate::features::ApiQuery;

#[derive(Deserialize)]
pub struct Q {
    console: Option<String>,
}

fn records(r: &SyncRun) -> u64 {
    r.features.iter().map(|f| f.records).sum()
}

fn duration_secs(r: &SyncRun) -> f64 {
    r.finished_at
        .map(|f| (f - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// Bars of records (left axis) and a line of durations (right axis), oldest on the left.
pub fn chart(runs: &[SyncRun]) -> String {
    let (w, h, pad) = (900.0_f64, 220.0_f64, 40.0_f64);
    let runs: Vec<&SyncRun> = runs.iter().rev().collect();
    if runs.is_empty() {
        return "<p class=\"muted\">No runs yet.</p>".into();
    }
    let max_r = runs.iter().map(|r| records(r)).max().unwrap_or(0).max(1) as f64;
    let max_d = runs
        .iter()
        .map(|r| duration_secs(r))
        .fold(0.0, f64::max)
        .max(0.001);
    let step = (w - 2.0 * pad) / runs.len() as f64;
    let y = |v: f64, max: f64| h - pad - v / max * (h - 2.0 * pad);
    let mut s = format!(
        "<svg id=\"runs-chart\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Records and durations of the last {} runs\">",
        runs.len()
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#ccc\"/>\
         <text x=\"4\" y=\"{t}\">{max_r} rec</text><text x=\"{rx}\" y=\"{t}\">{max_d:.1} s</text>",
        b = h - pad,
        r = w - pad,
        t = pad - 8.0,
        rx = w - pad - 20.0,
    );
    let mut line = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let x = pad + i as f64 * step;
        let rec = records(r) as f64;
        let top = y(rec, max_r);
        let color = match r.status.as_str() {
            "ok" => "#5b3fd1",
            "degraded" => "#d08a00",
            _ => "#b42318",
        };
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" opacity=\"0.75\"><title>run {} · {} · {} records · {:.1} s</title></rect>",
            x + step * 0.15,
            step * 0.7,
            (h - pad - top).max(0.0),
            r.run_id,
            r.status.as_str(),
            records(r),
            duration_secs(r),
        );
        line.push(format!(
            "{:.1},{:.1}",
            x + step / 2.0,
            y(duration_secs(r), max_d)
        ));
    }
    let _ = write!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#147a3d\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    let _ = write!(
        s,
        "<text x=\"{pad}\" y=\"{}\">bars: records · line: duration</text></svg>",
        h - 10.0
    );
    s
}

pub async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<Q>,
) -> ApiResult<Html<String>> {
    let console = q.console.clone().unwrap_or_default();
    let runs = state
        .store
        .list_runs(Some(console.as_str()).filter(|c| !c.is_empty()), 50)
        .await?;
    let mut body = String::from("<h1>Sync history</h1>");
    let names: Vec<String> = state
        .consoles()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut options: Vec<(&str, &str)> = vec![("", "All consoles")];
    options.extend(names.iter().map(|n| (n.as_str(), n.as_str())));
    body.push_str(&filter_bar("/ui/runs", "console", &options, &console, &[]));
    body.push_str(&chart(&runs));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                format!("<span id=\"run-{}\">{}</span>", r.run_id, r.run_id),
                esc(&r.console),
                badge(r.status.as_str(), r.status.as_str()),
                when(r.started_at),
                format!("{:.1} s", duration_secs(r)),
                records(r).to_string(),
                r.features
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}{}",
                            esc(&f.feature),
                            badge(f.status.as_str(), f.status.as_str()),
                            f.reason
                                .as_deref()
                                .map(|x| format!(" <span class=\"muted\">{}</span>", esc(x)))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
            ]
        })
        .collect();
    body.push_str(&table(
        "runs",
        &[
            "Run", "Console", "Status", "Started", "Duration", "Records", "Features",
        ],
        &rows,
    ));
    Ok(layout(&state, "Sync history", "/ui/runs", &body))
}
