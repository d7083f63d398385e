//! A service wired like `s1bridge serve`: a SQLite store in a temporary directory, a console
//! `lab` pointing at an in-process simulator, its token sealed in the vault, a read and an admin
//! API key.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use s1bridge_config::tokens::{KeySource, TokenFacts, seal_and_store};
use s1bridge_server::auth::create_key;
use s1bridge_server::live::{LiveBackend, SyncTuner};
use s1bridge_server::metrics::Metrics;
use s1bridge_server::{AppState, Runner};
use s1bridge_sim::{RunningSim, SimConfig, Simulator};
use s1bridge_store::{ApiRole, Store};
use s1bridge_store_sqlite::SqliteStore;
use secrecy::SecretString;

pub struct Harness {
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub sim: RunningSim,
    pub admin: String,
    pub read: String,
    /// The simulator's API token (to check it never leaks).
    pub token: String,
    pub dir: tempfile::TempDir,
}

pub async fn harness(sim: SimConfig, tune_sync: Option<SyncTuner>) -> Harness {
    let token = sim.token.clone();
    let sim_token = token.clone();
    let sim = Simulator::new(sim)
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s1bridge.db")).expect("store"));
    let text = format!(
        "[server]\nstale_days = 14\n\n[consoles.lab]\ndescription = \"Simulator\"\nurl = \"{}\"\nmode = \"scan\"\n[consoles.lab.schedules]\ndevices = \"0 * * * *\"\n",
        sim.url
    );
    let config = Arc::new(s1bridge_config::parse(None, &text, &[]).expect("config"));
    let keys = KeySource::new(
        Some(base64::engine::general_purpose::STANDARD.encode([42u8; 32])),
        dir.path().join("master.key"),
    );
    seal_and_store(
        &*store,
        "lab",
        &SecretString::from(token),
        &keys,
        TokenFacts {
            owner: Some("sim@example.com".into()),
            scope: Some("tenant".into()),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::days(40)),
        },
        false,
        chrono::Utc::now(),
    )
    .await
    .expect("seal the token");
    let mut backend = LiveBackend::new(config.clone(), store.clone(), keys);
    if let Some(t) = tune_sync {
        backend.tune_sync = t;
    }
    let runner = Runner::new(
        Arc::new(backend),
        store.clone(),
        Arc::new(Metrics::default()),
    );
    let state = AppState::new(store.clone(), runner, config);
    let (admin, _) = create_key(&*store, "admin", ApiRole::Admin)
        .await
        .expect("key");
    let (read, _) = create_key(&*store, "reader", ApiRole::Read)
        .await
        .expect("key");
    Harness {
        state,
        store,
        sim,
        admin,
        read,
        token: sim_token,
        dir,
    }
}
