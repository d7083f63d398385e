//! `s1bridge sync --only access`, `s1bridge access [grant|revoke]` and `s1bridge audit`
//! through the built binary.

use std::path::Path;

use s1bridge_sim::{Faults, RunningSim, SimConfig, Simulator};
use serde_json::Value;

use super::{TOKEN, run, text};

async fn access_sim(users: u32, faults: Faults) -> RunningSim {
    Simulator::new(SimConfig {
        agents: 30,
        users,
        token: TOKEN.into(),
        faults,
        ..SimConfig::default()
    })
    .serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator")
}

fn puts(s: &RunningSim) -> usize {
    s.sim
        .request_log()
        .iter()
        .filter(|r| r.method == "PUT")
        .count()
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// `sync --url … --console sim --only FEATURES EXTRA…` into `db`.
fn sync_only(s: &RunningSim, db: &Path, features: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sync",
        "--url",
        &s.url,
        "--console",
        "sim",
        "--only",
        features,
    ];
    args.extend_from_slice(extra);
    run(&args, Some(TOKEN), db)
}

/// A fresh database with console `sim` synced with `--only FEATURES`; the run's output.
fn synced(
    s: &RunningSim,
    features: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let o = sync_only(s, &db, features, &[]);
    (dir, db, o)
}

