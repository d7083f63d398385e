use std::path::Path;

use super::*;

const EXAMPLE: &str = r#"
[server]
bind = "127.0.0.1:9090"
jitter_seconds = 30

[consoles.prod]
description = "Production"
url = "https://usea1-partners.sentinelone.net"
token = "env:PROD_TOKEN"
mode = "scan"
sites = ["1", "2"]
[consoles.prod.schedules]
devices = "0 * * * *"
vulnerabilities = "15 */6 * * *"

[consoles.lab-eu]
url = "http://127.0.0.1:8787"
mode = "asset-sync"
jitter_seconds = 0
"#;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_example(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    parse(Some(Path::new("/etc/s1bridge.toml")), text, &env(vars))
}

#[test]
fn a_full_file_parses() {
    let cfg = parse_example(EXAMPLE, &[]).expect("valid");
    assert_eq!(cfg.server.bind, "127.0.0.1:9090");
    assert_eq!(cfg.consoles.len(), 2);
    let prod = cfg.console("prod").expect("prod");
    assert_eq!(prod.token, TokenRef::Env("PROD_TOKEN".into()));
    assert_eq!(prod.site_ids, vec!["1", "2"]);
    assert_eq!(prod.jitter_seconds, 30, "the server default");
    assert_eq!(prod.schedules["vulnerabilities"].expr, "15 */6 * * *");
    let lab = cfg.console("lab-eu").expect("lab");
    assert_eq!(lab.token, TokenRef::Store, "the token store is the default");
    assert_eq!((lab.mode.as_str(), lab.jitter_seconds), ("asset-sync", 0));
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:20:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        prod.schedules["devices"]
            .next_after(at)
            .map(|t| t.to_rfc3339()),
        Some("2026-01-01T11:00:00+00:00".to_string())
    );
}

#[test]
fn no_file_is_an_empty_config() {
    let cfg = parse(None, "", &[]).expect("empty");
    assert!(cfg.consoles.is_empty());
    assert_eq!(cfg.server.bind, DEFAULT_BIND);
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        // (text, line, expected fragment)
        (
            "[consoles.prod]\nurl = \"https://a.example\"\nmode = \"fast\"\n",
            3,
            "consoles.prod.mode: unknown mode \"fast\"",
        ),
        (
            "[consoles.prod]\n\nurl = \"usea1.sentinelone.net\"\n",
            3,
            "consoles.prod.url:",
        ),
        (
            "[consoles.prod]\nurl = \"https://a.example\"\n[consoles.prod.schedules]\ndevices = \"every hour\"\n",
            4,
            "consoles.prod.schedules.devices: \"every hour\" is not a cron expression",
        ),
        (
            "[consoles.prod]\nurl = \"https://a.example\"\n[consoles.prod.schedules]\nthreats = \"0 * * * *\"\n",
            4,
            "unknown feature \"threats\"",
        ),
        (
            "[consoles.prod]\nurl = \"https://a.example\"\ntoken = \"abcdefghijklmnopqrstuvwxyz\"\n",
            3,
            "consoles.prod.token: token must be",
        ),
        ("[server]\nbind = \"localhost\"\n", 2, "server.bind:"),
        (
            "[consoles.prod]\nurl = \"https://a.example\"\nurll = \"x\"\n",
            3,
            "unknown field `urll`",
        ),
        ("[consoles.prod\n", 1, ""),
    ];
    for (text, line, fragment) in cases {
        let err = parse_example(text, &[]).expect_err(text);
        assert_eq!(
            err.location,
            format!("/etc/s1bridge.toml:{line}"),
            "{text}: {err}"
        );
        assert!(err.to_string().contains(fragment), "{text}: {err}");
    }
    // The token value itself is never echoed.
    let err = parse_example(
        "[consoles.prod]\nurl = \"https://a.example\"\ntoken = \"abcdefghijklmnopqrstuvwxyz\"\n",
        &[],
    )
    .unwrap_err();
    assert!(!err.to_string().contains("abcdefghij"), "{err}");
    let err = parse_example("[consoles.prod]\ndescription = \"x\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("no url"), "{err}");
}

#[test]
fn environment_overrides_and_adds() {
    let cfg = parse_example(
        EXAMPLE,
        &[
            ("S1BRIDGE_BIND", "0.0.0.0:8081"),
            ("S1BRIDGE_CONSOLE__PROD__MODE", "asset-sync"),
            ("S1BRIDGE_CONSOLE__PROD__SITES", "9, 10"),
            ("S1BRIDGE_CONSOLE__PROD__SCHEDULE__AI_AGENTS", "0 3 * * *"),
            ("S1BRIDGE_CONSOLE__LAB_EU__TOKEN", "file:/run/lab.token"),
            ("S1BRIDGE_CONSOLE__STAGING__URL", "https://staging.example"),
            ("S1BRIDGE_DB", "/tmp/x.db"),
        ],
    )
    .expect("valid");
    assert_eq!(cfg.server.bind, "0.0.0.0:8081");
    let prod = cfg.console("prod").unwrap();
    assert_eq!(prod.mode, "asset-sync");
    assert_eq!(prod.site_ids, vec!["9", "10"]);
    assert!(prod.schedules.contains_key("ai-agents"));
    assert_eq!(prod.schedules.len(), 3);
    assert_eq!(
        cfg.console("lab-eu").unwrap().token,
        TokenRef::File("/run/lab.token".into())
    );
    assert_eq!(
        cfg.console("staging").unwrap().url,
        "https://staging.example"
    );

    let err = parse_example(EXAMPLE, &[("S1BRIDGE_CONSOLE__PROD__MODE", "fast")]).unwrap_err();
    assert_eq!(
        err.location,
        "environment variable S1BRIDGE_CONSOLE__PROD__MODE"
    );
    let err = parse_example(EXAMPLE, &[("S1BRIDGE_CONSOLE__PROD__COLOUR", "red")]).unwrap_err();
    assert!(
        err.to_string().contains("unknown console key COLOUR"),
        "{err}"
    );
    let err = parse_example("", &[("S1BRIDGE_CONSOLE__ONLYDESC__DESCRIPTION", "x")]).unwrap_err();
    assert!(
        err.to_string().contains("S1BRIDGE_CONSOLE__ONLYDESC__URL"),
        "{err}"
    );
}
