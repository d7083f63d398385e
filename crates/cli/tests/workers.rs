//! The scale-out proof (issue 8), from the built binary: three `s1bridge worker` processes share
//! one PostgreSQL job queue and twenty consoles (one simulator each, in this process).
//!
//! 1. The first schedule tick: every console is synced exactly once (one job per console, one
//!    `ok` store run per console); meanwhile the worker syncing the slow console `c00` is killed
//!    with SIGKILL in the middle of its device pass. After its 3 s lease the job is claimed by
//!    another worker, which abandons the dead run and resumes from its checkpoints: the console
//!    finishes with every device and finding of the simulator, once.
//! 2. The next tick: the two survivors sync every console exactly once more.
//! 3. SIGTERM while a survivor syncs: the sync stops, its run is closed `abandoned` and the job
//!    goes back to the queue; both survivors exit 0. The token is in no log and no job row.
//!
//! Skips (with a message) when PostgreSQL is unreachable outside CI; fails in CI.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use s1bridge_sim::{RunningSim, SimConfig, Simulator};
use s1bridge_store_postgres::testdb::TestDb;
use serde_json::Value;

/// Where the workers keep the synced data. `false`: one SQLite file shared by the worker
/// processes; `true` (the multi-host deployment): the test's PostgreSQL schema, the same
/// database as the queue.
const DATA_ON_POSTGRES: bool = true;

const TOKEN: &str = "tok-WORKERSCANARY-5f2c9d0e1a3b4c5d6e7f8091a2b3c4d5";
const CONSOLES: usize = 20;
/// The console whose sync is slow enough to be killed in the middle.
const SLOW: &str = "c00";
const SLOW_AGENTS: u32 = 5000;
/// Seconds between schedule ticks.
const PERIOD: u32 = 30;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_s1bridge")
}

