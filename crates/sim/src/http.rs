//! The HTTP front: one fallback handler that authenticates, injects faults, rate-limits, routes,
//! compresses and records every request.

use std::io::Write as _;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use s1bridge_api::API_PREFIX;
use s1bridge_api::features::Capability;
use s1bridge_api::wire::{
    ApiTokenInfo, Group, Pagination, ScopeRole, SitesData, SystemInfo, TokenDetails, User,
};
use serde_json::json;

use crate::derive::{hash3, unit};
use crate::query::{ApiError, Params, data, list, list_params, page_small};
use crate::tenant::all_sites;
use crate::{Faults, Inner, LoggedRequest, Simulator, lock, read};

pub(crate) fn router(sim: Simulator) -> Router {
    use axum::routing::{get, post};
    // The control plane (not part of the SentinelOne API): drive tenant changes and faults of a
    // running simulator from outside, e.g. `s1bridge sim` in a manual test. It needs the
    // simulator's token like every API call.
    Router::new()
        .route("/_sim/changes", post(control_changes))
        .route(
            "/_sim/faults",
            get(control_get_faults).put(control_set_faults),
        )
        .route("/_sim/stats", get(control_stats))
        .fallback(handle)
        .with_state(sim)
}

fn control_denied(sim: &Simulator, headers: &HeaderMap) -> Option<Response> {
    if sim.inner.authenticated(headers) {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                "the simulator's control plane needs Authorization: ApiToken <its token>\n",
            )
                .into_response(),
        )
    }
}

/// Body of `POST /_sim/changes`: the agent changes and the finding changes, one `seed`.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ControlChanges {
    add: u32,
    update: u32,
    decommission: u32,
    delete: u32,
    fix_findings: u32,
    new_findings: u32,
    reopen_findings: u32,
    seed: u64,
}

async fn control_changes(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    axum::Json(c): axum::Json<ControlChanges>,
) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    let mut report = sim.apply_changes(&crate::TenantChanges {
        add: c.add,
        update: c.update,
        decommission: c.decommission,
        delete: c.delete,
        seed: c.seed,
    });
    if c.fix_findings + c.new_findings + c.reopen_findings > 0 {
        let f = sim.apply_finding_changes(&crate::FindingChanges {
            fix_findings: c.fix_findings,
            new_findings: c.new_findings,
            reopen_findings: c.reopen_findings,
            seed: c.seed,
        });
        report.fixed_findings = f.fixed_findings;
        report.new_findings = f.new_findings;
        report.reopened_findings = f.reopened_findings;
    }
    axum::Json(report).into_response()
}

async fn control_get_faults(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    axum::Json(read(&sim.inner.faults).clone()).into_response()
}

async fn control_set_faults(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    axum::Json(faults): axum::Json<Faults>,
) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    sim.set_faults(faults.clone());
    axum::Json(faults).into_response()
}

async fn control_stats(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    axum::Json(sim.stats()).into_response()
}

async fn handle(State(sim): State<Simulator>, req: Request) -> Response {
    sim.inner.handle(req).await
}

/// Salts of the per-request fault rolls.
const ROLL_5XX: u64 = 1;
const ROLL_RESET: u64 = 2;
const ROLL_TRUNCATE: u64 = 3;

fn roll(f: &Faults, seq: u64, salt: u64) -> f64 {
    unit(hash3(f.fault_seed ^ 0xFA17_5EED, seq, salt))
}

enum Outcome {
    Ok(Vec<u8>),
    Err(ApiError),
}

