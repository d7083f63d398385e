//! The service commands from the built binary: the config file, the encrypted token store
//! (`token set|show|rotate`, wrong master key), and `keys create|list|revoke`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use s1bridge_sim::{RunningSim, SimConfig, Simulator};

const TOKEN: &str = "tok-Zq8SERVICECANARY-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const KEY_A: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="; // 32 × 'A'
const KEY_B: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="; // 32 × 'B'

async fn sim(token: &str) -> RunningSim {
    Simulator::new(SimConfig {
        agents: 30,
        findings_per_agent: 2,
        token: token.into(),
        ..SimConfig::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator")
}

/// Run the binary in `dir` (its own HOME, so no user config is read), with `stdin`.
fn run(dir: &Path, args: &[&str], master_key: Option<&str>, stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s1bridge"));
    c.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("cfg"))
        .env("S1BRIDGE_DB", dir.join("s.db"))
        .env_remove("S1_API_TOKEN")
        .env_remove("S1BRIDGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match master_key {
        Some(k) => c.env("S1BRIDGE_MASTER_KEY", k),
        None => c.env_remove("S1BRIDGE_MASTER_KEY"),
    };
    let mut child = c.spawn().expect("binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("binary finishes")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_contain(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = entry.path();
        if p.is_file()
            && let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            hits.push(p.display().to_string());
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn config_and_sealed_token_drive_verify_and_sync() {
    let s = sim(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("s1bridge.toml"),
        format!(
            "[consoles.lab]\ndescription = \"sim\"\nurl = \"{}\"\n[consoles.lab.schedules]\ndevices = \"0 * * * *\"\n",
            s.url
        ),
    )
    .unwrap();
    let cfg = ["--config", "s1bridge.toml"];
    let with = |rest: &[&'static str]| -> Vec<&'static str> {
        cfg.iter().copied().chain(rest.iter().copied()).collect()
    };

    // No token anywhere yet: a usage error that says how to store one.
    let o = run(d, &with(&["sync", "--console", "lab"]), Some(KEY_A), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("s1bridge token set lab"), "{}", text(&o));

    // A wrong token is refused before anything is stored.
    let o = run(
        d,
        &with(&["token", "set", "lab"]),
        Some(KEY_A),
        Some("tok-wrong-token\n"),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing was stored"), "{}", text(&o));

    let o = run(
        d,
        &with(&["token", "set", "lab"]),
        Some(KEY_A),
        Some(&format!("{TOKEN}\n")),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("days left"), "{}", text(&o));

    let o = run(
        d,
        &with(&["token", "show", "lab", "--json"]),
        Some(KEY_A),
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["scope"], "tenant");
    assert!(v["days_left"].as_i64().unwrap() > 100, "{v}");
    assert!(v["owner"].is_string());

    // --console from the config, token from the sealed store.
    let o = run(
        d,
        &with(&["sync", "--console", "lab", "--json"]),
        Some(KEY_A),
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        d,
        &with(&["devices", "--console", "lab", "--json"]),
        Some(KEY_A),
        None,
    );
    let devices: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(devices.as_array().map(Vec::len), Some(30));

    // Another master key: a clear error, never garbage.
    let o = run(d, &with(&["verify", "--console", "lab"]), Some(KEY_B), None);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("another master key"), "{}", text(&o));
    let o = run(d, &with(&["token", "show", "lab"]), Some(KEY_B), None);
    assert!(text(&o).contains("cannot be opened"), "{}", text(&o));

    // Rotate: the new token must work; the stored one is replaced.
    let o = run(
        d,
        &with(&["token", "rotate", "lab"]),
        Some(KEY_A),
        Some("tok-not-valid\n"),
    );
    assert_ne!(o.status.code(), Some(0));
    let o = run(
        d,
        &with(&["token", "rotate", "lab"]),
        Some(KEY_A),
        Some(TOKEN),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        d,
        &with(&["token", "show", "lab", "--json"]),
        Some(KEY_A),
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v["rotated_at"].is_string(), "{v}");

    // The token is in no file: database, WAL, config, key file.
    assert_eq!(files_contain(d, TOKEN), Vec::<String>::new());

    // An invalid config is refused with file, line and key.
    std::fs::write(
        d.join("bad.toml"),
        "[consoles.lab]\nurl = \"https://a.example\"\nmode = \"fast\"\n",
    )
    .unwrap();
    let o = run(d, &["--config", "bad.toml", "runs"], None, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.toml:3: consoles.lab.mode"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_master_key_file_is_created_private_on_first_use() {
    let s = sim(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = s.url.clone();
    let o = run(
        d,
        &["token", "set", "lab", "--url", &url],
        None,
        Some(TOKEN),
    );
    assert!(o.status.success(), "{}", text(&o));
    let key = d.join("cfg").join("s1bridge").join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)
            .expect("key file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The console was registered with the URL: --console alone works now.
    let o = run(d, &["verify", "--console", "lab"], None, None);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn api_keys_are_shown_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(
        d,
        &["keys", "create", "--role", "admin", "--name", "ops"],
        None,
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(key.starts_with("s1b_") && key.len() > 40, "{key}");
    let o = run(d, &["keys", "list", "--json"], None, None);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[0]["name"], "ops");
    assert!(!text(&o).contains(&key), "the key is never listed");
    assert_eq!(
        files_contain(d, &key),
        Vec::<String>::new(),
        "only its hash is stored"
    );
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let o = run(d, &["keys", "revoke", &id], None, None);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(d, &["keys", "create", "--role", "owner"], None, None);
    assert_eq!(o.status.code(), Some(2), "an unknown role is a usage error");
}
