//! Query-string parsing, the error bodies, cursor pagination of the small lists, and the agent
//! query engine (keyset pagination over derived agents).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s1bridge_api::features::Capability;
use s1bridge_api::wire::{Agent, Envelope, ErrorBody, ErrorItem, Pagination};
use serde::Serialize;

use crate::derive::parse_ts;
use crate::tenant::{Classes, Facts, Os, Overlay};
use crate::{Inner, lock, read};

/// A failed request, rendered with the console's error envelope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 400 4000010 "Validation Error" (observed code and title; details are ours).
    Validation(String),
    /// 400 with one 4000010 "Validation Error" item per problem (consoles list every problem
    /// of a request, s1-samples/error-400-validation-multiple.json).
    ValidationMany(Vec<String>),
    /// 401, the exact observed body.
    Unauthorized,
    /// 403, the observed "User does not have required permissions" body.
    Forbidden,
    /// 403 for an unlicensed feature. INVENTED: no real body is known; the code and title are
    /// the observed 403 ones, the detail names the feature.
    NotLicensed(Capability),
    /// 404. INVENTED body (no capture of an unknown-path 404 exists).
    NotFound,
    /// 404 of a whole API family this console does not have (the Application Management API on
    /// an older console). INVENTED body: the console's error envelope with the HTTP reason
    /// phrase as title and the Flask/werkzeug default detail.
    NoSuchApi,
    /// 500, the exact observed body.
    Internal,
    /// 429 with `Retry-After`. INVENTED: the real 429 body is unknown (research §7).
    RateLimited(u64),
    /// 400 4000040 "Bad Request - could not parse query" (sample
    /// `error-400-bad-request-dv-parse.json`); the detail is the observed one.
    BadQuery,
    /// 400 4000030 "Already Exists Error" (the code and title DM checks when a blocklist entry
    /// exists); the detail is ours.
    AlreadyExists(String),
    /// 409 of a Deep Visibility query whose events are not ready. INVENTED body: the code follows
    /// the status-prefix pattern, the wording is ours.
    Conflict(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_) | ApiError::ValidationMany(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden | ApiError::NotLicensed(_) => 403,
            ApiError::NotFound | ApiError::NoSuchApi => 404,
            ApiError::Internal => 500,
            ApiError::RateLimited(_) => 429,
            ApiError::BadQuery | ApiError::AlreadyExists(_) => 400,
            ApiError::Conflict(_) => 409,
        }
    }

    pub(crate) fn body(&self) -> Vec<u8> {
        let (code, detail, title): (i64, Option<String>, &str) = match self {
            ApiError::ValidationMany(details) => {
                let item = |d: &String| ErrorItem {
                    code: Some(4_000_010),
                    detail: Some(d.clone()),
                    title: Some("Validation Error".into()),
                };
                return json_line(&ErrorBody {
                    errors: details.iter().map(item).collect(),
                });
            }
            ApiError::Validation(d) => (4_000_010, Some(d.clone()), "Validation Error"),
            ApiError::Unauthorized => (4_010_010, None, "Authentication Failed"),
            ApiError::Forbidden => (
                4_030_010,
                Some("User does not have required permissions".into()),
                "Insufficient permissions",
            ),
            ApiError::NotLicensed(c) => (
                4_030_010,
                Some(format!(
                    "Your license does not include this feature ({})",
                    c.label()
                )),
                "Insufficient permissions",
            ),
            ApiError::NotFound => (
                4_040_010,
                Some("The requested resource was not found".into()),
                "Resource not found",
            ),
            ApiError::NoSuchApi => (
                4_040_010,
                Some(
                    "The requested URL was not found on the server. If you entered the URL \
                     manually please check your spelling and try again."
                        .into(),
                ),
                "Not Found",
            ),
            ApiError::Internal => (
                5_000_010,
                Some("Server could not process the request.".into()),
                "Internal server error",
            ),
            ApiError::RateLimited(_) => (
                4_290_010,
                Some("Too many requests".into()),
                "Too Many Requests",
            ),
            ApiError::BadQuery => (
                4_000_040,
                Some("Bad Request - could not parse query".into()),
                "Bad Request",
            ),
            ApiError::Conflict(d) => (4_090_010, Some(d.clone()), "Conflict"),
            ApiError::AlreadyExists(d) => (4_000_030, Some(d.clone()), "Already Exists Error"),
        };
        json_line(&ErrorBody {
            errors: vec![ErrorItem {
                code: Some(code),
                detail,
                title: Some(title.into()),
            }],
        })
    }
}

/// Compact JSON followed by a newline, like the console (Flask `jsonify`).
pub(crate) fn json_line<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

