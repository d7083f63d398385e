//! The HTTP client: the one place s1bridge talks to a SentinelOne console.
//!
//! Every request carries `Authorization: ApiToken <token>` (a sensitive header value), goes
//! through the per-path limiter shared by all clones of the [`Client`], is retried on 429, 5xx,
//! timeouts, broken connections and truncated bodies with backoff, and fails with a typed
//! [`ApiError`] that explains what to do.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::Stream;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::ApiError;
use crate::features::Capability;
use crate::limits::{LimitTable, strip_api_prefix};
use crate::ratelimit::RateLimiter;
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::token::ApiToken;
use crate::url::ConsoleUrl;
use crate::wire::{
    Envelope, ErrorBody, ErrorItem, SystemInfo, TokenDetails, TokenDetailsRequest, User,
};

/// Largest `limit` the Management API accepts on list endpoints.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Largest `limit` `/groups` accepts.
pub const MAX_GROUPS_PAGE_LIMIT: u32 = 300;

/// How to reach a console and how to behave there.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub url: ConsoleUrl,
    pub token: ApiToken,
    pub limits: LimitTable,
    pub retry: RetryPolicy,
    /// Whole-request timeout (connect, send, receive the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Ask for gzip-compressed answers (and decompress them).
    pub gzip: bool,
    pub user_agent: String,
}

impl ClientOptions {
    /// The published limit table, the default retry policy, 30 s timeout, 10 s connect timeout,
    /// gzip on, user agent `s1bridge/<version>`.
    pub fn new(url: ConsoleUrl, token: ApiToken) -> Self {
        ClientOptions {
            url,
            token,
            limits: LimitTable::published(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            gzip: true,
            user_agent: format!("s1bridge/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Counters of one client (all clones together), for `--stats` output and tests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClientStats {
    /// HTTP attempts made (retries included).
    pub requests: u64,
    /// Attempts that were repeats of a failed one.
    pub retries: u64,
    /// 429 answers seen.
    pub rate_limited: u64,
    /// Time spent waiting for the client's own limiter.
    pub throttle_wait_ms: u64,
    /// Answers by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Answers by endpoint (the path with ids replaced by `{id}`) and HTTP status.
    pub by_endpoint: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Attempts that got no complete answer (connect errors, timeouts, broken bodies).
    pub transport_errors: u64,
    /// Body bytes received (after decompression).
    pub bytes: u64,
}

impl ClientStats {
    fn count_answer(&mut self, rel: &str, status: u16) {
        *self.by_status.entry(status).or_default() += 1;
        *self
            .by_endpoint
            .entry(endpoint_label(rel))
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}

/// A request path as a metrics label: no query, and every segment holding a digit (ids) as
/// `{id}`, so the label set stays small.
pub fn endpoint_label(rel: &str) -> String {
    let path = rel.split(['?', '#']).next().unwrap_or(rel);
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.bytes().any(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    segments.join("/")
}

/// One page of a list endpoint.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor this page was requested with (`None` for the first page).
    pub cursor: Option<String>,
    /// The cursor of the next page; `None` at the end of data (`null`, `""` and `"null"` alike).
    pub next_cursor: Option<String>,
    /// `pagination.totalItems` as sent: a hint for progress only (0 with `skipCount`, and
    /// never used to decide when paging ends).
    pub total_items: Option<u64>,
}

/// What `verify` learnt about a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ProbeResult {
    Available,
    MissingPermission { reason: String },
    NotLicensed { reason: String },
    Unknown { reason: String },
}

impl ProbeResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeResult::Available => "available",
            ProbeResult::MissingPermission { .. } => "missing permission",
            ProbeResult::NotLicensed { .. } => "not licensed",
            ProbeResult::Unknown { .. } => "unknown",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            ProbeResult::Available => None,
            ProbeResult::MissingPermission { reason }
            | ProbeResult::NotLicensed { reason }
            | ProbeResult::Unknown { reason } => Some(reason),
        }
    }

    pub fn is_available(&self) -> bool {
        matches!(self, ProbeResult::Available)
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            None => f.write_str(self.as_str()),
            Some(r) => write!(f, "{}: {r}", self.as_str()),
        }
    }
}

