//! End-to-end tests of the sync engine against the in-process simulator and a real SQLite file.

mod access;
mod ai_agents;
mod devices;
mod faults;
mod indicators;
mod pagination;
mod verify;
mod vulns;

use std::net::SocketAddr;
use std::sync::Arc;

use s1bridge_api::limits::LimitTable;
use s1bridge_api::retry::RetryPolicy;
use s1bridge_api::url::ConsoleUrl;
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_sim::{RunningSim, SimConfig, Simulator};
use s1bridge_store::{DeviceFilter, Store};
use s1bridge_store_sqlite::SqliteStore;

pub struct Env {
    pub sim: RunningSim,
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    pub token: String,
}

impl Env {
    pub async fn new(cfg: SimConfig) -> Env {
        let token = cfg.token.clone();
        let sim = Simulator::new(cfg)
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("store opens"));
        Env {
            sim,
            store,
            dir,
            token,
        }
    }

    /// A client with fast retries (tests must not sleep for minutes) and no client-side pacing
    /// unless asked.
    pub fn client(&self) -> Client {
        self.client_with(|_| {})
    }

    pub fn client_with(&self, f: impl FnOnce(&mut ClientOptions)) -> Client {
        let (url, _) = ConsoleUrl::parse(&self.sim.url).expect("sim url");
        let mut o = ClientOptions::new(url, ApiToken::new(self.token.clone()).expect("token"));
        o.retry = RetryPolicy {
            max_retries: 4,
            base_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(50),
            max_retry_after: std::time::Duration::from_secs(5),
        };
        o.limits = LimitTable::published().scaled(1e6);
        f(&mut o);
        Client::new(o).expect("client")
    }

    pub async fn stored_ids(&self, console: &str) -> Vec<String> {
        self.sorted_ids(DeviceFilter {
            console: Some(console.to_string()),
            ..Default::default()
        })
        .await
    }

    /// The agent ids of the devices stored as removed (every console), sorted.
    pub async fn removed_ids(&self) -> Vec<String> {
        self.sorted_ids(DeviceFilter {
            removed: true,
            ..Default::default()
        })
        .await
    }

    async fn sorted_ids(&self, filter: DeviceFilter) -> Vec<String> {
        let mut ids: Vec<String> = self
            .store
            .list_devices(&filter)
            .await
            .expect("list")
            .into_iter()
            .map(|d| d.agent_id)
            .collect();
        ids.sort();
        ids
    }

    pub fn truth(&self) -> Vec<String> {
        let mut ids = self.sim.sim.present_agent_ids();
        ids.sort();
        ids
    }
}

pub fn small(agents: u32) -> SimConfig {
    SimConfig {
        agents,
        ..SimConfig::default()
    }
}

/// Options for a devices-only run (the default runs every feature).
pub fn devices_opts(console: &str) -> s1bridge_sync::SyncOptions {
    let mut o = s1bridge_sync::SyncOptions::new(console);
    o.features = vec![s1bridge_sync::Feature::Devices];
    o
}
