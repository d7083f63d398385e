use s1bridge_api::features::Capability;
use s1bridge_sim::SimConfig;

#[test]
fn every_shipped_scenario_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let cfg: SimConfig =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        names.push((p.file_stem().unwrap().to_string_lossy().to_string(), cfg));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let stems: Vec<_> = names.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(
        stems,
        [
            "expiring-token",
            "flaky",
            "large-100k",
            "rate-limited",
            "small",
            "unlicensed-dv"
        ]
    );
    let get = |n: &str| names.iter().find(|x| x.0 == n).unwrap().1.clone();
    assert_eq!(get("large-100k").agents, 100_000);
    assert!(get("flaky").faults.error_5xx_rate > 0.0);
    assert!(get("rate-limited").rate_limits);
    assert_eq!(
        get("unlicensed-dv").faults.not_licensed,
        vec![Capability::DeepVisibility, Capability::Vulnerabilities]
    );
    assert_eq!(get("expiring-token").token_expires_in_days, 3);
    // Unspecified fields take the defaults.
    assert_eq!(get("flaky").users, SimConfig::default().users);
}