impl Inner {
    async fn handle(&self, req: Request) -> Response {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let gzip = self.cfg.gzip && accepts_gzip(&parts.headers);
        let faults = read(&self.faults).clone();
        let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .unwrap_or_default();

        if self.cfg.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(self.cfg.latency_ms)).await;
        }

        let outcome = match self.process(
            seq,
            &parts.method,
            &path,
            &query,
            &parts.headers,
            &body,
            &faults,
        ) {
            Ok(b) => Outcome::Ok(b),
            Err(e) => Outcome::Err(e),
        };
        let (status, mut bytes, retry_after) = match outcome {
            Outcome::Ok(b) => (200u16, b, None),
            Outcome::Err(e) => {
                let ra = match e {
                    ApiError::RateLimited(s) => Some(s),
                    _ => None,
                };
                (e.status(), e.body(), ra)
            }
        };
        let reset = faults.reset_rate > 0.0 && roll(&faults, seq, ROLL_RESET) < faults.reset_rate;
        let truncate = status == 200
            && faults.truncate_rate > 0.0
            && roll(&faults, seq, ROLL_TRUNCATE) < faults.truncate_rate;
        if truncate {
            bytes.truncate(bytes.len() / 2);
        }

        self.record(&parts.method, &path, &query, status);

        let mut builder = Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        if let Some(h) = builder.headers_mut() {
            self.common_headers(h, seq);
            if let Some(s) = retry_after {
                h.insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
        }
        let payload = if gzip {
            if let Some(h) = builder.headers_mut() {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                h.insert(
                    header::VARY,
                    HeaderValue::from_static("Origin, Accept-Encoding"),
                );
            }
            gzip_fast(&bytes)
        } else {
            bytes
        };
        let body = if reset {
            // Send part of the body, then fail the stream: hyper aborts the connection and the
            // client sees an incomplete (chunked) body.
            let half = Bytes::from(payload[..payload.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                )),
            ];
            Body::from_stream(futures::stream::iter(chunks))
        } else {
            Body::from(payload)
        };
        builder
            .body(body)
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }

    fn record(&self, method: &Method, path: &str, query: &str, status: u16) {
        {
            let mut st = lock(&self.stats);
            st.requests += 1;
            *st.by_path.entry(path.to_string()).or_default() += 1;
            *st.by_status.entry(status).or_default() += 1;
            if status == 429 {
                st.rate_limited += 1;
            }
        }
        let mut log = lock(&self.log);
        if log.len() >= crate::LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(LoggedRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            status,
        });
    }

    fn common_headers(&self, h: &mut HeaderMap, seq: u64) {
        let a = hash3(self.tenant.mix, seq, 77);
        let b = hash3(self.tenant.mix, seq, 78);
        let rqid = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        );
        h.insert(header::SERVER, HeaderValue::from_static("nginx"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&rqid) {
            h.insert("x-rqid", v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        {
            h.insert(header::DATE, v);
        }
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
        h.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    }

    #[allow(clippy::too_many_arguments)]
    fn process(
        &self,
        seq: u64,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        faults: &Faults,
    ) -> Result<Vec<u8>, ApiError> {
        if faults.fail_after_requests.is_some_and(|n| seq >= n) {
            return Err(ApiError::Internal);
        }
        if faults.error_5xx_rate > 0.0 && roll(faults, seq, ROLL_5XX) < faults.error_5xx_rate {
            return Err(ApiError::Internal);
        }
        let rel = path.strip_prefix(API_PREFIX).ok_or(ApiError::NotFound)?;
        let rel = rel.strip_suffix('/').unwrap_or(rel);
        let rel = if rel.is_empty() { "/" } else { rel };
        let p = Params::parse(query);

        if rel == "/system/status" && method == Method::GET {
            // No authentication; limited per client (one bucket here).
            self.rate_limit("anonymous", rel)?;
            return Ok(data(json!({ "health": "ok" })));
        }

        if !self.authenticated(headers) || faults.unauthorized {
            return Err(ApiError::Unauthorized);
        }
        self.rate_limit(&self.cfg.token, rel)?;
        if let Some(cap) = Capability::for_path(rel) {
            if faults.forbidden.contains(&cap) {
                return Err(ApiError::Forbidden);
            }
            if faults.not_licensed.contains(&cap) {
                return Err(ApiError::NotLicensed(cap));
            }
        }
        let scoped = faults.site_scoped_token.then_some(0u64);

        match (method.clone(), rel) {
            (Method::GET, "/system/info") => Ok(data(SystemInfo {
                version: Some("24.1.4".into()),
                build: Some("64".into()),
                patch: Some("0".into()),
                release: Some("GA".into()),
                latest_agent_version: Some("24.1.5.277".into()),
            })),
            (Method::GET, "/user") => Ok(data(self.token_user(scoped))),
            (Method::POST, "/users/api-token-details") => self.token_details(body),
            (Method::GET, "/accounts") => {
                if scoped.is_some() {
                    return Err(ApiError::Forbidden);
                }
                let lp = list_params(&p, 1000)?;
                let ids = csv_union(&p, &["accountIds", "ids"]);
                let items = self
                    .tenant
                    .accounts
                    .iter()
                    .filter(|a| ids.as_ref().is_none_or(|ids| ids.contains(&a.id)))
                    .map(|a| (a.id.as_str(), a))
                    .collect();
                let (mut page, pg) = page_small(items, &lp)?;
                let sites = self.sites_now();
                for a in &mut page {
                    let mine = sites
                        .iter()
                        .filter(|s| s.account_id.as_deref() == Some(a.id.as_str()));
                    a.active_agents = Some(mine.clone().filter_map(|s| s.active_licenses).sum());
                    a.total_licenses = Some(mine.filter_map(|s| s.total_licenses).sum());
                    for sku in &mut a.skus {
                        sku.total_licenses = a.total_licenses;
                        sku.agents_in_sku = a.active_agents;
                    }
                }
                Ok(list(page, pg))
            }
            (Method::GET, "/sites") => {
                let lp = list_params(&p, 1000)?;
                let sites = self.sites_now();
                let ids = p.csv("siteIds");
                let accs = p.csv("accountIds");
                if let (Some(0), Some(ids)) = (scoped, &ids)
                    && ids.iter().any(|id| *id != sites[0].id)
                {
                    return Err(ApiError::Forbidden);
                }
                let items: Vec<_> = sites
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| scoped.is_none_or(|s| *k as u64 == s))
                    .map(|(_, s)| s)
                    .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.id)))
                    .filter(|s| {
                        accs.as_ref()
                            .is_none_or(|a| s.account_id.as_ref().is_some_and(|x| a.contains(x)))
                    })
                    .map(|s| (s.id.as_str(), s))
                    .collect();
                let visible: Vec<_> = items.iter().map(|(_, s)| (*s).clone()).collect();
                let (page, pg) = page_small(items, &lp)?;
                Ok(list(
                    SitesData {
                        all_sites: Some(all_sites(&visible)),
                        sites: page,
                    },
                    pg,
                ))
            }
            (Method::GET, "/groups") => {
                let lp = list_params(&p, 300)?;
                let groups = self.groups_now();
                let sites = p.csv("siteIds");
                let accs = p.csv("accountIds").map(|a| {
                    self.tenant
                        .sites
                        .iter()
                        .filter(|s| s.account_id.as_ref().is_some_and(|x| a.contains(x)))
                        .map(|s| s.id.clone())
                        .collect::<Vec<_>>()
                });
                let gids = csv_union(&p, &["groupIds", "ids"]);
                let scoped_site = scoped.map(|s| self.tenant.sites[s as usize].id.clone());
                if let (Some(ss), Some(ids)) = (&scoped_site, &sites)
                    && ids.iter().any(|id| id != ss)
                {
                    return Err(ApiError::Forbidden);
                }
                let items = groups
                    .iter()
                    .filter(|g| {
                        let sid = g.site_id.as_deref().unwrap_or("");
                        scoped_site.as_deref().is_none_or(|s| s == sid)
                            && sites.as_ref().is_none_or(|v| v.iter().any(|x| x == sid))
                            && accs.as_ref().is_none_or(|v| v.iter().any(|x| x == sid))
                            && gids.as_ref().is_none_or(|v| v.contains(&g.id))
                    })
                    .map(|g| (g.id.as_str(), g))
                    .collect();
                let (page, pg) = page_small(items, &lp)?;
                Ok(list(page, pg))
            }
            (Method::GET, "/users") => self.list_users(&p, scoped),
            (Method::GET, "/service-users") => self.list_service_users(&p, scoped),
            (Method::GET, r) if single_id(r, "/users/").is_some() => {
                self.get_user(single_id(r, "/users/").unwrap_or_default(), scoped)
            }
            (Method::PUT, r) if single_id(r, "/users/").is_some() => self.update_principal(
                crate::access::Kind::User,
                single_id(r, "/users/").unwrap_or_default(),
                body,
                scoped,
                faults,
            ),
            (Method::PUT, r) if single_id(r, "/service-users/").is_some() => self.update_principal(
                crate::access::Kind::ServiceUser,
                single_id(r, "/service-users/").unwrap_or_default(),
                body,
                scoped,
                faults,
            ),
            (Method::GET, "/rbac/roles") => {
                let lp = list_params(&p, 1000)?;
                let ids = p.csv("ids");
                let items = self
                    .tenant
                    .roles
                    .iter()
                    .filter(|r| ids.as_ref().is_none_or(|v| v.contains(&r.id)))
                    .map(|r| (r.id.as_str(), r))
                    .collect();
                let (page, pg) = page_small(items, &lp)?;
                Ok(list(page, pg))
            }
            (Method::GET, "/agents") => self.list_agents(&p, scoped, false),
            (Method::GET, "/agents/count") => self.list_agents(&p, scoped, true),
            // An older console has only the deprecated Application Risk API: the whole
            // Application Management family is absent (that is how a client tells them apart).
            (_, r)
                if self.cfg.risk_api == crate::RiskApi::Deprecated
                    && (r == "/application-management"
                        || r.starts_with("/application-management/")) =>
            {
                Err(ApiError::NoSuchApi)
            }
            (Method::GET, "/application-management/risks") => self.list_risks(&p, scoped),
            // Both generations answer on a current console: the newer Swagger still documents
            // `/installed-applications` (tagged "Application Risk (Deprecated)"), and integrations
            // still call it.
            (Method::GET, "/installed-applications") => self.list_installed_apps(&p, scoped),
            (Method::GET, "/installed-applications/cves") => {
                self.list_installed_app_cves(&p, scoped)
            }
            (
                Method::GET,
                "/application-management/inventory" | "/application-management/inventory/endpoints",
            ) => {
                let lp = list_params(&p, 1000)?;
                let _ = lp;
                Ok(list(
                    Vec::<serde_json::Value>::new(),
                    Pagination {
                        total_items: Some(0),
                        next_cursor: None,
                    },
                ))
            }
            (Method::GET, "/restrictions") => self.list_restrictions(&p),
            (Method::POST, "/restrictions") => self.create_restriction(body),
            (Method::DELETE, "/restrictions") => self.delete_restrictions(body),
            (Method::GET, "/firewall-control") => self.list_firewall_rules(&p),
            (Method::POST, "/firewall-control") => self.create_firewall_rule(body),
            (Method::DELETE, "/firewall-control") => self.delete_firewall_rules(body),
            (Method::PUT, r) if single_id(r, "/firewall-control/").is_some() => self
                .update_firewall_rule(single_id(r, "/firewall-control/").unwrap_or_default(), body),
            (Method::GET, "/threat-intelligence/iocs") => self.list_iocs(&p),
            (Method::POST, "/threat-intelligence/iocs") => self.create_iocs(body),
            (Method::DELETE, "/threat-intelligence/iocs") => self.delete_iocs(body),
            (Method::GET, "/dv/query-status") => self.dv_query_status(&p),
            (Method::POST, "/dv/init-query") => self.dv_init_query(body, faults),
            (Method::POST, "/dv/cancel-query") => self.dv_cancel_query(body),
            (Method::GET, "/dv/events") => self.dv_events(&p),
            (Method::POST, "/dv/events/pq") => self.pq_start(body, faults),
            (Method::GET, "/dv/events/pq-ping") => self.pq_ping(&p, faults),
            _ => Err(ApiError::NotFound),
        }
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let v = v.trim();
        let Some((scheme, token)) = v.split_once(char::is_whitespace) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("ApiToken") && token.trim() == self.cfg.token
    }

    fn rate_limit(&self, who: &str, rel: &str) -> Result<(), ApiError> {
        if !self.cfg.rate_limits {
            return Ok(());
        }
        let (prefix, limit) = self.limits.lookup(rel);
        lock(&self.limiter)
            .take(who, prefix, limit, Instant::now())
            .map_err(ApiError::RateLimited)
    }

    fn token_user(&self, scoped: Option<u64>) -> User {
        let t = &self.tenant;
        let (scope, scope_roles) = match scoped {
            Some(s) => {
                let site = &t.sites[s as usize];
                (
                    "site",
                    vec![crate::tenant::scope_role(
                        &site.id,
                        site.name.as_deref().unwrap_or(""),
                        site.account_name.as_deref(),
                        &t.roles[3],
                    )],
                )
            }
            None => ("tenant", vec![]),
        };
        User {
            id: t.token_user_id(),
            email: Some("svc-s1bridge@example.com".into()),
            full_name: Some("s1bridge service".into()),
            scope: Some(scope.into()),
            scope_roles,
            api_token: Some(ApiTokenInfo {
                created_at: Some(self.token_created()),
                expires_at: Some(self.token_expires()),
            }),
            can_generate_api_token: Some(true),
            source: Some("mgmt".into()),
            date_joined: Some(self.token_created()),
            last_login: None,
            two_fa_enabled: Some(false),
            two_fa_status: Some("off".into()),
            email_verified: Some(true),
            is_system: Some(false),
            lowest_role: Some(if scoped.is_some() { "Viewer" } else { "Admin" }.into()),
        }
    }

    fn token_details(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| ApiError::Validation("data: Missing data for required field.".into()))?;
        let token = v
            .get("data")
            .and_then(|d| d.get("apiToken"))
            .and_then(|t| t.as_str());
        match token {
            None => Err(ApiError::Validation(
                "data.apiToken: Missing data for required field.".into(),
            )),
            Some(t) if t.trim() != self.cfg.token => Err(ApiError::Validation(
                "data.apiToken: Invalid API token.".into(),
            )),
            Some(_) => Ok(data(TokenDetails {
                created_at: Some(self.token_created()),
                expires_at: Some(self.token_expires()),
            })),
        }
    }

    /// Groups with `totalAgents` = present agents in each group (arithmetic).
    fn groups_now(&self) -> Vec<Group> {
        let t = &self.tenant;
        let ov = read(&self.overlay);
        let m = t.n_sites * t.groups_per_site;
        let mut counts = vec![0i64; m as usize];
        for (k, c) in counts.iter_mut().enumerate() {
            // groups[k] with k = s * G + g holds indices ≡ s + S * g (mod S * G).
            let (s, g) = (k as u64 / t.groups_per_site, k as u64 % t.groups_per_site);
            let r = s + t.n_sites * g;
            if r < ov.n_total {
                *c = ((ov.n_total - 1 - r) / m + 1) as i64;
            }
        }
        for &d in &ov.deleted {
            let (s, g) = (t.site_of(d), t.group_of(d));
            counts[(s * t.groups_per_site + g) as usize] -= 1;
        }
        t.groups
            .iter()
            .zip(counts)
            .map(|(g, c)| {
                let mut g = g.clone();
                g.total_agents = Some(c);
                g
            })
            .collect()
    }
}

