//! `s1bridge jobs cancel` and `jobs retry` from the built binary, against the PostgreSQL job
//! queue (skips with a message when PostgreSQL is unreachable outside CI; fails in CI). No
//! worker runs, so every job stays where the commands put it; cancelling a running job (its
//! worker's lease renewal is refused) is tested on the queue itself in
//! `crates/store-postgres/tests/jobs.rs`.

use std::path::Path;
use std::process::{Command, Output};

use s1bridge_store_postgres::testdb::TestDb;
use serde_json::Value;

fn s1bridge(dir: &Path, queue: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--db")
        .arg(queue)
        .args(args)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("cfg"))
        .env_remove("S1BRIDGE_QUEUE")
        .env_remove("S1BRIDGE_DB")
        .env_remove("S1BRIDGE_CONFIG")
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_cancelled_and_retried_from_the_command_line() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[consoles.prod]\nurl = \"https://prod.example.net\"\ntoken = \"env:S1_API_TOKEN\"\n",
    )
    .unwrap();
    let q = db.url();
    let run = |args: &[&str]| s1bridge(dir.path(), &q, args);

    let queued = json(&run(&[
        "jobs",
        "enqueue",
        "--console",
        "prod",
        "--only",
        "devices",
        "--json",
    ]));
    let id = queued["job_id"].as_i64().unwrap().to_string();

    // A queued job is cancelled: failed, with who cancelled it.
    let cancelled = json(&run(&["jobs", "cancel", &id, "--json"]));
    assert_eq!(cancelled["cancelled"], true);
    assert_eq!(cancelled["state_before"], "queued");
    let jobs = json(&run(&["jobs", "list", "--json"]));
    let job = &jobs.as_array().unwrap()[0];
    assert_eq!(job["state"], "failed");
    assert!(
        job["last_error"]
            .as_str()
            .unwrap()
            .starts_with("cancelled by s1bridge jobs cancel"),
        "{job}"
    );

    // Again: it has finished; exit 1 and nothing changes.
    let again = run(&["jobs", "cancel", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("finished already (failed)"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // An unknown job: a usage error that says where the jobs are listed.
    let unknown = run(&["jobs", "cancel", "987654"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("there is no job 987654"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // Retry: the same console and features, queued again as a new job.
    let retried = json(&run(&["jobs", "retry", &id, "--json"]));
    assert_eq!(retried["retry_of"].as_i64().unwrap().to_string(), id);
    assert_eq!(retried["console"], "prod");
    assert_eq!(retried["features"], serde_json::json!(["devices"]));
    let new_id = retried["job_id"].as_i64().unwrap();
    assert_ne!(new_id.to_string(), id);
    let jobs = json(&run(&["jobs", "list", "--state", "queued", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["job_id"], new_id);
    // A queued job is not retried.
    let busy = run(&["jobs", "retry", &new_id.to_string()]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("still queued"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
}
