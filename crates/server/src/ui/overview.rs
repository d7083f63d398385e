//! The overview: per console, the last sync of each feature with its outcome, the token's
//! expiry, the capability table (from the last verify), each feature module's counts and the
//! "Sync now" button.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;
use s1bridge_store::SyncRun;
use s1bridge_sync::verify::VerifyReport;

use super::{badge, enc, esc, layout, table, when};
use crate::AppState;
use crate::error::ApiResult;

pub fn capability_table(r: &VerifyReport) -> String {
    let mut s = String::new();
    if let Some(e) = &r.error {
        let _ = write!(s, "<p class=\"error\">{}</p>", esc(e));
    }
    let rows: Vec<Vec<String>> = r
        .capabilities
        .iter()
        .map(|c| {
            let class = match c.status.as_str() {
                "available" => "ok",
                "unknown" => "muted",
                _ => "bad",
            };
            vec![
                esc(&c.feature),
                badge(&c.status, class),
                esc(c.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    s.push_str(&table(
        "capabilities",
        &["Feature", "Status", "Reason"],
        &rows,
    ));
    s
}

/// The latest outcome of each feature over `runs` (newest first).
fn last_per_feature(runs: &[SyncRun]) -> Vec<Vec<String>> {
    let mut seen: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for run in runs {
        for f in &run.features {
            if seen.contains(&f.feature) {
                continue;
            }
            seen.push(f.feature.clone());
            rows.push(vec![
                esc(&f.feature),
                badge(f.status.as_str(), f.status.as_str()),
                f.finished_at.or(f.started_at).map(when).unwrap_or_default(),
                f.records.to_string(),
                esc(f.reason.as_deref().unwrap_or("")),
            ]);
        }
    }
    rows
}

pub async fn page(State(state): State<AppState>) -> ApiResult<Html<String>> {
    let mut body = String::from("<h1>Overview</h1><div class=\"cards\">");
    let consoles = state.consoles().await?;
    if consoles.is_empty() {
        body.push_str(
            "<p class=\"muted\">No console yet: add one to the config file (see the README) or run \
             <code>s1bridge sync --url …</code> once.</p>",
        );
    }
    for c in consoles {
        let runs = state.store.list_runs(Some(&c.name), 20).await?;
        let _ = write!(
            body,
            "<section class=\"card\" id=\"console-{id}\"><h2>{name}</h2><p class=\"muted\">{desc}{url} · mode {mode}</p>",
            id = esc(&c.name),
            name = esc(&c.name),
            desc = c
                .description
                .as_deref()
                .map(|d| format!("{} · ", esc(d)))
                .unwrap_or_default(),
            url = esc(&c.url),
            mode = esc(&c.mode),
        );
        body.push_str("<div class=\"counts\">");
        for m in state.modules.iter() {
            for (label, value) in m.overview_counts(&state, &c.name).await {
                let _ = write!(body, "<div><b>{}</b>{}</div>", esc(&value), esc(&label));
            }
        }
        body.push_str("</div>");
        match state.token_days_left(&c.name).await {
            Some(d) if d < state.config.server.expiry_warning_days => {
                let _ = write!(
                    body,
                    "<p>Token: {}</p>",
                    badge(&format!("expires in {d} days"), if d < 7 { "bad" } else { "warn" })
                );
            }
            Some(d) => {
                let _ = write!(body, "<p>Token: {}</p>", badge(&format!("{d} days left"), "ok"));
            }
            None => body.push_str("<p class=\"muted\">Token expiry: unknown until the token is stored or verified.</p>"),
        }
        body.push_str("<h2>Last sync per feature</h2>");
        body.push_str(&table(
            &format!("last-sync-{}", c.name),
            &["Feature", "Outcome", "When", "Records", "Reason"],
            &last_per_feature(&runs),
        ));
        if !c.schedules.is_empty() {
            let sched: Vec<String> = c
                .schedules
                .iter()
                .map(|(f, e)| format!("{} <code>{}</code>", esc(f), esc(e)))
                .collect();
            let _ = write!(
                body,
                "<p class=\"muted\">Schedules: {}</p>",
                sched.join(" · ")
            );
        }
        body.push_str("<h2>Capabilities</h2>");
        match state.cached_capabilities(&c.name) {
            Some((at, r)) => {
                let _ = write!(body, "<p class=\"muted\">Checked {}</p>", when(at));
                body.push_str(&capability_table(&r));
            }
            None => body.push_str("<p class=\"muted\">Not checked since the service started.</p>"),
        }
        let running = state.runner.is_running(&c.name);
        let _ = write!(
            body,
            "<p><form method=\"post\" action=\"/ui/consoles/{e}/sync\" style=\"display:inline\">\
             <button type=\"submit\" id=\"sync-now-{id}\">{label}</button></form> \
             <a class=\"button secondary\" href=\"/ui/consoles/{e}/capabilities\">Check capabilities</a>{progress}</p></section>",
            e = enc(&c.name),
            id = esc(&c.name),
            label = if running {
                "Sync running…"
            } else {
                "Sync now"
            },
            progress = if running {
                format!(" <a href=\"/ui/syncs/{}\">progress</a>", enc(&c.name))
            } else {
                String::new()
            },
        );
    }
    body.push_str("</div>");
    Ok(layout(&state, "Overview", "/ui", &body))
}
