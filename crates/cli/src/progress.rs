//! Progress for long work: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use s1bridge_sync::{Progress, ProgressSink};

pub struct ProgressDisplay {
    pub sink: ProgressSink,
    bar: Option<ProgressBar>,
}

impl ProgressDisplay {
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A progress display on stderr; silent when `quiet`.
pub fn sink(quiet: bool) -> ProgressDisplay {
    if quiet {
        return ProgressDisplay {
            sink: ProgressSink::default(),
            bar: None,
        };
    }
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix:>8} [{bar:30}] {pos}/{len} records ({percent}%)  {elapsed} elapsed, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let b = bar.clone();
        let sink = ProgressSink::new(move |p| match p {
            Progress::Started {
                feature,
                total,
                already,
            } => {
                b.set_prefix(feature);
                b.set_length(total.unwrap_or(0));
                b.set_position(already);
            }
            Progress::Page { records, total, .. } => {
                if let Some(t) = total
                    && t > b.length().unwrap_or(0)
                {
                    b.set_length(t);
                }
                b.set_position(records);
            }
            Progress::Finished { .. } => {}
        });
        ProgressDisplay {
            sink,
            bar: Some(bar),
        }
    } else {
        // Plain lines, at most one every two seconds, plus start and finish.
        let last = Arc::new(Mutex::new(Instant::now()));
        let sink = ProgressSink::new(move |p| match p {
            Progress::Started {
                feature,
                total,
                already,
            } => {
                let total = total.map(|t| t.to_string()).unwrap_or_else(|| "?".into());
                eprintln!("{feature}: syncing (expected {total} records, {already} already done)");
            }
            Progress::Page {
                feature,
                records,
                total,
            } => {
                if let Ok(mut l) = last.lock()
                    && l.elapsed() >= Duration::from_secs(2)
                {
                    *l = Instant::now();
                    match total {
                        Some(t) if t > 0 => eprintln!(
                            "{feature}: {records}/{t} records ({:.0}%)",
                            records as f64 * 100.0 / t as f64
                        ),
                        _ => eprintln!("{feature}: {records} records"),
                    }
                }
            }
            Progress::Finished { feature, records } => {
                eprintln!("{feature}: done, {records} records");
            }
        });
        ProgressDisplay { sink, bar: None }
    }
}