/// The Management API client. Cheap to clone; clones share the connection pool, the limiter
/// and the statistics.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: ConsoleUrl,
    token: ApiToken,
    auth: HeaderValue,
    limiter: RateLimiter,
    retry: RetryPolicy,
    stats: Mutex<ClientStats>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url)
            .field("token", &self.inner.token)
            .finish_non_exhaustive()
    }
}

/// Install rustls' ring provider as the process default, once (a provider installed earlier
/// by someone else is fine too).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err means another thread installed one meanwhile: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// What one attempt produced, before deciding whether to retry.
enum Attempt<T> {
    Done(Envelope<T>),
    Retry {
        error: ApiError,
        wait: Option<Duration>,
    },
    Fail(ApiError),
}

/// `data` of a list: an array, or (for `/sites`) an object whose `sites` holds the array.
struct ListData<T>(Vec<T>);

/// A request body as JSON bytes.
fn encode_body<B: Serialize + ?Sized>(path: &str, body: &B) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(|e| {
        ApiError::Config(format!(
            "{}: could not encode the request body: {e}",
            rel_path(path)
        ))
    })
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ListData<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = ListData<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list, or an object with a \"sites\" list")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(ListData(Vec::new()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(ListData(Vec::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(ListData(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "sites" && items.is_none() {
                        items = Some(map.next_value::<Option<Vec<T>>>()?.unwrap_or_default());
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                items.map(ListData).ok_or_else(|| {
                    serde::de::Error::custom(
                        "an object without a \"sites\" list where a list was expected",
                    )
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, ApiError> {
        install_crypto_provider();
        let mut auth =
            HeaderValue::try_from(format!("ApiToken {}", opts.token.expose())).map_err(|_| {
                ApiError::Config("the API token cannot be sent in an HTTP header".to_string())
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(opts.user_agent.clone())
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .gzip(opts.gzip)
            // A console never redirects API calls; a redirect means a login page or a proxy,
            // and following it could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ApiError::Config(format!(
                    "could not set up the HTTPS client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                url: opts.url,
                token: opts.token,
                auth,
                limiter: RateLimiter::new(opts.limits),
                retry: opts.retry,
                stats: Mutex::new(ClientStats::default()),
            }),
        })
    }

    pub fn url(&self) -> &ConsoleUrl {
        &self.inner.url
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ClientStats {
        self.lock_stats().clone()
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Envelope<T>, ApiError> {
        self.request(Method::GET, path, query, None).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<Envelope<T>, ApiError> {
        self.request(Method::POST, path, query, Some(encode_body(path, body)?))
            .await
    }

    /// `PUT path` with a JSON body (PUT is idempotent, so the usual retries are safe).
    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<Envelope<T>, ApiError> {
        self.request(Method::PUT, path, query, Some(encode_body(path, body)?))
            .await
    }

    /// `DELETE path` with a JSON body (the console's bulk deletes take their filter in the body).
    pub async fn delete<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<Envelope<T>, ApiError> {
        self.request(Method::DELETE, path, query, Some(encode_body(path, body)?))
            .await
    }

    /// One page of a list endpoint. `limit` is capped at 1000 (300 for `/groups`); any `limit`
    /// or `cursor` in `query` is replaced.
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, ApiError> {
        let mut q: Vec<(&str, String)> = query
            .iter()
            .filter(|(k, _)| *k != "limit" && *k != "cursor")
            .cloned()
            .collect();
        q.push(("limit", page_limit(path, limit).to_string()));
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        let env: Envelope<ListData<T>> = self.request(Method::GET, path, &q, None).await?;
        Ok(Page {
            items: env.data.0,
            cursor: cursor.map(str::to_string),
            // A list without `pagination` is a single (last) page.
            next_cursor: env
                .pagination
                .as_ref()
                .and_then(|p| p.next())
                .map(str::to_string),
            total_items: env
                .pagination
                .as_ref()
                .and_then(|p| p.total_items)
                .and_then(|t| u64::try_from(t).ok()),
        })
    }

    /// All pages of a list endpoint, from `start_cursor` (or the beginning) to the end. The
    /// stream ends after the last page or after the first error; a cursor that repeats one
    /// already used yields [`ApiError::CursorLoop`].
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: Vec<(String, String)>,
        limit: u32,
        start_cursor: Option<String>,
    ) -> impl Stream<Item = Result<Page<T>, ApiError>> + Send + 'static {
        struct State {
            client: Client,
            path: String,
            query: Vec<(String, String)>,
            limit: u32,
            cursor: Option<String>,
            seen: HashSet<String>,
            pending: Option<ApiError>,
            done: bool,
        }
        let mut seen = HashSet::new();
        if let Some(c) = &start_cursor {
            seen.insert(c.clone());
        }
        let state = State {
            client: self.clone(),
            path: path.to_string(),
            query,
            limit,
            cursor: start_cursor,
            seen,
            pending: None,
            done: false,
        };
        futures::stream::unfold(state, |mut st| async move {
            if let Some(e) = st.pending.take() {
                st.done = true;
                return Some((Err(e), st));
            }
            if st.done {
                return None;
            }
            let q: Vec<(&str, String)> = st
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let result = st
                .client
                .get_page::<T>(&st.path, &q, st.limit, st.cursor.as_deref())
                .await;
            match result {
                Ok(page) => {
                    match &page.next_cursor {
                        None => st.done = true,
                        // Hand out this page, then the error instead of asking again.
                        Some(next) if !st.seen.insert(next.clone()) => {
                            st.pending = Some(ApiError::CursorLoop {
                                path: rel_path(&st.path).to_string(),
                                cursor: next.clone(),
                            });
                        }
                        Some(next) => st.cursor = Some(next.clone()),
                    }
                    Some((Ok(page), st))
                }
                Err(e) => {
                    st.done = true;
                    Some((Err(e), st))
                }
            }
        })
    }

    /// `GET /system/info`.
    pub async fn system_info(&self) -> Result<SystemInfo, ApiError> {
        Ok(self.get::<SystemInfo>("/system/info", &[]).await?.data)
    }

    /// `GET /user`: the token's own user.
    pub async fn current_user(&self) -> Result<User, ApiError> {
        Ok(self.get::<User>("/user", &[]).await?.data)
    }

    /// `POST /users/api-token-details` with the client's own token: its creation and expiry.
    pub async fn token_details(&self) -> Result<TokenDetails, ApiError> {
        #[derive(Serialize)]
        struct Body<'a> {
            data: &'a TokenDetailsRequest,
        }
        let req = TokenDetailsRequest {
            api_token: self.inner.token.expose().to_string(),
        };
        Ok(self
            .post::<_, TokenDetails>("/users/api-token-details", &[], &Body { data: &req })
            .await?
            .data)
    }

    /// Whether the token and the console's licence allow `cap`, by its cheap read-only probe.
    pub async fn probe(&self, cap: Capability) -> ProbeResult {
        let (path, query) = cap.probe();
        let q: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        let result = self.get::<IgnoredAny>(path, &q).await;
        let err = match result {
            Ok(_) => return ProbeResult::Available,
            Err(e) => e,
        };
        // Deep Visibility's probe asks for the status of a query that does not exist: any answer
        // but 401/403 (400/404 expected) proves the endpoint is there and allowed.
        if cap == Capability::DeepVisibility
            && let Some(s) = err.status()
            && s != 401
            && s != 403
            && s != 429
        {
            return ProbeResult::Available;
        }
        match err {
            ApiError::Unauthorized { .. } => ProbeResult::Unknown {
                reason: format!("authentication failed: {err}"),
            },
            ApiError::Forbidden { ref detail, .. } => {
                let mut reason = format!("the token's role lacks {}", cap.permission_hint());
                if let Some(d) = detail.as_deref().filter(|d| !d.is_empty()) {
                    reason.push_str(&format!(" (console said: {d})"));
                }
                reason.push_str("; a Site-scoped token sees only its own site(s)");
                ProbeResult::MissingPermission { reason }
            }
            ApiError::NotLicensed { ref detail, .. } => ProbeResult::NotLicensed {
                reason: match detail.as_deref().filter(|d| !d.is_empty()) {
                    Some(d) => format!("{d}; needs {}", cap.permission_hint()),
                    None => format!("not licensed; needs {}", cap.permission_hint()),
                },
            },
            ApiError::NotFound { .. } => ProbeResult::NotLicensed {
                reason: format!("this console does not offer {path}"),
            },
            other => ProbeResult::Unknown {
                reason: other.to_string(),
            },
        }
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, ClientStats> {
        self.inner
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace every occurrence of the token in server-provided text.
    fn scrub(&self, s: &str) -> String {
        let token = self.inner.token.expose();
        if token.is_empty() || !s.contains(token) {
            s.to_string()
        } else {
            s.replace(token, "<redacted>")
        }
    }

    fn scrub_items(&self, items: Vec<ErrorItem>) -> Vec<ErrorItem> {
        items
            .into_iter()
            .map(|e| ErrorItem {
                code: e.code,
                detail: e.detail.map(|d| self.scrub(&d)),
                title: e.title.map(|t| self.scrub(&t)),
            })
            .collect()
    }

    /// The retry loop around [`Client::attempt`].
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Envelope<T>, ApiError> {
        let rel = rel_path(path).to_string();
        // The URL keeps a query string the caller may have put in `path`.
        let url = self
            .inner
            .url
            .api(path.strip_prefix(crate::API_PREFIX).unwrap_or(path));
        let policy = &self.inner.retry;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let waited = self.inner.limiter.acquire(&rel).await;
            {
                let mut st = self.lock_stats();
                st.requests += 1;
                if attempt > 1 {
                    st.retries += 1;
                }
                st.throttle_wait_ms += u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            }
            let span = tracing::debug_span!("s1_request", method = %method, path = %rel, attempt);
            let outcome = self
                .attempt::<T>(&method, &rel, &url, query, body.as_deref(), attempt)
                .instrument(span)
                .await;
            match outcome {
                Attempt::Done(env) => return Ok(env),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { error, wait } => {
                    if attempt > policy.max_retries {
                        return Err(error);
                    }
                    let delay = wait.unwrap_or_else(|| policy.backoff(attempt - 1));
                    tracing::debug!(path = %rel, attempt, delay_ms = delay.as_millis() as u64, "retrying: {error}");
                    // A 429 holds back every task using this bucket, not just this one.
                    if wait.is_some() || matches!(error, ApiError::RateLimited { .. }) {
                        self.inner.limiter.hold_off(&rel, delay);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: &Method,
        rel: &str,
        url: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        attempt: u32,
    ) -> Attempt<T> {
        let started = Instant::now();
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone());
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        let transport = |e: &reqwest::Error| ApiError::Transport {
            path: rel.to_string(),
            reason: self.scrub(&error_chain(e)),
            attempts: attempt,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.lock_stats().transport_errors += 1;
                tracing::debug!(
                    elapsed_ms = elapsed_ms(started),
                    "request failed: {}",
                    error_chain(&e)
                );
                if e.is_builder() {
                    return Attempt::Fail(ApiError::Config(format!(
                        "{rel}: the request could not be formed: {}",
                        self.scrub(&error_chain(&e))
                    )));
                }
                return Attempt::Retry {
                    error: transport(&e),
                    wait: None,
                };
            }
        };
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| l.split(['?', '#']).next().unwrap_or(l).to_string());
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                {
                    let mut st = self.lock_stats();
                    st.transport_errors += 1;
                    st.count_answer(rel, status.as_u16());
                }
                tracing::debug!(
                    status = status.as_u16(),
                    elapsed_ms = elapsed_ms(started),
                    "body read failed: {}",
                    error_chain(&e)
                );
                return Attempt::Retry {
                    error: transport(&e),
                    wait: None,
                };
            }
        };
        {
            let mut st = self.lock_stats();
            st.count_answer(rel, status.as_u16());
            st.bytes += bytes.len() as u64;
            if status == StatusCode::TOO_MANY_REQUESTS {
                st.rate_limited += 1;
            }
        }
        tracing::debug!(
            status = status.as_u16(),
            bytes = bytes.len(),
            elapsed_ms = elapsed_ms(started),
            "response"
        );
        if status.is_success() && bytes.iter().all(u8::is_ascii_whitespace) {
            // 204 No Content and the like: fine where no data is expected; never retried (it may
            // answer a write).
            return match serde_json::from_str::<Envelope<T>>(r#"{"data":null}"#) {
                Ok(env) => Attempt::Done(env),
                Err(_) => Attempt::Fail(ApiError::Decode {
                    path: rel.to_string(),
                    reason: format!("the answer (HTTP {}) has no body", status.as_u16()),
                }),
            };
        }
        if status.is_success() {
            return match serde_json::from_slice::<Envelope<T>>(&bytes) {
                Ok(env) => Attempt::Done(env),
                Err(e) => {
                    let error = ApiError::Decode {
                        path: rel.to_string(),
                        reason: self.scrub(&format!("{} ({} bytes received)", e, bytes.len())),
                    };
                    if e.is_data() {
                        // Well-formed JSON of another shape: asking again will not help.
                        Attempt::Fail(error)
                    } else {
                        // Not JSON, or cut short: treat like a broken transfer.
                        Attempt::Retry { error, wait: None }
                    }
                }
            };
        }
        let code = status.as_u16();
        let items = self.error_items(code, &bytes);
        let first = items.first().cloned().unwrap_or_default();
        let path = rel.to_string();
        match code {
            429 => {
                let max = self.inner.retry.max_retry_after;
                match retry_after {
                    Some(d) if d > max => Attempt::Fail(ApiError::RateLimited {
                        path,
                        attempts: attempt,
                        retry_after: Some(d),
                    }),
                    _ => Attempt::Retry {
                        error: ApiError::RateLimited {
                            path,
                            attempts: attempt,
                            retry_after,
                        },
                        wait: retry_after,
                    },
                }
            }
            401 => Attempt::Fail(ApiError::Unauthorized {
                path,
                code: first.code,
                detail: first.detail,
            }),
            403 => {
                let capability = Capability::for_path(rel);
                if items.iter().any(mentions_licence) {
                    Attempt::Fail(ApiError::NotLicensed {
                        path,
                        detail: first.detail.or(first.title),
                        capability,
                    })
                } else {
                    Attempt::Fail(ApiError::Forbidden {
                        path,
                        code: first.code,
                        detail: first.detail,
                        capability,
                    })
                }
            }
            404 => Attempt::Fail(ApiError::NotFound {
                path,
                detail: first.detail.or(first.title),
            }),
            400..=499 => Attempt::Fail(ApiError::Validation {
                path,
                status: code,
                errors: items,
            }),
            500..=599 => {
                let wait = retry_after.filter(|d| *d <= self.inner.retry.max_retry_after);
                Attempt::Retry {
                    error: ApiError::Server {
                        path,
                        status: code,
                        errors: items,
                        attempts: attempt,
                    },
                    wait,
                }
            }
            _ => Attempt::Fail(ApiError::Unexpected {
                path,
                status: code,
                excerpt: match location {
                    Some(l) => format!("redirected to {}", self.scrub(&l)),
                    None => first.detail.unwrap_or_default(),
                },
            }),
        }
    }

    /// The `errors[]` of an error answer; an unreadable body becomes one item holding the status
    /// and a short excerpt.
    fn error_items(&self, status: u16, bytes: &[u8]) -> Vec<ErrorItem> {
        if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
            let items: Vec<ErrorItem> = body
                .errors
                .into_iter()
                .filter(|e| e.code.is_some() || e.title.is_some() || e.detail.is_some())
                .collect();
            if !items.is_empty() {
                return self.scrub_items(items);
            }
        }
        let text = String::from_utf8_lossy(bytes);
        let text = self.scrub(&text);
        let squashed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut excerpt: String = squashed.chars().take(200).collect();
        if excerpt.len() < squashed.len() {
            excerpt.push('…');
        }
        vec![ErrorItem {
            code: None,
            title: Some(format!("HTTP {status}")),
            detail: if excerpt.is_empty() {
                None
            } else {
                Some(excerpt)
            },
        }]
    }
}

fn mentions_licence(e: &ErrorItem) -> bool {
    [e.title.as_deref(), e.detail.as_deref()]
        .into_iter()
        .flatten()
        .any(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("licens")
                || t.contains("licenc")
                || t.contains("sku")
                || t.contains("not licensed")
        })
}

/// The path relative to `/web/api/v2.1`, without query string.
fn rel_path(path: &str) -> &str {
    let p = path.split('?').next().unwrap_or(path);
    p.strip_prefix(crate::API_PREFIX).unwrap_or(p)
}

fn page_limit(path: &str, limit: u32) -> u32 {
    let p = strip_api_prefix(path);
    let max = if p == "/groups" || p.starts_with("/groups/") {
        MAX_GROUPS_PAGE_LIMIT
    } else {
        MAX_PAGE_LIMIT
    };
    limit.clamp(1, max)
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An error and its sources, without the URL (which may carry query values).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut kind = String::new();
    if e.is_timeout() {
        kind.push_str("timed out");
    } else if e.is_connect() {
        kind.push_str("could not connect");
    } else if e.is_body() || e.is_decode() {
        kind.push_str("the answer was cut short or corrupt");
    }
    if !kind.is_empty() {
        parts.push(kind);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_capped_per_path() {
        assert_eq!(page_limit("/agents", 5000), 1000);
        assert_eq!(page_limit("/groups", 1000), 300);
        assert_eq!(page_limit("/web/api/v2.1/groups?x=1", 1000), 300);
        assert_eq!(page_limit("/groupsx", 1000), 1000);
        assert_eq!(page_limit("/agents", 0), 1);
        assert_eq!(page_limit("/agents", 100), 100);
    }

    #[test]
    fn list_data_accepts_arrays_sites_objects_and_null() {
        let v: ListData<u32> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(v.0, vec![1, 2]);
        let v: ListData<u32> = serde_json::from_str(r#"{"allSites":{"a":1},"sites":[3]}"#).unwrap();
        assert_eq!(v.0, vec![3]);
        let v: ListData<u32> = serde_json::from_str("null").unwrap();
        assert!(v.0.is_empty());
        assert!(serde_json::from_str::<ListData<u32>>(r#"{"x":[1]}"#).is_err());
    }

    #[test]
    fn licence_wording_is_recognised() {
        let item = |d: &str| ErrorItem {
            code: Some(4030010),
            detail: Some(d.to_string()),
            title: Some("Insufficient permissions".into()),
        };
        assert!(mentions_licence(&item("Feature is not licensed")));
        assert!(mentions_licence(&item("Requires the Complete SKU")));
        assert!(mentions_licence(&item("No valid licence")));
        assert!(!mentions_licence(&item(
            "User does not have required permissions"
        )));
    }

    #[test]
    fn https_client_builds_with_ring() {
        let (url, _) = ConsoleUrl::parse("https://usea1-partners.sentinelone.net").unwrap();
        let token = ApiToken::new("abc").unwrap();
        let c = Client::new(ClientOptions::new(url, token)).unwrap();
        assert_eq!(c.url().as_str(), "https://usea1-partners.sentinelone.net");
        assert!(!format!("{c:?}").contains("abc\""));
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn endpoint_labels_hide_ids_and_queries() {
        use super::endpoint_label;
        assert_eq!(endpoint_label("/agents?limit=1000&cursor=abc"), "/agents");
        assert_eq!(
            endpoint_label("/users/1234567890/api-token-details"),
            "/users/{id}/api-token-details"
        );
        assert_eq!(
            endpoint_label("/application-management/risks"),
            "/application-management/risks"
        );
    }
}