pub(crate) fn data<T: Serialize>(d: T) -> Vec<u8> {
    json_line(&Envelope {
        data: d,
        pagination: None,
    })
}

pub(crate) fn list<T: Serialize>(d: T, p: Pagination) -> Vec<u8> {
    json_line(&Envelope {
        data: d,
        pagination: Some(p),
    })
}

/// Decoded query parameters (last value of a repeated key wins).
pub(crate) struct Params {
    map: HashMap<String, String>,
}

impl Params {
    pub(crate) fn parse(q: &str) -> Params {
        Params {
            map: url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }

    pub(crate) fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::Validation(format!("{k}: Not a valid boolean."))),
        }
    }

    pub(crate) fn int(&self, k: &str, min: i64, max: i64, default: i64) -> Result<i64, ApiError> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                Ok(_) => Err(ApiError::Validation(format!(
                    "{k}: Must be between {min} and {max}."
                ))),
                Err(_) => Err(ApiError::Validation(format!("{k}: Not a valid integer."))),
            },
        }
    }

    /// A csv array parameter; `None` when absent, empty entries dropped.
    pub(crate) fn csv(&self, k: &str) -> Option<Vec<String>> {
        self.get(k).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
    }

    pub(crate) fn ts(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_ts(v)
                .map(Some)
                .ok_or_else(|| ApiError::Validation(format!("{k}: Not a valid datetime."))),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The paging parameters every list endpoint takes.
pub(crate) struct ListParams {
    pub limit: usize,
    pub skip: usize,
    pub cursor: Option<String>,
    pub count_only: bool,
    pub skip_count: bool,
    pub desc: bool,
}

pub(crate) fn list_params(p: &Params, max_limit: i64) -> Result<ListParams, ApiError> {
    let limit = p.int("limit", 1, max_limit, 10)? as usize;
    let skip = p.int("skip", 0, 1000, 0)? as usize;
    let desc = match p.get("sortOrder").map(|s| s.trim().to_ascii_lowercase()) {
        None => false,
        Some(s) if s == "asc" || s.is_empty() => false,
        Some(s) if s == "desc" => true,
        Some(_) => {
            return Err(ApiError::Validation(
                "sortOrder: Must be one of: asc, desc.".into(),
            ));
        }
    };
    Ok(ListParams {
        limit,
        skip,
        cursor: p
            .get("cursor")
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string),
        count_only: p.bool("countOnly")?.unwrap_or(false),
        skip_count: p.bool("skipCount")?.unwrap_or(false),
        desc,
    })
}

pub(crate) fn encode_cursor(s: &str) -> String {
    B64.encode(s.as_bytes())
}

pub(crate) fn decode_cursor(c: &str) -> Result<String, ApiError> {
    let bad = || ApiError::Validation("cursor: Invalid cursor.".into());
    let raw = B64.decode(c.trim().as_bytes()).map_err(|_| bad())?;
    String::from_utf8(raw).map_err(|_| bad())
}

fn id_key(id: &str) -> (usize, &str) {
    (id.len(), id)
}

/// Cursor pagination over a small materialised list (`items` in ascending id order).
pub(crate) fn page_small<T: Clone>(
    items: Vec<(&str, &T)>,
    lp: &ListParams,
) -> Result<(Vec<T>, Pagination), ApiError> {
    let total = items.len() as i64;
    let after = match &lp.cursor {
        None => None,
        Some(c) => {
            let s = decode_cursor(c)?;
            let id = s
                .strip_prefix("id:")
                .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()));
            Some(
                id.ok_or_else(|| ApiError::Validation("cursor: Invalid cursor.".into()))?
                    .to_string(),
            )
        }
    };
    let mut rest: Vec<(&str, &T)> = items
        .into_iter()
        .filter(|(id, _)| match &after {
            None => true,
            Some(a) if lp.desc => id_key(id) < id_key(a),
            Some(a) => id_key(id) > id_key(a),
        })
        .collect();
    if lp.desc {
        rest.reverse();
    }
    let rest: Vec<_> = rest.into_iter().skip(lp.skip).collect();
    let page: Vec<(&str, &T)> = rest.iter().take(lp.limit).cloned().collect();
    let next =
        (rest.len() > lp.limit).then(|| encode_cursor(&format!("id:{}", page[page.len() - 1].0)));
    let pagination = Pagination {
        total_items: Some(if lp.skip_count { 0 } else { total }),
        next_cursor: if lp.count_only { None } else { next },
    };
    let data = if lp.count_only {
        vec![]
    } else {
        page.into_iter().map(|(_, t)| t.clone()).collect()
    };
    Ok((data, pagination))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    UpdatedAt,
    CreatedAt,
}

