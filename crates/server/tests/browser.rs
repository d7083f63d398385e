//! The dashboard in real headless Chromium, driven through chromedriver's WebDriver HTTP
//! protocol: sign in with a key, load every page, click "Sync now", watch the run complete, and
//! save screenshots under `target/ci-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`;
//! `.ci/run` installs them). Without them the test fails and says so; set
//! `S1BRIDGE_BROWSER_TEST=skip` to skip it deliberately on a machine without a browser.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Kills chromedriver (and with it the browser) when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }
    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }
    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    /// The element matching `css`, or None.
    async fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/element", self.base);
        let resp = self
            .http
            .post(&url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: Value = resp.json().await.ok()?;
        v["value"][ELEMENT].as_str().map(String::from)
    }
    async fn element(&self, css: &str) -> String {
        match self.find(css).await {
            Some(e) => e,
            None => panic!(
                "no element {css} on {}:\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }
    async fn count(&self, css: &str) -> usize {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array().map(Vec::len).unwrap_or(0)
    }
    async fn text(&self, css: &str) -> String {
        let e = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    /// The current URL once `ok` accepts it (a click that follows a link or submits a form can
    /// return before the next page has loaded on a busy machine), or whatever it is after 30 s.
    async fn wait_for_url(&self, ok: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let url = self.url().await;
            if ok(&url) || std::time::Instant::now() > deadline {
                return url;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    /// The page source once `ok` holds for it (or after 30 s, for the caller's assertion): a
    /// click that submits a form returns before the answer is rendered.
    async fn wait_for_source(&self, ok: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let source = self.source().await;
            if ok(&source) || std::time::Instant::now() > deadline {
                return source;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }
    async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }
    async fn screenshot(&self, name: &str) {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = artifacts();
        std::fs::create_dir_all(&dir).expect("create target/ci-artifacts");
        std::fs::write(dir.join(name), png).expect("write the screenshot");
    }
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("target")
        .join("ci-artifacts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    if std::env::var("S1BRIDGE_BROWSER_TEST").as_deref() == Ok("skip") {
        eprintln!("S1BRIDGE_BROWSER_TEST=skip: the browser test is skipped");
        return;
    }
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: install Debian's browser with `apt-get install -y chromium chromium-driver` \
             (or set S1BRIDGE_BROWSER_TEST=skip to skip this test on a machine without one)"
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The service, on a real socket, with a console pointing at the simulator.
    let h = common::harness(
        s1bridge_sim::SimConfig {
            agents: 300,
            findings_per_agent: 4,
            latency_ms: 40,
            ..s1bridge_sim::SimConfig::default()
        },
        None,
    )
    .await;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(s1bridge_server::serve(listener, h.state.clone(), async {
        let _ = stop_rx.await;
    }));

    // chromedriver + a headless Chromium session.
    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let wd = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{wd}/status")).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "chromedriver did not become ready on port {port}");
    let profile = tempfile::tempdir().expect("profile dir");
    let created: Value = http
        .post(format!("{wd}/session"))
        .json(&json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,1000", format!("--user-data-dir={}", profile.path().display())]
            }
        }}}))
        .send()
        .await
        .expect("create a session")
        .json()
        .await
        .expect("session answer");
    let id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {created}"))
        .to_string();
    let s = Session {
        http: http.clone(),
        base: format!("{wd}/session/{id}"),
    };

    // No key, no data: the login form.
    s.goto(&format!("{base}/ui/devices")).await;
    assert!(s.url().await.ends_with("/ui/login"), "{}", s.url().await);
    s.type_into("#key", "s1b_not-a-key").await;
    s.click("#sign-in").await;
    let answer = s
        .wait_for_source(|page| page.contains("unknown or revoked"))
        .await;
    assert!(answer.contains("unknown or revoked"), "{answer}");
    s.type_into("#key", &h.admin).await;
    s.click("#sign-in").await;
    let url = s.wait_for_url(|u| u.ends_with("/ui")).await;
    assert!(url.ends_with("/ui"), "{url}");
    assert_eq!(s.text("h1").await, "Overview");
    assert!(s.find("#console-lab").await.is_some());

    // "Sync now": a real click, progress while it runs, then the finished run.
    s.click("#sync-now-lab").await;
    let url = s.wait_for_url(|u| u.ends_with("/ui/syncs/lab")).await;
    assert!(url.ends_with("/ui/syncs/lab"), "{url}");
    let mut states = Vec::new();
    let mut finished = false;
    for _ in 0..240 {
        // The page reloads itself while the sync runs; read whatever is there now.
        if let Some(e) = s.find("#sync-state").await {
            let url = format!("/element/{e}/text");
            if let Ok(r) = http.get(format!("{}{url}", s.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && let Some(t) = v["value"].as_str()
            {
                if states.last().map(String::as_str) != Some(t) {
                    states.push(t.to_string());
                }
                if t == "finished" {
                    finished = true;
                    break;
                }
                assert_ne!(t, "failed", "{}", s.source().await);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(finished, "the sync did not finish; states seen: {states:?}");
    assert!(s.count("table#progress tbody tr").await >= 2);
    assert!(
        s.find("#run-id").await.is_some(),
        "the finished page links its run"
    );
    s.screenshot("dashboard-sync-finished.png").await;

    // Every page, with data.
    s.goto(&format!("{base}/ui")).await;
    assert!(s.count("table#last-sync-lab tbody tr").await >= 2);
    s.screenshot("dashboard-overview.png").await;

    s.goto(&format!("{base}/ui/devices")).await;
    assert_eq!(s.text("h1").await, "Devices");
    assert!(s.count("table#devices tbody tr").await >= 100);
    s.click("#filter-decommissioned").await;
    let url = s
        .wait_for_url(|u| u.contains("filter=decommissioned"))
        .await;
    assert!(url.contains("filter=decommissioned"), "{url}");
    s.click("#filter-stale").await;
    let url = s.wait_for_url(|u| u.contains("filter=stale")).await;
    assert!(url.contains("filter=stale"), "{url}");
    s.click("#filter-duplicates").await;
    let url = s.wait_for_url(|u| u.contains("filter=duplicates")).await;
    assert!(url.contains("filter=duplicates"), "{url}");
    s.goto(&format!("{base}/ui/devices")).await;
    s.screenshot("dashboard-devices.png").await;

    s.goto(&format!("{base}/ui/vulns")).await;
    assert_eq!(s.text("h1").await, "Vulnerability queue");
    let all = s.count("table#vulns tbody tr").await;
    assert!(all > 10, "{all} findings");
    s.goto(&format!("{base}/ui/vulns?min_priority=critical"))
        .await;
    let critical = s.count("table#vulns tbody tr").await;
    assert!(critical <= all);
    s.goto(&format!("{base}/ui/vulns")).await;
    s.click("#kev").await;
    s.click("form.filters button").await;
    let url = s.wait_for_url(|u| u.contains("kev=on")).await;
    assert!(url.contains("kev=on"), "{url}");
    s.goto(&format!("{base}/ui/vulns")).await;
    s.screenshot("dashboard-vulns.png").await;
    s.click("table#vulns tbody tr td a").await;
    let url = s.wait_for_url(|u| u.contains("/ui/vulns/f")).await;
    assert!(url.contains("/ui/vulns/f"), "{url}");
    assert!(s.find("table#factors").await.is_some());
    assert!(s.count("table#history tbody tr").await >= 1);
    s.screenshot("dashboard-finding.png").await;

    s.goto(&format!("{base}/ui/runs")).await;
    assert_eq!(s.text("h1").await, "Sync history");
    assert!(
        s.find("svg#runs-chart rect").await.is_some(),
        "the chart has a bar"
    );
    assert!(s.count("table#runs tbody tr").await >= 1);
    s.screenshot("dashboard-runs.png").await;

    // Access, through its navigation entry: who holds what where, filtered by the role of the
    // first grant shown.
    s.goto(&format!("{base}/ui")).await;
    let overview = s.source().await;
    assert!(
        overview.contains("Grants") && overview.contains("Devices with AI agents"),
        "the overview counts access and AI agents"
    );
    s.click("nav a[href='/ui/access']").await;
    let url = s.wait_for_url(|u| u.ends_with("/ui/access")).await;
    assert!(url.ends_with("/ui/access"), "{url}");
    assert_eq!(s.text("h1").await, "Access");
    let grants = s.count("table#grants tbody tr").await;
    assert!(grants >= 5, "{grants} grants shown");
    let role = s.text("table#grants tbody tr td:nth-child(3)").await;
    assert!(!role.is_empty());
    s.type_into("#who_has", &role).await;
    s.click("form.filters button").await;
    let url = s.wait_for_url(|u| u.contains("who_has=")).await;
    assert!(url.contains("who_has="), "{url}");
    let held = s.count("table#grants tbody tr").await;
    assert!(held >= 1 && held <= grants, "{held} of {grants}");
    assert_eq!(s.text("table#grants tbody tr td:nth-child(3)").await, role);
    assert!(s.find("table#expiring-tokens").await.is_some());
    assert!(s.find("table#changes").await.is_some());
    s.goto(&format!("{base}/ui/access")).await;
    s.screenshot("dashboard-access.png").await;

    // AI agents: the planted agents, with device, user and evidence.
    s.click("nav a[href='/ui/ai-agents']").await;
    let url = s.wait_for_url(|u| u.ends_with("/ui/ai-agents")).await;
    assert!(url.ends_with("/ui/ai-agents"), "{url}");
    assert_eq!(s.text("h1").await, "AI coding agents");
    let detections = s.count("table#ai-agents tbody tr").await;
    assert!(detections >= 2, "{detections} detections shown");
    assert!(
        !s.text("table#ai-agents tbody tr td:nth-child(2)")
            .await
            .is_empty(),
        "a detection names its device"
    );
    assert!(
        s.find("table#ai-agents tbody tr td code").await.is_some(),
        "a detection shows its evidence"
    );
    s.screenshot("dashboard-ai-agents.png").await;

    s.goto(&format!("{base}/ui/consoles/lab/capabilities"))
        .await;
    assert!(s.count("table#capabilities tbody tr").await >= 2);

    // Signing out forgets the key.
    s.goto(&format!("{base}/ui/logout")).await;
    s.goto(&format!("{base}/ui")).await;
    assert!(s.url().await.ends_with("/ui/login"));

    let _ = http.delete(s.base.clone()).send().await;
    let _ = stop_tx.send(());
    server.await.expect("server task").expect("server");
}