/// The `{id}` of `prefix{id}` when it is one path segment of digits (an object id).
fn single_id<'a>(rel: &'a str, prefix: &str) -> Option<&'a str> {
    rel.strip_prefix(prefix)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// `GET /users` and `GET /service-users`: filtered by `ids` and by scope (`siteIds`,
/// `accountIds`: a principal holding a role on any listed scope), cursor-paged.
pub(crate) fn list_principals<T: Clone + serde::Serialize>(
    p: &Params,
    principals: &[T],
    parts: impl Fn(&T) -> (&String, &Vec<ScopeRole>),
) -> Result<Vec<u8>, ApiError> {
    let lp = list_params(p, 1000)?;
    let ids = p.csv("ids");
    let scope_ids = csv_union(p, &["siteIds", "accountIds"]);
    let items = principals
        .iter()
        .filter(|u| {
            let (id, roles) = parts(u);
            ids.as_ref().is_none_or(|v| v.contains(id))
                && scope_ids.as_ref().is_none_or(|v| in_scope(roles, v))
        })
        .map(|u| (parts(u).0.as_str(), u))
        .collect();
    let (page, pg) = page_small(items, &lp)?;
    Ok(list(page, pg))
}

fn in_scope(roles: &[ScopeRole], ids: &[String]) -> bool {
    roles
        .iter()
        .any(|r| r.id.as_ref().is_some_and(|id| ids.contains(id)))
}

fn csv_union(p: &Params, keys: &[&str]) -> Option<Vec<String>> {
    let mut out: Option<Vec<String>> = None;
    for k in keys {
        if let Some(v) = p.csv(k) {
            out.get_or_insert_with(Vec::new).extend(v);
        }
    }
    out
}

fn accepts_gzip(h: &HeaderMap) -> bool {
    h.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|enc| {
                let mut it = enc.split(';');
                let name = it.next().unwrap_or("").trim();
                let q_zero = it.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case("gzip") && !q_zero
            })
        })
}

fn gzip_fast(b: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(b.len() / 6 + 64),
        flate2::Compression::fast(),
    );
    if enc.write_all(b).is_err() {
        return b.to_vec();
    }
    enc.finish().unwrap_or_else(|_| b.to_vec())
}