/// Attribute filters of `/agents` (beyond scope classes and ids).
#[derive(Debug, Default)]
struct AgentFilter {
    decommissioned: Option<bool>,
    /// Inclusive bounds in microseconds.
    updated_min: Option<i64>,
    updated_max: Option<i64>,
    created_min: Option<i64>,
    created_max: Option<i64>,
    names: Option<Vec<String>>,
    name_contains: Option<Vec<String>>,
    os_types: Option<Vec<Os>>,
}

impl AgentFilter {
    fn is_empty(&self) -> bool {
        self.decommissioned.is_none()
            && self.updated_min.is_none()
            && self.updated_max.is_none()
            && self.created_min.is_none()
            && self.created_max.is_none()
            && self.names.is_none()
            && self.name_contains.is_none()
            && self.os_types.is_none()
    }

    fn canonical(&self) -> String {
        format!("{:?}", self)
    }

    fn matches(&self, inner: &Inner, ov: &Overlay, i: u64, f: &Facts) -> bool {
        if self.decommissioned.is_some_and(|d| d != f.decommissioned)
            || self.updated_min.is_some_and(|m| f.updated_us < m)
            || self.updated_max.is_some_and(|m| f.updated_us > m)
            || self.created_min.is_some_and(|m| f.created_us < m)
            || self.created_max.is_some_and(|m| f.created_us > m)
            || self.os_types.as_ref().is_some_and(|os| !os.contains(&f.os))
        {
            return false;
        }
        if self.names.is_some() || self.name_contains.is_some() {
            let a = inner.tenant.agent(ov, i);
            let name = a.computer_name.unwrap_or_default().to_lowercase();
            if self.names.as_ref().is_some_and(|ns| !ns.contains(&name)) {
                return false;
            }
            if self
                .name_contains
                .as_ref()
                .is_some_and(|ns| !ns.iter().any(|n| name.contains(n.as_str())))
            {
                return false;
            }
        }
        true
    }
}

impl Inner {
    /// Resolve `siteIds`/`accountIds`/`groupIds` (and a site-scoped token) to index classes.
    /// Unknown ids match nothing.
    pub(crate) fn agent_classes(
        &self,
        p: &Params,
        scoped_site: Option<u64>,
    ) -> Result<Classes, ApiError> {
        let t = &self.tenant;
        let s_n = t.n_sites;
        let mut sites: Option<Vec<u64>> = None;
        if let Some(ids) = p.csv("siteIds") {
            let v: Vec<u64> = (0..s_n)
                .filter(|&s| ids.iter().any(|id| *id == t.sites[s as usize].id))
                .collect();
            if let Some(sc) = scoped_site
                && ids.iter().any(|id| *id != t.sites[sc as usize].id)
            {
                return Err(ApiError::Forbidden);
            }
            sites = Some(v);
        }
        if let Some(ids) = p.csv("accountIds") {
            let v: Vec<u64> = (0..s_n)
                .filter(|&s| {
                    ids.iter()
                        .any(|id| *id == t.accounts[t.site_account[s as usize]].id)
                })
                .collect();
            sites = Some(intersect(sites, v));
        }
        if let Some(sc) = scoped_site {
            sites = Some(intersect(sites, vec![sc]));
        }
        if let Some(ids) = p.csv("groupIds") {
            let g_n = t.groups_per_site;
            let mut res: Vec<u64> = Vec::new();
            for (k, g) in t.groups.iter().enumerate() {
                let k = k as u64;
                let (s, gi) = (k / g_n, k % g_n);
                if ids.contains(&g.id) && sites.as_ref().is_none_or(|ss| ss.contains(&s)) {
                    res.push(s + s_n * gi);
                }
            }
            res.sort_unstable();
            return Ok(Classes {
                m: s_n * g_n,
                residues: res,
            });
        }
        Ok(match sites {
            None => Classes::all(),
            Some(mut v) => {
                v.sort_unstable();
                Classes {
                    m: s_n,
                    residues: v,
                }
            }
        })
    }