struct Env {
    dir: PathBuf,
    config: PathBuf,
    data: String,
    queue: String,
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--config")
            .arg(&self.config)
            .arg("--db")
            .arg(&self.data)
            .args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("cfg"))
            .env("S1BRIDGE_QUEUE", &self.queue)
            .env("S1BRIDGE_WORKER_TEST_TOKEN", TOKEN)
            .env_remove("S1_API_TOKEN")
            .env_remove("S1BRIDGE_DB")
            .env_remove("S1BRIDGE_CONFIG")
            .env_remove("S1BRIDGE_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "s1bridge {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "s1bridge {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn jobs(&self) -> Vec<Value> {
        self.json(&["jobs", "list", "--json", "--limit", "0"])
            .as_array()
            .cloned()
            .expect("a list of jobs")
    }

    fn count(&self, args: &[&str]) -> usize {
        self.json(args).as_array().map(|a| a.len()).expect("a list")
    }

    fn spawn_worker(&self, id: &str) -> (Child, PathBuf) {
        let log = self.dir.join(format!("{id}.log"));
        let child = self
            .command(&[
                "-v",
                "worker",
                "--id",
                id,
                "--concurrency",
                "2",
                "--lease-seconds",
                "3",
                "--poll-seconds",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("the worker starts");
        (child, log)
    }
}

/// Log text without ANSI colour codes.
fn plain_log(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[start..];
    Some(
        rest.split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches('"'),
    )
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The jobs of one tick by console, once all of them are finished.
fn finished_tick(jobs: &[Value], tick: DateTime<Utc>) -> Option<BTreeMap<String, Value>> {
    let of_tick: Vec<&Value> = jobs
        .iter()
        .filter(|j| time(&j["scheduled_for"]) == tick)
        .collect();
    let done = of_tick
        .iter()
        .filter(|j| j["state"] != "queued" && j["state"] != "running")
        .count();
    (of_tick.len() == CONSOLES && done == CONSOLES).then(|| {
        of_tick
            .iter()
            .map(|j| (j["console"].as_str().unwrap().to_string(), (*j).clone()))
            .collect()
    })
}

async fn simulators() -> Vec<RunningSim> {
    let mut sims = Vec::new();
    for i in 0..CONSOLES {
        let slow = i == 0;
        let cfg = SimConfig {
            seed: 100 + i as u64,
            agents: if slow { SLOW_AGENTS } else { 20 + i as u32 },
            accounts: 1,
            sites_per_account: 1,
            findings_per_agent: if slow { 1 } else { 2 },
            latency_ms: if slow { 500 } else { 0 },
            token: TOKEN.into(),
            ..SimConfig::default()
        };
        sims.push(
            Simulator::new(cfg)
                .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .expect("simulator"),
        );
    }
    sims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_sync_twenty_consoles_once_per_tick_and_survive_a_sigkill() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let sims = simulators().await;
    let mut toml = String::from("[server]\njitter_seconds = 0\nshutdown_grace_seconds = 0\n");
    for (i, s) in sims.iter().enumerate() {
        toml.push_str(&format!(
            "[consoles.c{i:02}]\nurl = \"{}\"\ntoken = \"env:S1BRIDGE_WORKER_TEST_TOKEN\"\n\
             jitter_seconds = 0\n[consoles.c{i:02}.schedules]\n\
             devices = \"*/{PERIOD} * * * * *\"\nvulnerabilities = \"*/{PERIOD} * * * * *\"\n",
            s.url
        ));
    }
    let config = dir.join("config.toml");
    std::fs::write(&config, toml).unwrap();
    let env = Env {
        data: if DATA_ON_POSTGRES {
            db.url()
        } else {
            dir.join("data.db").display().to_string()
        },
        queue: db.url(),
        config,
        dir: dir.clone(),
    };

    // Start just after a tick, so the first tick (enqueued at once by the scheduler's catch-up)
    // leaves a whole period before the next.
    let now = Utc::now();
    let into_period = (now.second() % PERIOD) as f64 + f64::from(now.nanosecond()) / 1e9;
    if into_period > 2.0 {
        tokio::time::sleep(Duration::from_secs_f64(
            f64::from(PERIOD) - into_period + 0.5,
        ))
        .await;
    }
    let mut workers: BTreeMap<String, (Child, PathBuf)> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| (id.to_string(), env.spawn_worker(id)))
        .collect();

    // --- Tick 1, and a SIGKILL in the middle of the slow console's device pass.
    let slow_job = wait_for(
        "the slow console's job to run",
        Duration::from_secs(60),
        || {
            env.jobs()
                .into_iter()
                .find(|j| j["console"] == SLOW && j["state"] == "running")
        },
    )
    .await;
    let tick1 = time(&slow_job["scheduled_for"]);
    let victim = slow_job["worker"].as_str().unwrap().to_string();
    let stored = wait_for(
        "the first device page of the slow console",
        Duration::from_secs(60),
        || {
            let n = env.count(&["devices", "--console", SLOW, "--json"]);
            (n > 0).then_some(n)
        },
    )
    .await;
    assert!(
        stored < SLOW_AGENTS as usize,
        "the kill must land in the middle of the device pass ({stored} stored)"
    );
    let (mut child, _) = workers.remove(&victim).unwrap();
    child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix.
    child.wait().unwrap();
    let killed_at = Instant::now();

    let tick1_jobs = wait_for("every job of tick 1", Duration::from_secs(120), || {
        finished_tick(&env.jobs(), tick1)
    })
    .await;
    assert!(
        killed_at.elapsed() >= Duration::from_secs(2),
        "the dead worker's job waited for its lease"
    );
    for (console, job) in &tick1_jobs {
        assert_eq!(job["state"], "done", "{console}: {job:#}");
        assert_eq!(job["run_status"], "ok", "{console}: {job:#}");
    }
    let slow = &tick1_jobs[SLOW];
    assert_eq!(slow["attempts"], 2, "re-claimed once: {slow:#}");
    let taker = slow["worker"].as_str().unwrap().to_string();
    assert_ne!(taker, victim);
    assert!(
        slow["last_error"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("the lease of {victim} expired")),
        "{slow:#}"
    );

    // The taker abandoned the dead run and resumed from its checkpoints.
    let taker_log = plain_log(&workers[&taker].1);
    assert!(
        taker_log.contains("Took over a job whose worker stopped renewing its lease"),
        "{taker_log}"
    );
    let resumed_at: u64 = taker_log
        .lines()
        .filter(|l| {
            l.contains("Feature started.")
                && field(l, "console") == Some(SLOW)
                && field(l, "feature") == Some("devices")
        })
        .filter_map(|l| field(l, "resumed_at")?.parse().ok())
        .max()
        .expect("the taker started the slow console's device pass");
    assert!(
        resumed_at >= stored as u64,
        "the device pass resumed after the pages the dead worker committed ({resumed_at} < {stored})"
    );

    // Nothing lost, nothing duplicated: the store holds exactly the simulators' data, and one
    // `ok` run per console (the slow console also has the dead worker's run, abandoned).
    let check_store = |ok_runs: usize| {
        for (i, sim) in sims.iter().enumerate() {
            let console = format!("c{i:02}");
            let runs = env.json(&["runs", "--console", &console, "--limit", "0", "--json"]);
            let runs = runs.as_array().unwrap();
            let status = |s: &str| runs.iter().filter(|r| r["status"] == s).count();
            assert_eq!(status("ok"), ok_runs, "{console}: {runs:#?}");
            assert_eq!(status("running"), 0, "{console}: {runs:#?}");
            // A run is abandoned only where a worker died holding the job (the slow console;
            // any other job the victim held at that moment was re-claimed too).
            let retried = tick1_jobs[&console]["attempts"].as_u64().unwrap() as usize - 1;
            assert_eq!(status("abandoned"), retried, "{console}: {runs:#?}");
            assert_eq!(runs.len(), ok_runs + retried);
            assert_eq!(
                env.count(&["devices", "--console", &console, "--json"]),
                sim.sim.present_agent_ids().len(),
                "{console}: devices"
            );
            assert_eq!(
                env.count(&[
                    "vulns",
                    "--console",
                    &console,
                    "--json",
                    "--limit",
                    "1000000"
                ]),
                sim.sim.present_findings().len(),
                "{console}: findings"
            );
        }
    };
    check_store(1);

    // --- Tick 2: the survivors sync every console exactly once more.
    let tick2 = tick1 + chrono::Duration::seconds(i64::from(PERIOD));
    let tick2_jobs = wait_for("every job of tick 2", Duration::from_secs(120), || {
        finished_tick(&env.jobs(), tick2)
    })
    .await;
    for (console, job) in &tick2_jobs {
        assert_eq!(job["state"], "done", "{console} was not synced: {job:#}");
        assert_eq!(job["attempts"], 1, "{console}: {job:#}");
        assert_ne!(job["worker"].as_str(), Some(victim.as_str()));
    }
    let jobs = env.jobs();
    assert!(
        jobs.iter().all(|j| time(&j["scheduled_for"]) >= tick1),
        "only ticks from the start on"
    );
    assert_eq!(
        jobs.iter()
            .filter(|j| time(&j["scheduled_for"]) <= tick2)
            .count(),
        2 * CONSOLES,
        "one job per console and tick"
    );
    // A tick 3 may have started; count the runs before it.
    let tick3 = tick2 + chrono::Duration::seconds(i64::from(PERIOD));
    if Utc::now() < tick3 - chrono::Duration::seconds(1) {
        check_store(2);
    }

    // serve's view: `jobs workers` lists the survivors.
    let listed = env.json(&["jobs", "workers", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["worker"].as_str())
        .collect();
    assert_eq!(names, ["w1", "w2", "w3"]);

    // --- SIGTERM in the middle of a sync: the job goes back to the queue (no grace here).
    let queued = env.json(&[
        "jobs",
        "enqueue",
        "--console",
        SLOW,
        "--only",
        "devices,vulnerabilities",
        "--json",
    ]);
    let manual = queued["job_id"].as_i64().unwrap();
    wait_for("the manual job to run", Duration::from_secs(60), || {
        env.jobs()
            .into_iter()
            .find(|j| j["job_id"] == manual && j["state"] == "running")
    })
    .await;

    // --- SIGTERM: the survivors stop cleanly.
    for (id, (child, log)) in workers.iter_mut() {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{id} did not stop"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(exit.success(), "{id}: {}", plain_log(log));
        let text = plain_log(log);
        assert!(text.contains("Worker stopped."), "{text}");
        assert!(!text.contains(TOKEN), "{id}'s log holds the token");
    }
    let listed = env.json(&["jobs", "workers", "--json"]);
    for w in listed.as_array().unwrap() {
        let stopped = !w["stopped_at"].is_null();
        assert_eq!(stopped, w["worker"] != victim.as_str(), "{w:#}");
    }
    let stopped = env
        .jobs()
        .into_iter()
        .find(|j| j["job_id"] == manual)
        .unwrap();
    assert_eq!(stopped["state"], "queued", "released: {stopped:#}");
    assert_eq!(stopped["attempts"], 0, "a release is not an attempt");
    assert!(
        stopped["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("was stopped"),
        "{stopped:#}"
    );
    let runs = env.json(&["runs", "--console", SLOW, "--limit", "0", "--json"]);
    let runs = runs.as_array().unwrap();
    assert!(runs.iter().all(|r| r["status"] != "running"), "{runs:#?}");
    assert!(
        runs.iter().filter(|r| r["status"] == "abandoned").count() >= 2,
        "the stopped sync's run is closed abandoned: {runs:#?}"
    );
    let all = serde_json::to_string(&env.jobs()).unwrap();
    assert!(!all.contains(TOKEN), "a job row holds the token");
    drop(sims);
}
