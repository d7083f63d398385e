//! The live [`ConsoleBackend`]: one API client per console for the life of the service (so all
//! of a console's features share one rate-limit budget), its token resolved from the config's
//! reference (the encrypted store by default) and rebuilt when the stored token changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use s1bridge_api::{Client, ClientOptions, ClientStats, ConsoleUrl};
use s1bridge_config::TokenRef;
use s1bridge_config::tokens::{KeySource, resolve};
use s1bridge_store::{Store, StoreError};
use s1bridge_sync::verify::VerifyReport;
use s1bridge_sync::{Feature, Mode, ProgressSink, SyncError, SyncOptions};

use crate::ConsoleInfo;
use crate::runner::{ConsoleBackend, RunSummary, SyncFailure};

/// Adjusts the engine options of every run (priority config, page sizes, …).
pub type SyncTuner = Arc<dyn Fn(&mut SyncOptions) + Send + Sync>;

/// A console's client and the version of the stored token it was built with.
type CachedClient = (Option<DateTime<Utc>>, Client);

pub struct LiveBackend {
    config: Arc<s1bridge_config::Config>,
    store: Arc<dyn Store>,
    keys: KeySource,
    /// console → (the stored token's version when built, client)
    clients: Mutex<HashMap<String, CachedClient>>,
    /// Options applied to every client (tests shorten timeouts, set rate limits).
    pub tune: Arc<dyn Fn(&mut ClientOptions) + Send + Sync>,
    /// Engine options applied to every run (priority config, full-pass interval, …).
    pub tune_sync: SyncTuner,
}

impl LiveBackend {
    pub fn new(
        config: Arc<s1bridge_config::Config>,
        store: Arc<dyn Store>,
        keys: KeySource,
    ) -> LiveBackend {
        LiveBackend {
            config,
            store,
            keys,
            clients: Mutex::new(HashMap::new()),
            tune: Arc::new(|_| {}),
            tune_sync: Arc::new(|_| {}),
        }
    }

    async fn info(&self, console: &str) -> Result<ConsoleInfo, String> {
        if let Some(c) = self.config.console(console) {
            return Ok(ConsoleInfo::from_config(c));
        }
        match self.store.get_console(console).await {
            Ok(Some(rec)) => Ok(ConsoleInfo {
                name: rec.name,
                description: rec.description,
                url: rec.url,
                mode: rec.mode,
                scope: rec.scope,
                schedules: Default::default(),
                jitter_seconds: 0,
            }),
            Ok(None) => Err(format!(
                "no console named '{console}' in the config or the database"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn client(&self, console: &str) -> Result<Client, String> {
        let version = match self.store.get_sealed_token(console).await {
            Ok(t) => t.map(|t| t.rotated_at.unwrap_or(t.stored_at)),
            Err(e) => return Err(e.to_string()),
        };
        if let Some((v, c)) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(console)
            && *v == version
        {
            return Ok(c.clone());
        }
        let info = self.info(console).await?;
        let token_ref = self
            .config
            .console(console)
            .map(|c| c.token.clone())
            .unwrap_or(TokenRef::Store);
        let token = resolve(&*self.store, console, &token_ref, &self.keys)
            .await
            .map_err(|e| e.to_string())?;
        let (url, _) = ConsoleUrl::parse(&info.url).map_err(|e| e.to_string())?;
        let mut opts = ClientOptions::new(url, token);
        (self.tune)(&mut opts);
        let client = Client::new(opts).map_err(|e| e.to_string())?;
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(console.to_string(), (version, client.clone()));
        Ok(client)
    }
}

#[async_trait::async_trait]
impl ConsoleBackend for LiveBackend {
    async fn sync(
        &self,
        console: &str,
        features: &[Feature],
        progress: ProgressSink,
    ) -> Result<RunSummary, SyncFailure> {
        let info = self.info(console).await?;
        let client = self.client(console).await?;
        let mut opts = SyncOptions::new(console);
        opts.features = features.to_vec();
        opts.mode = Mode::parse(&info.mode)?;
        opts.devices.scope = info.scope.clone();
        opts.vulns.scope = info.scope.clone();
        (self.tune_sync)(&mut opts);
        // The console is registered in the store like the CLI does, so its runs and data are
        // listed under it.
        let record = s1bridge_store::ConsoleRecord {
            name: info.name.clone(),
            description: info.description.clone(),
            url: info.url.clone(),
            mode: info.mode.clone(),
            scope: info.scope.clone(),
        };
        self.store
            .upsert_console(&record)
            .await
            .map_err(|e| e.to_string())?;
        let report = s1bridge_sync::run(&client, self.store.clone(), &opts, progress)
            .await
            .map_err(|e| match e {
                SyncError::Store(busy @ StoreError::ConsoleBusy { .. }) => {
                    SyncFailure::Busy(busy.to_string())
                }
                other => SyncFailure::Failed(other.to_string()),
            })?;
        Ok(RunSummary {
            run_id: report.run_id,
            status: report.status,
            features: report.features,
        })
    }

    async fn verify(&self, console: &str) -> Result<VerifyReport, String> {
        let client = self.client(console).await?;
        Ok(s1bridge_sync::verify::verify(&client, self.config.server.expiry_warning_days).await)
    }

    fn client_stats(&self) -> Vec<(String, ClientStats)> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, ClientStats)> = clients
            .iter()
            .map(|(k, (_, c))| (k.clone(), c.stats()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