/// `access grant|revoke` on console `sim` with the token.
fn change(verb: &str, db: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["access", verb, "--console", "sim"];
    args.extend_from_slice(extra);
    run(&args, Some(TOKEN), db)
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_revoke_round_trip_dry_run_idempotence_and_audit() {
    let s = access_sim(12, Faults::default()).await;
    let (_dir, db, o) = synced(&s, "access");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The listing has the contract's field names.
    let o = run(&["access", "--json"], None, &db);
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    let g = &v[0]["grants"][0];
    for k in [
        "principal_id",
        "principal_kind",
        "email",
        "role_id",
        "role_name",
        "scope_type",
        "scope_id",
        "scope_name",
    ] {
        assert!(g.get(k).is_some(), "grant lacks {k}: {g}");
    }

    let u = s
        .sim
        .users()
        .into_iter()
        .find(|u| u.scope.as_deref() == Some("site"))
        .unwrap();
    let email = u.email.clone().unwrap();
    let held = u.scope_roles[0].id.clone().unwrap();
    let other = s.sim.sites().into_iter().find(|x| x.id != held).unwrap().id;
    let scope = format!("site:{other}");
    let args = ["--user", &email, "--role", "viewer", "--scope", &scope];

    // Dry run: prints the request without the token, sends no write, audits nothing.
    let before = puts(&s);
    let o = change("grant", &db, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!("PUT {}/web/api/v2.1/users/{}", s.url, u.id)),
        "{out}"
    );
    assert!(
        out.contains("ApiToken <elided>") && !out.contains(TOKEN),
        "{out}"
    );
    assert!(out.contains(&other), "{out}");
    assert_eq!(puts(&s), before, "a dry run sends no write");
    let o = run(&["audit", "--json"], None, &db);
    assert_eq!(json_of(&o), Value::Array(vec![]));

    // Real grant: written, verified, stored, audited.
    let o = change("grant", &db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("verified"), "{}", text(&o));
    assert_eq!(puts(&s), before + 1);
    // Verified by reading the user back after the write.
    let log = s.sim.request_log();
    let path = format!("/web/api/v2.1/users/{}", u.id);
    let put_at = log.iter().position(|r| r.method == "PUT").unwrap();
    assert_eq!(log[put_at].path, path);
    assert!(
        log[put_at + 1..]
            .iter()
            .any(|r| r.method == "GET" && r.path == path),
        "no read-back after the write: {log:?}"
    );
    let live = s.sim.users().into_iter().find(|x| x.id == u.id).unwrap();
    assert!(
        live.scope_roles
            .iter()
            .any(|r| r.id.as_deref() == Some(&*other))
    );
    let o = run(
        &["access", "--json", "--principal", &email, "--on", &scope],
        None,
        &db,
    );
    let v = json_of(&o);
    assert_eq!(v[0]["grants"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["grants"][0]["role_name"], "Viewer");

    // Again: a no-op that says so and sends nothing.
    let o = change("grant", &db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already holds"), "{}", text(&o));
    assert_eq!(puts(&s), before + 1);

    // Revoke, then revoking again is a no-op.
    let o = change("revoke", &db, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = change("revoke", &db, &args);
    assert!(text(&o).contains("does not hold"), "{}", text(&o));
    assert_eq!(puts(&s), before + 2);

    // The last role needs --force.
    let role = u.scope_roles[0].role_id.clone().unwrap();
    let last = [
        "--user",
        &email,
        "--role",
        &role,
        "--scope",
        &format!("site:{held}"),
    ]
    .map(str::to_string);
    let last: Vec<&str> = last.iter().map(String::as_str).collect();
    let o = change("revoke", &db, &last);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(puts(&s), before + 2);

    // The audit log: newest first, real writes and no-ops, who ran them, never the token.
    let o = run(&["audit", "--json"], None, &db);
    let v = json_of(&o);
    let got: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("access.revoke", "noop"),
            ("access.revoke", "ok"),
            ("access.grant", "noop"),
            ("access.grant", "ok")
        ]
    );
    assert_eq!(v[3]["request"]["method"], "PUT");
    assert!(v[3]["actor"].as_str().unwrap().contains('@'));
    assert!(!o.stdout.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    let o = run(&["audit", "--action", "access.grant"], None, &db);
    assert_eq!(text(&o).matches("access.grant").count(), 2, "{}", text(&o));

    // The grant and revoke are change events without a run.
    let o = run(&["access", "--changes", "--json"], None, &db);
    let v = json_of(&o);
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["run_id"].is_null())
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["grant_added", "grant_removed"]);
    // The database file never holds the token.
    let bytes = std::fs::read(&db).unwrap();
    assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_name_the_problem_and_the_candidates() {
    // Enough users that two share a full name.
    let s = access_sim(400, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    // Before any access sync: told to sync first.
    let o = change(
        "grant",
        &db,
        &[
            "--url", &s.url, "--user", "x", "--role", "Viewer", "--scope", "tenant",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--only access"), "{}", text(&o));
    let o = sync_only(&s, &db, "access", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let users = s.sim.users();
    let mut names: Vec<&str> = users
        .iter()
        .filter_map(|u| u.full_name.as_deref())
        .collect();
    names.sort();
    let dup = names
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0])
        .expect("two users share a full name");
    let o = change(
        "grant",
        &db,
        &["--user", dup, "--role", "Viewer", "--scope", "tenant"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("ambiguous"), "{out}");
    let ids: Vec<&str> = users
        .iter()
        .filter(|u| u.full_name.as_deref() == Some(dup))
        .map(|u| u.id.as_str())
        .collect();
    for id in &ids {
        assert!(out.contains(id), "candidate {id} missing: {out}");
    }

    let email = users[1].email.clone().unwrap();
    let o = change(
        "grant",
        &db,
        &["--user", &email, "--role", "Viewer", "--scope", "group:123"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("never on a group"), "{}", text(&o));
    let o = change(
        "grant",
        &db,
        &["--user", &email, "--role", "Superuser", "--scope", "tenant"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("IR Team"),
        "the roles are listed: {}",
        text(&o)
    );
    let o = change(
        "grant",
        &db,
        &[
            "--user",
            "nobody@example.com",
            "--role",
            "Viewer",
            "--scope",
            "tenant",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no user or service user"), "{}", text(&o));
    assert_eq!(puts(&s), 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn permission_denied_is_explained_and_audited() {
    let s = access_sim(12, Faults::default()).await;
    let (_dir, db, o) = synced(&s, "devices,access");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    s.sim.set_faults(Faults {
        access_read_only: true,
        ..Faults::default()
    });
    let u = &s.sim.users()[0];
    let email = u.email.clone().unwrap();
    let o = change(
        "grant",
        &db,
        &[
            "--user", &email, "--role", "Viewer", "--scope", "tenant", "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("Users → Edit"), "{out}");
    assert!(!out.contains(TOKEN));
    let o = run(&["audit", "--json"], None, &db);
    let v = json_of(&o);
    assert!(
        v[0]["result"].as_str().unwrap().starts_with("failed: "),
        "{v}"
    );
    assert_eq!(v[0]["before"], v[0]["after"], "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_scoped_token_sync_is_partial_with_exit_3() {
    let s = access_sim(
        12,
        Faults {
            site_scoped_token: true,
            ..Faults::default()
        },
    )
    .await;
    let (_dir, db, o) = synced(&s, "access");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("partial"), "{}", text(&o));
    let o = run(&["access"], None, &db);
    assert!(text(&o).contains("partial"), "{}", text(&o));
    let o = run(
        &["access", "--expiring-tokens", "3650", "--json"],
        None,
        &db,
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_warnings_follow_the_warning_window() {
    let s = access_sim(12, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let sync = |extra: &[&str]| sync_only(&s, &db, "access", extra);
    let changes = || json_of(&run(&["access", "--changes", "--json"], None, &db));
    let o = sync(&["--token-warning-days", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(changes(), Value::Array(vec![]));
    // The service users' tokens expire within 30 days (the default window): one event each.
    let o = sync(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = changes();
    let expiring = v.as_array().unwrap();
    assert!(!expiring.is_empty());
    assert!(expiring.iter().all(|c| c["kind"] == "token_expiring"));
    let listed = json_of(&run(
        &["access", "--expiring-tokens", "30", "--json"],
        None,
        &db,
    ));
    assert_eq!(listed.as_array().unwrap().len(), expiring.len());
}