    /// `GET /agents` (and `/agents/count` when `count_endpoint`).
    pub(crate) fn list_agents(
        &self,
        p: &Params,
        scoped_site: Option<u64>,
        count_endpoint: bool,
    ) -> Result<Vec<u8>, ApiError> {
        let t = &self.tenant;
        let lp = list_params(p, 1000)?;
        let sort = match p.get("sortBy").map(str::trim) {
            None | Some("") | Some("id") => SortKey::Id,
            Some("updatedAt") => SortKey::UpdatedAt,
            Some("createdAt") => SortKey::CreatedAt,
            Some(_) => {
                return Err(ApiError::Validation(
                    "sortBy: Must be one of: id, updatedAt, createdAt.".into(),
                ));
            }
        };
        // `isDecommissioned` is a csv of booleans. When it is absent the simulator returns BOTH
        // decommissioned and active agents (assumption: the console applies no implicit filter;
        // the real agent list includes decommissioned agents unless asked otherwise).
        let decommissioned = match p.csv("isDecommissioned") {
            None => None,
            Some(vals) => {
                let mut set = (false, false);
                for v in &vals {
                    match parse_bool(v) {
                        Some(true) => set.0 = true,
                        Some(false) => set.1 = true,
                        None => {
                            return Err(ApiError::Validation(
                                "isDecommissioned: Not a valid boolean.".into(),
                            ));
                        }
                    }
                }
                match set {
                    (true, false) => Some(true),
                    (false, true) => Some(false),
                    _ => None,
                }
            }
        };
        let mut os_types = None;
        if let Some(v) = p.csv("osTypes") {
            let mut out = Vec::new();
            for s in v {
                match s.as_str() {
                    "windows_legacy" => {}
                    other => out.push(Os::parse(other).ok_or_else(|| {
                        ApiError::Validation(
                            "osTypes: Must be one of: windows, windows_legacy, linux, macos."
                                .into(),
                        )
                    })?),
                }
            }
            os_types = Some(out);
        }
        let lower = |gt: Option<i64>, gte: Option<i64>| match (gt.map(|v| v + 1), gte) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let upper = |lt: Option<i64>, lte: Option<i64>| match (lt.map(|v| v - 1), lte) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let filter = AgentFilter {
            decommissioned,
            updated_min: lower(p.ts("updatedAt__gt")?, p.ts("updatedAt__gte")?),
            updated_max: upper(p.ts("updatedAt__lt")?, p.ts("updatedAt__lte")?),
            created_min: lower(p.ts("createdAt__gt")?, p.ts("createdAt__gte")?),
            created_max: upper(p.ts("createdAt__lt")?, p.ts("createdAt__lte")?),
            names: p
                .csv("computerName")
                .map(|v| v.into_iter().map(|s| s.to_lowercase()).collect()),
            name_contains: p
                .csv("computerName__contains")
                .map(|v| v.into_iter().map(|s| s.to_lowercase()).collect()),
            os_types,
        };
        let classes = self.agent_classes(p, scoped_site)?;
        let ov = read(&self.overlay);
        let n = ov.n_total;

        // Explicit candidates: `ids`, or only the overlay when the updatedAt lower bound is past
        // the generated tenant's epoch (every base agent was updated before it).
        let ids = p.csv("ids").map(|v| {
            let mut idx: Vec<u64> = v.iter().filter_map(|id| t.index_of(id)).collect();
            idx.sort_unstable();
            idx.dedup();
            idx
        });
        let overlay_only = filter.updated_min.is_some_and(|m| m >= t.epoch_us);
        let explicit: Option<Vec<u64>> = match (ids, overlay_only) {
            (Some(ids), false) => Some(ids),
            (Some(ids), true) => Some(
                ids.into_iter()
                    .filter(|i| ov.overrides.contains_key(i))
                    .collect(),
            ),
            (None, true) => Some(ov.overrides.keys().copied().collect()),
            (None, false) => None,
        };
        let explicit = explicit.map(|v| {
            v.into_iter()
                .filter(|&i| i < n && classes.contains(i))
                .collect::<Vec<_>>()
        });

        let check = |i: u64| -> Option<Facts> {
            if ov.deleted.contains(&i) {
                return None;
            }
            let f = t.facts(&ov, i);
            filter.matches(self, &ov, i, &f).then_some(f)
        };

        let total = if lp.skip_count && !count_endpoint {
            0
        } else if filter.is_empty() && explicit.is_none() {
            classes.count_below(n)
                - ov.deleted
                    .iter()
                    .filter(|&&d| d < n && classes.contains(d))
                    .count() as u64
        } else if let Some(ex) = &explicit {
            ex.iter().filter(|&&i| check(i).is_some()).count() as u64
        } else {
            let key = format!("{}|{:?}|{}", filter.canonical(), classes, ov.generation);
            if let Some(c) = lock(&self.count_cache).get(&key) {
                *c
            } else {
                let mut c = 0u64;
                classes.for_each_asc(0, n, |i| {
                    if check(i).is_some() {
                        c += 1;
                    }
                    true
                });
                let mut cache = lock(&self.count_cache);
                if cache.len() > 1024 {
                    cache.clear();
                }
                cache.insert(key, c);
                c
            }
        };
        if count_endpoint {
            return Ok(data(serde_json::json!({ "total": total })));
        }
        if lp.count_only {
            return Ok(list(
                Vec::<Agent>::new(),
                Pagination {
                    total_items: Some(total as i64),
                    next_cursor: None,
                },
            ));
        }

        let want = lp.skip + lp.limit + 1;
        let bad_cursor = || ApiError::Validation("cursor: Invalid cursor.".into());
        let mut picked: Vec<(i64, u64)> = match sort {
            SortKey::Id => {
                let after = match &lp.cursor {
                    None => None,
                    Some(c) => {
                        let s = decode_cursor(c)?;
                        let id = s.strip_prefix("agent_id:").ok_or_else(bad_cursor)?;
                        Some(t.index_of(id).ok_or_else(bad_cursor)?)
                    }
                };
                let mut out = Vec::with_capacity(want.min(4096));
                let mut visit = |i: u64| {
                    if check(i).is_some() {
                        out.push((0, i));
                    }
                    out.len() < want
                };
                match (&explicit, lp.desc) {
                    (Some(ex), false) => {
                        for &i in ex.iter().filter(|&&i| after.is_none_or(|a| i > a)) {
                            if !visit(i) {
                                break;
                            }
                        }
                    }
                    (Some(ex), true) => {
                        for &i in ex.iter().rev().filter(|&&i| after.is_none_or(|a| i < a)) {
                            if !visit(i) {
                                break;
                            }
                        }
                    }
                    (None, false) => classes.for_each_asc(after.map_or(0, |a| a + 1), n, visit),
                    (None, true) => match after {
                        Some(0) => {}
                        Some(a) => classes.for_each_desc(a - 1, n, visit),
                        None => classes.for_each_desc(n.saturating_sub(1), n, visit),
                    },
                }
                out
            }
            SortKey::UpdatedAt | SortKey::CreatedAt => {
                let (prefix, key_of): (&str, fn(&Facts) -> i64) = if sort == SortKey::UpdatedAt {
                    ("updatedAt:", |f| f.updated_us)
                } else {
                    ("createdAt:", |f| f.created_us)
                };
                let after = match &lp.cursor {
                    None => None,
                    Some(c) => {
                        let s = decode_cursor(c)?;
                        let rest = s.strip_prefix(prefix).ok_or_else(bad_cursor)?;
                        let (k, id) = rest.split_once('|').ok_or_else(bad_cursor)?;
                        let k: i64 = k.parse().map_err(|_| bad_cursor())?;
                        Some((k, t.index_of(id).ok_or_else(bad_cursor)?))
                    }
                };
                let mut all = Vec::new();
                let mut visit = |i: u64| {
                    if let Some(f) = check(i) {
                        let k = (key_of(&f), i);
                        let keep = match after {
                            None => true,
                            Some(a) if lp.desc => k < a,
                            Some(a) => k > a,
                        };
                        if keep {
                            all.push(k);
                        }
                    }
                    true
                };
                match &explicit {
                    Some(ex) => ex.iter().for_each(|&i| {
                        visit(i);
                    }),
                    None => classes.for_each_asc(0, n, visit),
                }
                let cmp =
                    |a: &(i64, u64), b: &(i64, u64)| if lp.desc { b.cmp(a) } else { a.cmp(b) };
                if all.len() > want {
                    all.select_nth_unstable_by(want - 1, cmp);
                    all.truncate(want);
                }
                all.sort_unstable_by(cmp);
                all
            }
        };

        let has_more = picked.len() > lp.skip + lp.limit;
        picked.truncate(lp.skip + lp.limit);
        let page: Vec<(i64, u64)> = picked.into_iter().skip(lp.skip).collect();
        let next_cursor = match page.last() {
            Some(&(k, i)) if has_more => Some(encode_cursor(&match sort {
                SortKey::Id => format!("agent_id:{}", t.agent_id(i)),
                SortKey::UpdatedAt => format!("updatedAt:{k}|{}", t.agent_id(i)),
                SortKey::CreatedAt => format!("createdAt:{k}|{}", t.agent_id(i)),
            })),
            _ => None,
        };
        let agents: Vec<Agent> = page.iter().map(|&(_, i)| t.agent(&ov, i)).collect();
        drop(ov);
        Ok(list(
            agents,
            Pagination {
                total_items: Some(total as i64),
                next_cursor,
            },
        ))
    }
}

fn intersect(a: Option<Vec<u64>>, b: Vec<u64>) -> Vec<u64> {
    match a {
        None => b,
        Some(a) => a.into_iter().filter(|x| b.contains(x)).collect(),
    }
}
