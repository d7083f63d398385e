//! Vulnerability findings: the Application Management risks API (`/application-management/risks`)
//! and the deprecated Application Risk API (`/installed-applications`, `/installed-applications/cves`).
//!
//! Findings are never materialised. Agent `i` (of OS `os`) has `f` findings: the `f` consecutive
//! entries, starting at a hashed offset, of its OS's *pool* — the flattened (application version,
//! CVE) pairs of a fixed catalogue. Finding `k` of agent `i` lives in *slot* `k`; slots `>= f`
//! hold findings added by [`crate::Simulator::apply_finding_changes`]. A tiny overlay (keyed by
//! agent index) records only the slots that changed: fixed (status Removed), reopened (a new
//! generation, hence a new console row id) or new.
//!
//! Row ids encode `(agent index, slot, generation)` monotonically, so `sortBy=id` lists the
//! findings of one endpoint together, in agent-index order, and a keyset cursor is
//! `(agent index, slot)`: paging by site is O(page) like `/agents`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use s1bridge_api::wire::{Agent, InstalledApplication, InstalledApplicationCve, Pagination, Risk};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::derive::{MICROS_PER_DAY, MICROS_PER_SEC, hash3, ts_micros, ts_secs};
use crate::query::{ApiError, Params, decode_cursor, encode_cursor, list, list_params};
use crate::tenant::{Classes, Facts, Os, Overlay};
use crate::{ChangeReport, FindingChanges, Inner, lock, read, write};

/// A CVE of the fixed table. Scores are the console's decimal strings.
struct Cve {
    id: &'static str,
    severity: &'static str,
    score: &'static str,
    published: &'static str,
    /// CISA KEV member (drives exploitCodeMaturity "High").
    kev: bool,
    description: &'static str,
}

const fn cve(
    id: &'static str,
    severity: &'static str,
    score: &'static str,
    published: &'static str,
    kev: bool,
    description: &'static str,
) -> Cve {
    Cve {
        id,
        severity,
        score,
        published,
        kev,
        description,
    }
}

const CVES: &[Cve] = &[
    cve(
        "CVE-2025-0411",
        "HIGH",
        "7.00",
        "2025-01-25T05:15:09Z",
        true,
        "7-Zip Mark-of-the-Web bypass",
    ),
    cve(
        "CVE-2024-11477",
        "HIGH",
        "7.80",
        "2024-11-22T22:15:14Z",
        false,
        "7-Zip Zstandard decompression integer underflow remote code execution",
    ),
    cve(
        "CVE-2023-4863",
        "HIGH",
        "8.80",
        "2023-09-12T15:15:24Z",
        true,
        "Heap buffer overflow in libwebp",
    ),
    cve(
        "CVE-2023-5217",
        "HIGH",
        "8.80",
        "2023-09-28T16:15:10Z",
        true,
        "Heap buffer overflow in vp8 encoding in libvpx",
    ),
    cve(
        "CVE-2024-0519",
        "HIGH",
        "8.80",
        "2024-01-16T22:15:37Z",
        true,
        "Out of bounds memory access in V8",
    ),
    cve(
        "CVE-2023-7024",
        "HIGH",
        "8.80",
        "2023-12-21T23:15:11Z",
        true,
        "Heap buffer overflow in WebRTC",
    ),
    cve(
        "CVE-2023-2033",
        "HIGH",
        "8.80",
        "2023-04-14T19:15:09Z",
        true,
        "Type confusion in V8",
    ),
    cve(
        "CVE-2023-2136",
        "CRITICAL",
        "9.60",
        "2023-04-19T04:15:11Z",
        true,
        "Integer overflow in Skia",
    ),
    cve(
        "CVE-2024-38222",
        "MEDIUM",
        "6.50",
        "2024-08-13T18:27:28Z",
        false,
        "Microsoft Edge (Chromium-based) information disclosure vulnerability",
    ),
    cve(
        "CVE-2022-3602",
        "HIGH",
        "7.50",
        "2022-11-01T18:15:11Z",
        false,
        "X.509 email address 4-byte buffer overflow",
    ),
    cve(
        "CVE-2022-3786",
        "HIGH",
        "7.50",
        "2022-11-01T18:15:11Z",
        false,
        "X.509 email address variable length buffer overflow",
    ),
    cve(
        "CVE-2023-0286",
        "HIGH",
        "7.40",
        "2023-02-08T20:15:23Z",
        false,
        "X.400 address type confusion in X.509 GeneralName",
    ),
    cve(
        "CVE-2024-5535",
        "CRITICAL",
        "9.10",
        "2024-06-27T11:15:24Z",
        false,
        "SSL_select_next_proto buffer overread",
    ),
    cve(
        "CVE-2023-5678",
        "MEDIUM",
        "5.30",
        "2023-11-06T16:15:42Z",
        false,
        "Excessive time spent in DH check / generation with large Q parameter value",
    ),
    cve(
        "CVE-2023-38545",
        "CRITICAL",
        "9.80",
        "2023-10-18T04:15:11Z",
        false,
        "SOCKS5 heap buffer overflow",
    ),
    cve(
        "CVE-2023-38546",
        "LOW",
        "3.70",
        "2023-10-18T04:15:11Z",
        false,
        "Cookie injection with none file",
    ),
    cve(
        "CVE-2024-2004",
        "LOW",
        "3.50",
        "2024-03-27T08:15:41Z",
        false,
        "Usage of disabled protocol",
    ),
    cve(
        "CVE-2023-28597",
        "HIGH",
        "8.30",
        "2023-03-16T21:15:12Z",
        false,
        "Zoom client improper trust boundary implementation for SMB",
    ),
    cve(
        "CVE-2022-28762",
        "HIGH",
        "7.30",
        "2022-10-31T19:15:12Z",
        false,
        "Zoom for macOS debugging port misconfiguration",
    ),
    cve(
        "CVE-2023-26369",
        "HIGH",
        "7.80",
        "2023-09-13T09:15:15Z",
        true,
        "Acrobat Reader out-of-bounds write",
    ),
    cve(
        "CVE-2023-21608",
        "HIGH",
        "7.80",
        "2023-01-18T20:15:13Z",
        true,
        "Acrobat Reader use-after-free",
    ),
    cve(
        "CVE-2023-24329",
        "HIGH",
        "7.50",
        "2023-02-17T15:15:12Z",
        false,
        "urllib.parse blocklisting bypass with leading blank characters",
    ),
    cve(
        "CVE-2022-45061",
        "HIGH",
        "7.50",
        "2022-11-09T07:15:09Z",
        false,
        "Quadratic IDNA decoding in the idna codec",
    ),
    cve(
        "CVE-2023-40217",
        "MEDIUM",
        "5.30",
        "2023-08-25T01:15:09Z",
        false,
        "TLS handshake bypass in ssl.SSLSocket",
    ),
    cve(
        "CVE-2023-21930",
        "HIGH",
        "7.40",
        "2023-04-18T20:15:13Z",
        false,
        "Oracle Java SE JSSE vulnerability",
    ),
    cve(
        "CVE-2023-21967",
        "MEDIUM",
        "5.90",
        "2023-04-18T20:15:14Z",
        false,
        "Oracle Java SE JSSE denial of service",
    ),
    cve(
        "CVE-2024-20918",
        "HIGH",
        "7.40",
        "2024-01-16T22:15:38Z",
        false,
        "Oracle Java SE Hotspot vulnerability",
    ),
    cve(
        "CVE-2024-4577",
        "CRITICAL",
        "9.80",
        "2024-06-09T20:15:09Z",
        true,
        "PHP-CGI argument injection on Windows",
    ),
    cve(
        "CVE-2024-2756",
        "MEDIUM",
        "6.50",
        "2024-04-29T04:15:07Z",
        false,
        "PHP __Host-/__Secure- cookie bypass",
    ),
    cve(
        "CVE-2021-44228",
        "CRITICAL",
        "10.00",
        "2021-12-10T10:15:09Z",
        true,
        "Apache Log4j2 JNDI remote code execution (Log4Shell)",
    ),
    cve(
        "CVE-2021-45046",
        "CRITICAL",
        "9.00",
        "2021-12-14T19:15:07Z",
        true,
        "Apache Log4j2 Thread Context lookup remote code execution",
    ),
    cve(
        "CVE-2021-44832",
        "MEDIUM",
        "6.60",
        "2021-12-28T20:15:08Z",
        false,
        "Apache Log4j2 JDBC Appender remote code execution",
    ),
    cve(
        "CVE-2024-9680",
        "CRITICAL",
        "9.80",
        "2024-10-09T15:15:17Z",
        true,
        "Use-after-free in Animation timeline",
    ),
    cve(
        "CVE-2021-3156",
        "HIGH",
        "7.80",
        "2021-01-26T21:15:12Z",
        true,
        "Sudo heap-based buffer overflow (Baron Samedit)",
    ),
    cve(
        "CVE-2021-4034",
        "HIGH",
        "7.80",
        "2022-01-28T20:15:12Z",
        true,
        "Polkit pkexec local privilege escalation (PwnKit)",
    ),
];

const W: u8 = 1;
const M: u8 = 2;
const L: u8 = 4;

/// One installed application version of the catalogue and the CVEs it carries.
struct App {
    name: &'static str,
    vendor: &'static str,
    version: &'static str,
    os: u8,
    size: i64,
    cves: &'static [&'static str],
}

const APPS: &[App] = &[
    App {
        name: "7-Zip",
        vendor: "Igor Pavlov",
        version: "22.01",
        os: W,
        size: 5_607_424,
        cves: &["CVE-2025-0411", "CVE-2024-11477"],
    },
    App {
        name: "Google Chrome",
        vendor: "Google LLC",
        version: "116.0.5845.96",
        os: W | M,
        size: 418_381_824,
        cves: &[
            "CVE-2023-4863",
            "CVE-2023-5217",
            "CVE-2024-0519",
            "CVE-2023-7024",
        ],
    },
    App {
        name: "Microsoft Edge",
        vendor: "Microsoft Corporation",
        version: "112.0.1722.68",
        os: W | M,
        size: 512_753_664,
        cves: &["CVE-2023-2033", "CVE-2023-2136", "CVE-2024-38222"],
    },
    App {
        name: "OpenSSL",
        vendor: "OpenSSL Software Foundation",
        version: "3.0.2",
        os: W | L,
        size: 6_643_712,
        cves: &[
            "CVE-2022-3602",
            "CVE-2022-3786",
            "CVE-2023-0286",
            "CVE-2024-5535",
            "CVE-2023-5678",
        ],
    },
    App {
        name: "curl",
        vendor: "curl",
        version: "7.81.0",
        os: M | L,
        size: 462_848,
        cves: &["CVE-2023-38545", "CVE-2023-38546", "CVE-2024-2004"],
    },
    App {
        name: "Zoom",
        vendor: "Zoom Video Communications, Inc.",
        version: "5.13.0",
        os: W | M,
        size: 289_406_976,
        cves: &["CVE-2023-28597", "CVE-2022-28762"],
    },
    App {
        name: "Adobe Acrobat Reader DC",
        vendor: "Adobe Inc.",
        version: "23.003.20244",
        os: W | M,
        size: 1_103_306_752,
        cves: &["CVE-2023-26369", "CVE-2023-21608"],
    },
    App {
        name: "Python 3.9",
        vendor: "Python Software Foundation",
        version: "3.9.13",
        os: W | M | L,
        size: 103_874_560,
        cves: &["CVE-2023-24329", "CVE-2022-45061", "CVE-2023-40217"],
    },
    App {
        name: "Java 8 Update 361",
        vendor: "Oracle Corporation",
        version: "8.0.3610.9",
        os: W | M | L,
        size: 182_976_512,
        cves: &["CVE-2023-21930", "CVE-2023-21967", "CVE-2024-20918"],
    },
    App {
        name: "PHP",
        vendor: "The PHP Group",
        version: "8.1.10",
        os: W,
        size: 31_563_776,
        cves: &["CVE-2024-4577", "CVE-2024-2756"],
    },
    App {
        name: "Apache Log4j",
        vendor: "Apache Software Foundation",
        version: "2.14.1",
        os: W | L,
        size: 1_789_952,
        cves: &["CVE-2021-44228", "CVE-2021-45046", "CVE-2021-44832"],
    },
    App {
        name: "Mozilla Firefox",
        vendor: "Mozilla",
        version: "115.0",
        os: W | M | L,
        size: 236_802_048,
        cves: &["CVE-2023-4863", "CVE-2024-9680"],
    },
    App {
        name: "sudo",
        vendor: "Todd C. Miller",
        version: "1.8.31",
        os: L,
        size: 2_424_832,
        cves: &["CVE-2021-3156"],
    },
    App {
        name: "polkit",
        vendor: "freedesktop.org",
        version: "0.105",
        os: L,
        size: 368_640,
        cves: &["CVE-2021-4034"],
    },
    App {
        name: "Google Chrome",
        vendor: "Google LLC",
        version: "120.0.6099.109",
        os: W | M,
        size: 431_042_560,
        cves: &["CVE-2024-0519", "CVE-2023-7024"],
    },
];

/// One pool entry: (application index, CVE index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    app: u8,
    cve: u8,
}

/// Per-OS pools (windows, macos, linux).
static POOLS: LazyLock<[Vec<Entry>; 3]> = LazyLock::new(|| {
    let build = |bit: u8| {
        let mut v = Vec::new();
        for (a, app) in APPS.iter().enumerate() {
            if app.os & bit == 0 {
                continue;
            }
            for id in app.cves {
                let c = CVES.iter().position(|c| c.id == *id).unwrap_or(0);
                v.push(Entry {
                    app: a as u8,
                    cve: c as u8,
                });
            }
        }
        v
    };
    [build(W), build(M), build(L)]
});

fn pool(os: Os) -> &'static [Entry] {
    &POOLS[match os {
        Os::Windows => 0,
        Os::Macos => 1,
        Os::Linux => 2,
    }]
}

/// The most findings an agent can have at construction (the smallest pool).
pub(crate) fn max_findings_per_agent() -> u32 {
    POOLS.iter().map(Vec::len).min().unwrap_or(0) as u32
}

/// Slots (and generations) per agent in the row-id encoding.
const SLOTS: u64 = 64;
const GENS: u64 = 64;
/// Row ids are `base + key * ID_SPREAD + noise`, so that they look like the console's (no long
/// runs of zeros) while staying monotonic in the key.
const ID_SPREAD: u64 = 4096;

const S_OFF: u64 = 0x7101;
const S_DET: u64 = 0x7102;
const S_SCAN: u64 = 0x7103;
const S_RID: u64 = 0x7104;
const S_AID: u64 = 0x7105;
const S_INST: u64 = 0x7107;

/// Which vulnerability API the simulated console offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskApi {
    /// Application Management (`/application-management/risks`) — and, as on current consoles,
    /// the deprecated `/installed-applications` API as well.
    #[default]
    #[serde(alias = "Current")]
    Current,
    /// An older console: only `/installed-applications` and `/installed-applications/cves`;
    /// every `/application-management/*` path answers 404.
    #[serde(alias = "Deprecated")]
    Deprecated,
}

/// A finding as s1bridge identifies it across syncs (console row ids change on reopen).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FindingKey {
    pub agent_id: String,
    /// `applicationName`.
    pub application: String,
    /// `applicationVersion`.
    pub version: String,
    pub cve_id: String,
}

/// A changed or added slot.
#[derive(Debug, Clone, Copy)]
struct SlotState {
    entry: Entry,
    present: bool,
    reopens: u16,
    detected_us: i64,
    removed_us: i64,
}

/// The mutable part of the findings: only changed agents, only changed slots.
#[derive(Debug, Default)]
pub(crate) struct FindingOverlay {
    agents: BTreeMap<u64, BTreeMap<u16, SlotState>>,
    clock_us: i64,
    pub(crate) generation: u64,
}

/// Vulnerability state of the simulator.
pub(crate) struct Vulns {
    /// Base findings per agent (configured, capped at the smallest pool).
    pub(crate) per_agent: u16,
    pub(crate) state: std::sync::RwLock<FindingOverlay>,
}

impl Vulns {
    pub(crate) fn new(findings_per_agent: u32) -> Vulns {
        Vulns {
            per_agent: findings_per_agent.min(max_findings_per_agent()) as u16,
            state: Default::default(),
        }
    }
}

/// One finding of an agent, resolved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finding {
    slot: u16,
    entry: Entry,
    present: bool,
    reopens: u16,
    detected_us: i64,
    removed_us: i64,
}

impl Finding {
    fn app(&self) -> &'static App {
        &APPS[self.entry.app as usize]
    }
    fn cve(&self) -> &'static Cve {
        &CVES[self.entry.cve as usize]
    }
}

fn sev_rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 4,
        "HIGH" => 3,
        "MEDIUM" => 2,
        "LOW" => 1,
        _ => 0,
    }
}

const RISK_LEVELS: [&str; 5] = ["none", "low", "medium", "high", "critical"];

/// Attribute filters of `/application-management/risks`.
#[derive(Debug, Default)]
struct RiskFilter {
    include_removals: bool,
    cve_contains: Option<Vec<String>>,
    severities: Option<Vec<String>>,
    os_types: Option<Vec<String>>,
    /// `/installed-applications/cves`: exact CVE ids and (agent, app) pairs.
    cve_ids: Option<Vec<String>>,
    apps: Option<BTreeSet<(u64, u8)>>,
}

impl RiskFilter {
    fn is_trivial(&self) -> bool {
        self.cve_contains.is_none()
            && self.severities.is_none()
            && self.os_types.is_none()
            && self.cve_ids.is_none()
            && self.apps.is_none()
    }
    fn agent_ok(&self, f: &Facts) -> bool {
        self.os_types
            .as_ref()
            .is_none_or(|v| v.iter().any(|o| o == f.os.as_str()))
    }
    fn finding_ok(&self, i: u64, fd: &Finding) -> bool {
        if !fd.present && !self.include_removals {
            return false;
        }
        let c = fd.cve();
        self.cve_contains
            .as_ref()
            .is_none_or(|v| v.iter().any(|s| c.id.to_ascii_lowercase().contains(s)))
            && self
                .severities
                .as_ref()
                .is_none_or(|v| v.iter().any(|s| s.eq_ignore_ascii_case(c.severity)))
            && self
                .cve_ids
                .as_ref()
                .is_none_or(|v| v.iter().any(|s| s.eq_ignore_ascii_case(c.id)))
            && self
                .apps
                .as_ref()
                .is_none_or(|a| a.contains(&(i, fd.entry.app)))
    }
}

/// Keyset position: (agent index, slot or app index).
type Key = (u64, u16);

impl Inner {
    fn fid_base(&self, kind: u64) -> u64 {
        2_228_000_000_000_000_000
            + kind * 3_000_000_000_000_000
            + (self.tenant.mix % 1_000_000_000) * 100_000_000
    }

    /// Console row id of a finding: monotonic in (agent index, slot, generation).
    fn finding_id(&self, kind: u64, i: u64, slot: u16, reopens: u16) -> u64 {
        let v = (i * SLOTS + u64::from(slot)) * GENS + u64::from(reopens);
        self.fid_base(kind) + v * ID_SPREAD + hash3(self.tenant.mix, v, S_RID + kind) % ID_SPREAD
    }

    fn finding_of_id(&self, kind: u64, id: &str) -> Option<(u64, u16, u16)> {
        let n: u64 = id.trim().parse().ok()?;
        let v = n.checked_sub(self.fid_base(kind))? / ID_SPREAD;
        let (i, slot, reopens) = (v / (SLOTS * GENS), (v / GENS) % SLOTS, v % GENS);
        (self.finding_id(kind, i, slot as u16, reopens as u16) == n).then_some((
            i,
            slot as u16,
            reopens as u16,
        ))
    }

    fn app_id(&self, i: u64, app: u8) -> u64 {
        let v = i * SLOTS + u64::from(app);
        2_237_000_000_000_000_000
            + (self.tenant.mix % 1_000_000_000) * 100_000_000
            + v * ID_SPREAD
            + hash3(self.tenant.mix, v, S_AID) % ID_SPREAD
    }

    fn app_of_id(&self, id: &str) -> Option<(u64, u8)> {
        let n: u64 = id.trim().parse().ok()?;
        let v = n.checked_sub(
            2_237_000_000_000_000_000 + (self.tenant.mix % 1_000_000_000) * 100_000_000,
        )? / ID_SPREAD;
        let (i, a) = (v / SLOTS, (v % SLOTS) as u8);
        (self.app_id(i, a) == n).then_some((i, a))
    }

    /// When agent `i` was first scanned (all base findings are detected then) and last scanned.
    fn scan_times(&self, i: u64, f: &Facts) -> (i64, i64) {
        let t = &self.tenant;
        if i >= t.n_base {
            // Added by a change batch: scanned 30 s after it was created.
            let d = f.created_us + 30 * MICROS_PER_SEC;
            return (d, d);
        }
        // First scan: within the 180 days before the agent was last active, after it was
        // created.
        let hi = f.last_active_us.min(t.epoch_us) - 3600 * MICROS_PER_SEC;
        let lo = (f.created_us + 3600 * MICROS_PER_SEC).max(hi - 180 * MICROS_PER_DAY);
        let lo = lo.min(hi - 1);
        let first = lo + (hash3(t.mix, i, S_DET) % (hi - lo) as u64) as i64;
        let last = (f.last_active_us.min(t.epoch_us)
            - (hash3(t.mix, i, S_SCAN) % (6 * 3600 * MICROS_PER_SEC) as u64) as i64)
            .max(first);
        (first, last)
    }

    /// Every finding of agent `i` (present and removed), ascending by slot.
    fn findings_of(&self, fov: &FindingOverlay, i: u64, f: &Facts, out: &mut Vec<Finding>) {
        out.clear();
        let pool = pool(f.os);
        let n = self.vulns.per_agent;
        if pool.is_empty() {
            return;
        }
        let off = (hash3(self.tenant.mix, i, S_OFF) % pool.len() as u64) as usize;
        let (first, _) = self.scan_times(i, f);
        let changed = fov.agents.get(&i);
        for k in 0..n {
            match changed.and_then(|m| m.get(&k)) {
                Some(s) => out.push(Finding {
                    slot: k,
                    entry: s.entry,
                    present: s.present,
                    reopens: s.reopens,
                    detected_us: s.detected_us,
                    removed_us: s.removed_us,
                }),
                None => out.push(Finding {
                    slot: k,
                    entry: pool[(off + k as usize) % pool.len()],
                    present: true,
                    reopens: 0,
                    detected_us: first + i64::from(k) * 9,
                    removed_us: 0,
                }),
            }
        }
        if let Some(m) = changed {
            for (&k, s) in m.range(n..) {
                out.push(Finding {
                    slot: k,
                    entry: s.entry,
                    present: s.present,
                    reopens: s.reopens,
                    detected_us: s.detected_us,
                    removed_us: s.removed_us,
                });
            }
        }
    }

    /// The simulated present for findings (the later of the agent and finding change clocks).
    fn vuln_now(&self, ov: &Overlay, fov: &FindingOverlay) -> i64 {
        ov.clock_us.max(fov.clock_us)
    }

    /// Visit the findings accepted by `filter` in keyset order from `after` (exclusive), over
    /// the agents of `classes` (or the sorted `explicit` agent list). Stops when `f` says so.
    #[allow(clippy::too_many_arguments)]
    fn visit_findings(
        &self,
        ov: &Overlay,
        fov: &FindingOverlay,
        classes: &Classes,
        explicit: Option<&[u64]>,
        filter: &RiskFilter,
        after: Option<Key>,
        desc: bool,
        mut f: impl FnMut(u64, &Finding) -> bool,
    ) {
        let n = ov.n_total;
        let mut buf = Vec::with_capacity(64);
        let mut agent = |i: u64| -> bool {
            if i >= n || ov.deleted.contains(&i) {
                return true;
            }
            let facts = self.tenant.facts(ov, i);
            if !filter.agent_ok(&facts) {
                return true;
            }
            self.findings_of(fov, i, &facts, &mut buf);
            if desc {
                buf.reverse();
            }
            for fd in &buf {
                if let Some((ai, aslot)) = after
                    && ai == i
                    && (if desc {
                        fd.slot >= aslot
                    } else {
                        fd.slot <= aslot
                    })
                {
                    continue;
                }
                if filter.finding_ok(i, fd) && !f(i, fd) {
                    return false;
                }
            }
            true
        };
        walk_agents(classes, explicit, n, after.map(|a| a.0), desc, &mut agent);
    }

    /// `totalItems` of a findings query (cached per filter, scope and generation when a scan is
    /// needed).
    fn count_findings(
        &self,
        ov: &Overlay,
        fov: &FindingOverlay,
        classes: &Classes,
        explicit: Option<&[u64]>,
        filter: &RiskFilter,
    ) -> u64 {
        let n = ov.n_total;
        if filter.is_trivial() && explicit.is_none() {
            // Arithmetic: per_agent for each present agent, corrected by the changed agents.
            let present = classes.count_below(n)
                - ov.deleted
                    .iter()
                    .filter(|&&d| d < n && classes.contains(d))
                    .count() as u64;
            let mut total = (present * u64::from(self.vulns.per_agent)) as i64;
            let mut buf = Vec::new();
            for &i in fov.agents.keys() {
                if i >= n || ov.deleted.contains(&i) || !classes.contains(i) {
                    continue;
                }
                let facts = self.tenant.facts(ov, i);
                self.findings_of(fov, i, &facts, &mut buf);
                let c = buf.iter().filter(|fd| filter.finding_ok(i, fd)).count() as i64;
                total += c - i64::from(self.vulns.per_agent);
            }
            return total.max(0) as u64;
        }
        let key = format!(
            "findings|{filter:?}|{classes:?}|{explicit:?}|{}|{}",
            ov.generation, fov.generation
        );
        if let Some(c) = lock(&self.count_cache).get(&key) {
            return *c;
        }
        let mut c = 0u64;
        self.visit_findings(ov, fov, classes, explicit, filter, None, false, |_, _| {
            c += 1;
            true
        });
        let mut cache = lock(&self.count_cache);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, c);
        c
    }

    fn risk_row(&self, i: u64, a: &Agent, fd: &Finding, last_scan_us: i64, now_us: i64) -> Risk {
        let (app, c) = (fd.app(), fd.cve());
        let base = c.score.parse::<f64>().unwrap_or(0.0);
        let risk = if c.kev {
            (base + 0.2).min(10.0)
        } else {
            base * 0.9
        };
        let last_scan = last_scan_us.max(fd.detected_us);
        Risk {
            application: Some(format!("{} {}", app.name, app.version)),
            application_name: Some(app.name.into()),
            application_vendor: Some(app.vendor.into()),
            application_version: Some(app.version.into()),
            base_score: Some(c.score.into()),
            cve_id: Some(c.id.into()),
            cvss_version: Some("3.1".into()),
            days_detected: Some(((now_us - fd.detected_us) / MICROS_PER_DAY).max(0)),
            detection_date: Some(ts_micros(fd.detected_us)),
            endpoint_id: Some(a.id.clone()),
            endpoint_name: a.computer_name.clone(),
            endpoint_type: a.machine_type.clone(),
            exploit_code_maturity: Some(if c.kev { "High" } else { "Proof of Concept" }.into()),
            exploited_in_the_wild: None,
            id: Some(self.finding_id(0, i, fd.slot, fd.reopens).to_string()),
            last_scan_date: Some(ts_secs(if fd.present { last_scan } else { fd.removed_us })),
            last_scan_result: Some("Succeeded".into()),
            mark_type: Some(Value::String(String::new())),
            marked_by: None,
            marked_date: None,
            mitigation_status: Some("Not mitigated".into()),
            mitigation_status_change_time: None,
            mitigation_status_changed_by: None,
            mitigation_status_reason: None,
            nvd_base_score: Some(c.score.into()),
            nvd_cvss_version: Some("3.1".into()),
            os_type: a.os_type.clone(),
            published_date: Some(c.published.into()),
            reason: None,
            remediation_level: Some("Official Fix".into()),
            report_confidence: Some("Confirmed".into()),
            risk_score: Some(format!("{risk:.2}")),
            severity: Some(c.severity.into()),
            status: Some(if fd.present { "Detected" } else { "Removed" }.into()),
        }
    }

    /// Reject more than one id in each scope filter (the console's `maxItems: 1`).
    fn one_scope_id(p: &Params) -> Result<(), ApiError> {
        for k in ["accountIds", "siteIds", "groupIds"] {
            if p.csv(k).is_some_and(|v| v.len() > 1) {
                return Err(ApiError::Validation(format!(
                    "{k}: Longer than maximum length 1."
                )));
            }
        }
        Ok(())
    }

    fn id_sort_only(p: &Params, allowed: &str) -> Result<(), ApiError> {
        match p.get("sortBy").map(str::trim) {
            None | Some("") | Some("id") => Ok(()),
            Some(_) => Err(ApiError::Validation(format!(
                "sortBy: Must be one of: {allowed}."
            ))),
        }
    }

    /// `GET /application-management/risks`.
    pub(crate) fn list_risks(&self, p: &Params, scoped: Option<u64>) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        Self::one_scope_id(p)?;
        // Simulator limitation: only the default sort (id; rows of one endpoint together).
        Self::id_sort_only(p, "id")?;
        let lower = |v: Option<Vec<String>>| {
            v.map(|v| v.into_iter().map(|s| s.to_ascii_lowercase()).collect())
        };
        let filter = RiskFilter {
            include_removals: p.bool("includeRemovals")?.unwrap_or(false),
            cve_contains: lower(p.csv("cveId__contains")),
            severities: p.csv("severities"),
            os_types: lower(p.csv("osTypes")),
            ..RiskFilter::default()
        };
        let classes = self.agent_classes(p, scoped)?;
        let after = match &lp.cursor {
            None => None,
            Some(c) => {
                // Keyset on (endpoint, slot): `risk:<agent id>:<slot>`.
                let bad = || ApiError::Validation("cursor: Invalid cursor.".into());
                let s = decode_cursor(c)?;
                let (agent, slot) = s
                    .strip_prefix("risk:")
                    .and_then(|r| r.split_once(':'))
                    .ok_or_else(bad)?;
                let i = self.tenant.index_of(agent).ok_or_else(bad)?;
                let slot: u16 = slot.parse().map_err(|_| bad())?;
                Some((i, slot))
            }
        };
        let ov = read(&self.overlay);
        let fov = read(&self.vulns.state);
        let total = if lp.skip_count {
            0
        } else {
            self.count_findings(&ov, &fov, &classes, None, &filter)
        };
        if lp.count_only {
            return Ok(list(Vec::<Risk>::new(), pg(total, None)));
        }
        let want = lp.skip + lp.limit + 1;
        let mut picked: Vec<(u64, Finding)> = Vec::with_capacity(want.min(2048));
        self.visit_findings(
            &ov,
            &fov,
            &classes,
            None,
            &filter,
            after,
            lp.desc,
            |i, fd| {
                picked.push((i, *fd));
                picked.len() < want
            },
        );
        let has_more = picked.len() > lp.skip + lp.limit;
        picked.truncate(lp.skip + lp.limit);
        let page = &picked[lp.skip.min(picked.len())..];
        let next = match page.last() {
            Some((i, fd)) if has_more => Some(encode_cursor(&format!(
                "risk:{}:{}",
                self.tenant.agent_id(*i),
                fd.slot
            ))),
            _ => None,
        };
        let now = self.vuln_now(&ov, &fov);
        let mut rows = Vec::with_capacity(page.len());
        let mut cur: Option<(u64, Agent, i64)> = None;
        for (i, fd) in page {
            if cur.as_ref().is_none_or(|c| c.0 != *i) {
                let facts = self.tenant.facts(&ov, *i);
                let (_, last) = self.scan_times(*i, &facts);
                cur = Some((*i, self.tenant.agent(&ov, *i), last));
            }
            if let Some((_, a, last)) = &cur {
                rows.push(self.risk_row(*i, a, fd, *last, now));
            }
        }
        drop(fov);
        drop(ov);
        Ok(list(rows, pg(total, next)))
    }

    /// Decode a `<prefix><row id>` cursor of finding kind `kind` to its keyset position.
    fn finding_cursor(&self, c: &str, kind: u64, prefix: &str) -> Result<Key, ApiError> {
        let bad = || ApiError::Validation("cursor: Invalid cursor.".into());
        let s = decode_cursor(c)?;
        let id = s.strip_prefix(prefix).ok_or_else(bad)?;
        let (i, slot, _) = self.finding_of_id(kind, id).ok_or_else(bad)?;
        Ok((i, slot))
    }

    /// `GET /installed-applications` (deprecated Application Risk API): one row per
    /// application version per agent; `riskLevel` is the highest severity of its current CVEs.
    pub(crate) fn list_installed_apps(
        &self,
        p: &Params,
        scoped: Option<u64>,
    ) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        Self::id_sort_only(p, "id")?;
        let classes = self.agent_classes(p, scoped)?;
        let ids: Option<BTreeSet<(u64, u8)>> = p
            .csv("ids")
            .map(|v| v.iter().filter_map(|id| self.app_of_id(id)).collect());
        let explicit: Option<Vec<u64>> = ids.as_ref().map(|s| {
            let mut v: Vec<u64> = s.iter().map(|x| x.0).collect();
            v.dedup();
            v
        });
        let levels = p.csv("riskLevels").map(|v| {
            v.into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>()
        });
        if let Some(l) = &levels
            && let Some(bad) = l.iter().find(|x| !RISK_LEVELS.contains(&x.as_str()))
        {
            return Err(ApiError::Validation(format!(
                "riskLevels: Must be one of: none, low, medium, high, critical (got {bad})."
            )));
        }
        let after: Option<Key> = match &lp.cursor {
            None => None,
            Some(c) => {
                let bad = || ApiError::Validation("cursor: Invalid cursor.".into());
                let s = decode_cursor(c)?;
                let id = s.strip_prefix("id:").ok_or_else(bad)?;
                let (i, a) = self.app_of_id(id).ok_or_else(bad)?;
                Some((i, u16::from(a)))
            }
        };
        let ov = read(&self.overlay);
        let fov = read(&self.vulns.state);
        let n = ov.n_total;
        // (agent, app, max severity rank, first detection, last change)
        type AppRow = (u64, u8, u8, i64, i64);
        let mut buf = Vec::with_capacity(64);
        let mut apps_of = |i: u64, out: &mut Vec<AppRow>| {
            out.clear();
            let facts = self.tenant.facts(&ov, i);
            self.findings_of(&fov, i, &facts, &mut buf);
            let mut m: BTreeMap<u8, (u8, i64, i64)> = BTreeMap::new();
            for fd in &buf {
                let e = m
                    .entry(fd.entry.app)
                    .or_insert((0, fd.detected_us, fd.detected_us));
                if fd.present {
                    e.0 = e.0.max(sev_rank(fd.cve().severity));
                }
                e.1 = e.1.min(fd.detected_us);
                e.2 = e.2.max(fd.detected_us).max(fd.removed_us);
            }
            for (a, (r, d, u)) in m {
                let keep = ids.as_ref().is_none_or(|s| s.contains(&(i, a)))
                    && levels
                        .as_ref()
                        .is_none_or(|l| l.iter().any(|x| x == RISK_LEVELS[r as usize]));
                if keep {
                    out.push((i, a, r, d, u));
                }
            }
        };
        let mut total = 0u64;
        let mut tmp = Vec::new();
        if !lp.skip_count {
            let key = format!(
                "apps|{ids:?}|{levels:?}|{classes:?}|{}|{}",
                ov.generation, fov.generation
            );
            let cached = lock(&self.count_cache).get(&key).copied();
            total = match cached {
                Some(c) => c,
                None => {
                    let mut c = 0u64;
                    walk_agents(&classes, explicit.as_deref(), n, None, false, &mut |i| {
                        if i < n && !ov.deleted.contains(&i) {
                            apps_of(i, &mut tmp);
                            c += tmp.len() as u64;
                        }
                        true
                    });
                    lock(&self.count_cache).insert(key, c);
                    c
                }
            };
        }
        if lp.count_only {
            return Ok(list(Vec::<InstalledApplication>::new(), pg(total, None)));
        }
        let want = lp.skip + lp.limit + 1;
        let mut picked: Vec<AppRow> = Vec::new();
        walk_agents(
            &classes,
            explicit.as_deref(),
            n,
            after.map(|a| a.0),
            lp.desc,
            &mut |i| {
                if i >= n || ov.deleted.contains(&i) {
                    return true;
                }
                apps_of(i, &mut tmp);
                if lp.desc {
                    tmp.reverse();
                }
                for r in &tmp {
                    if let Some((ai, aa)) = after
                        && ai == i
                        && (if lp.desc {
                            u16::from(r.1) >= aa
                        } else {
                            u16::from(r.1) <= aa
                        })
                    {
                        continue;
                    }
                    picked.push(*r);
                    if picked.len() >= want {
                        return false;
                    }
                }
                true
            },
        );
        let has_more = picked.len() > lp.skip + lp.limit;
        picked.truncate(lp.skip + lp.limit);
        let page = &picked[lp.skip.min(picked.len())..];
        let next = match page.last() {
            Some(r) if has_more => Some(encode_cursor(&format!("id:{}", self.app_id(r.0, r.1)))),
            _ => None,
        };
        let mut rows = Vec::with_capacity(page.len());
        let mut cur: Option<(u64, Agent)> = None;
        for &(i, a, r, d, u) in page {
            if cur.as_ref().is_none_or(|c| c.0 != i) {
                cur = Some((i, self.tenant.agent(&ov, i)));
            }
            let Some((_, ag)) = &cur else { continue };
            let app = &APPS[a as usize];
            let installed = d
                - (hash3(self.tenant.mix, i * SLOTS + u64::from(a), S_INST)
                    % (400 * MICROS_PER_DAY) as u64) as i64;
            rows.push(InstalledApplication {
                agent_computer_name: ag.computer_name.clone(),
                agent_domain: ag.domain.clone(),
                agent_id: Some(ag.id.clone()),
                agent_infected: ag.infected,
                agent_is_active: ag.is_active,
                agent_is_decommissioned: ag.is_decommissioned,
                agent_machine_type: ag.machine_type.clone(),
                agent_network_status: ag.network_status.clone(),
                agent_operational_state: ag.operational_state.clone(),
                agent_os_type: ag.os_type.clone(),
                agent_uuid: ag.uuid.clone(),
                agent_version: ag.agent_version.clone(),
                created_at: Some(ts_micros(d)),
                id: Some(self.app_id(i, a).to_string()),
                installed_at: Some(ts_micros(installed)),
                name: Some(app.name.into()),
                os_type: ag.os_type.clone(),
                publisher: Some(app.vendor.into()),
                risk_level: Some(RISK_LEVELS[r as usize].into()),
                signed: Some(true),
                size: Some(app.size),
                r#type: Some("app".into()),
                updated_at: Some(ts_micros(u)),
                version: Some(app.version.into()),
            });
        }
        drop(fov);
        drop(ov);
        Ok(list(rows, pg(total, next)))
    }

    /// `GET /installed-applications/cves?applicationIds=…` (deprecated API): the current CVEs
    /// of those applications (of every application without the filter), by row id.
    pub(crate) fn list_installed_app_cves(
        &self,
        p: &Params,
        scoped: Option<u64>,
    ) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        Self::id_sort_only(p, "id, publishedAt, agentId, applicationId")?;
        let classes = self.agent_classes(p, scoped)?;
        let apps: Option<BTreeSet<(u64, u8)>> = p
            .csv("applicationIds")
            .map(|v| v.iter().filter_map(|id| self.app_of_id(id)).collect());
        let ids: Option<BTreeSet<(u64, u16, u16)>> = p.csv("ids").map(|v| {
            v.iter()
                .filter_map(|id| self.finding_of_id(1, id))
                .collect()
        });
        let mut explicit: Option<Vec<u64>> = None;
        for agents in [
            apps.as_ref()
                .map(|s| s.iter().map(|x| x.0).collect::<Vec<_>>()),
            ids.as_ref()
                .map(|s| s.iter().map(|x| x.0).collect::<Vec<_>>()),
        ]
        .into_iter()
        .flatten()
        {
            let mut v = agents;
            v.sort_unstable();
            v.dedup();
            explicit = Some(match explicit {
                None => v,
                Some(e) => e
                    .into_iter()
                    .filter(|x| v.binary_search(x).is_ok())
                    .collect(),
            });
        }
        let filter = RiskFilter {
            cve_ids: p.csv("cveIds"),
            apps,
            ..RiskFilter::default()
        };
        let after = match &lp.cursor {
            None => None,
            Some(c) => Some(self.finding_cursor(c, 1, "id:")?),
        };
        let ov = read(&self.overlay);
        let fov = read(&self.vulns.state);
        let id_ok = |i: u64, fd: &Finding| {
            ids.as_ref()
                .is_none_or(|s| s.contains(&(i, fd.slot, fd.reopens)))
        };
        let total = if lp.skip_count {
            0
        } else if ids.is_some() {
            let mut c = 0;
            self.visit_findings(
                &ov,
                &fov,
                &classes,
                explicit.as_deref(),
                &filter,
                None,
                false,
                |i, fd| {
                    c += u64::from(id_ok(i, fd));
                    true
                },
            );
            c
        } else {
            self.count_findings(&ov, &fov, &classes, explicit.as_deref(), &filter)
        };
        if lp.count_only {
            return Ok(list(Vec::<InstalledApplicationCve>::new(), pg(total, None)));
        }
        let want = lp.skip + lp.limit + 1;
        let mut picked: Vec<(u64, Finding)> = Vec::new();
        self.visit_findings(
            &ov,
            &fov,
            &classes,
            explicit.as_deref(),
            &filter,
            after,
            lp.desc,
            |i, fd| {
                if id_ok(i, fd) {
                    picked.push((i, *fd));
                }
                picked.len() < want
            },
        );
        let has_more = picked.len() > lp.skip + lp.limit;
        picked.truncate(lp.skip + lp.limit);
        let page = &picked[lp.skip.min(picked.len())..];
        let next = match page.last() {
            Some((i, fd)) if has_more => Some(encode_cursor(&format!(
                "id:{}",
                self.finding_id(1, *i, fd.slot, fd.reopens)
            ))),
            _ => None,
        };
        let rows: Vec<InstalledApplicationCve> = page
            .iter()
            .map(|(i, fd)| {
                let c = fd.cve();
                InstalledApplicationCve {
                    created_at: Some(ts_micros(fd.detected_us)),
                    cve_id: Some(c.id.into()),
                    description: Some(c.description.into()),
                    id: Some(self.finding_id(1, *i, fd.slot, fd.reopens).to_string()),
                    link: Some(format!("https://nvd.nist.gov/vuln/detail/{}", c.id)),
                    published_at: Some(c.published.into()),
                    risk_level: Some(RISK_LEVELS[sev_rank(c.severity) as usize].into()),
                    score: c.score.parse().ok(),
                    updated_at: Some(ts_micros(fd.detected_us)),
                }
            })
            .collect();
        drop(fov);
        drop(ov);
        Ok(list(rows, pg(total, next)))
    }

    /// Ground truth: every finding currently listed (not removed, agent not deleted).
    pub(crate) fn present_findings(&self) -> Vec<FindingKey> {
        let ov = read(&self.overlay);
        let fov = read(&self.vulns.state);
        let mut out = Vec::new();
        self.visit_findings(
            &ov,
            &fov,
            &Classes::all(),
            None,
            &RiskFilter::default(),
            None,
            false,
            |i, fd| {
                out.push(self.key_of(i, fd));
                true
            },
        );
        out
    }

    fn key_of(&self, i: u64, fd: &Finding) -> FindingKey {
        let app = fd.app();
        FindingKey {
            agent_id: self.tenant.agent_id(i),
            application: app.name.into(),
            version: app.version.into(),
            cve_id: fd.cve().id.into(),
        }
    }

    /// Fix, add and reopen findings. Reopens come first (from findings fixed in earlier
    /// batches), then fixes, then new findings; no finding is touched twice in one batch.
    pub(crate) fn apply_finding_changes(&self, c: &FindingChanges) -> ChangeReport {
        let ov = read(&self.overlay);
        let mut fov = write(&self.vulns.state);
        fov.generation += 1;
        fov.clock_us = fov.clock_us.max(ov.clock_us) + 3600 * MICROS_PER_SEC;
        let clock = fov.clock_us;
        let mix = hash3(self.tenant.mix, c.seed, fov.generation ^ 0xF1D0);
        let mut report = ChangeReport::default();
        let mut tick = 0i64;
        let mut next_ts = || {
            tick += 1;
            clock - 600 * MICROS_PER_SEC + tick * 1_013
        };
        let mut touched: BTreeSet<(u64, u16)> = BTreeSet::new();
        let n = ov.n_total;
        let mut buf = Vec::with_capacity(64);

        // Reopen: previously fixed findings of present agents, same entry, next generation.
        let mut removed: Vec<(u64, u16)> = fov
            .agents
            .iter()
            .filter(|(i, _)| **i < n && !ov.deleted.contains(i))
            .flat_map(|(&i, m)| {
                m.iter()
                    .filter(|(_, s)| !s.present && u64::from(s.reopens) + 1 < GENS)
                    .map(move |(&k, _)| (i, k))
            })
            .collect();
        for k in 0..u64::from(c.reopen_findings) {
            if removed.is_empty() {
                break;
            }
            let (i, slot) = removed.swap_remove((hash3(mix, k, 1) % removed.len() as u64) as usize);
            let ts = next_ts();
            if let Some(s) = fov.agents.get_mut(&i).and_then(|m| m.get_mut(&slot)) {
                s.present = true;
                s.reopens += 1;
                s.detected_us = ts;
                s.removed_us = 0;
                let fd = Finding {
                    slot,
                    entry: s.entry,
                    present: true,
                    reopens: s.reopens,
                    detected_us: ts,
                    removed_us: 0,
                };
                touched.insert((i, slot));
                report.reopened_findings.push(self.key_of(i, &fd));
            }
        }

        // Fix: a present finding of a present agent.
        if n > 0 {
            for k in 0..u64::from(c.fix_findings) {
                for attempt in 0..64u64 {
                    let i = hash3(mix, k * 64 + attempt, 2) % n;
                    if ov.deleted.contains(&i) {
                        continue;
                    }
                    let facts = self.tenant.facts(&ov, i);
                    self.findings_of(&fov, i, &facts, &mut buf);
                    let cands: Vec<Finding> = buf
                        .iter()
                        .filter(|fd| fd.present && !touched.contains(&(i, fd.slot)))
                        .copied()
                        .collect();
                    if cands.is_empty() {
                        continue;
                    }
                    let fd = cands[(hash3(mix, k, 3) % cands.len() as u64) as usize];
                    let ts = next_ts();
                    fov.agents.entry(i).or_default().insert(
                        fd.slot,
                        SlotState {
                            entry: fd.entry,
                            present: false,
                            reopens: fd.reopens,
                            detected_us: fd.detected_us,
                            removed_us: ts,
                        },
                    );
                    touched.insert((i, fd.slot));
                    report.fixed_findings.push(self.key_of(i, &fd));
                    break;
                }
            }

            // New: a pool entry the agent does not have yet, in a fresh slot.
            for k in 0..u64::from(c.new_findings) {
                for attempt in 0..64u64 {
                    let i = hash3(mix, k * 64 + attempt, 4) % n;
                    if ov.deleted.contains(&i) {
                        continue;
                    }
                    let facts = self.tenant.facts(&ov, i);
                    self.findings_of(&fov, i, &facts, &mut buf);
                    let next_slot = buf.last().map_or(0, |f| f.slot + 1);
                    if u64::from(next_slot) >= SLOTS {
                        continue;
                    }
                    let pool = pool(facts.os);
                    let start = (hash3(mix, k, 5) % pool.len().max(1) as u64) as usize;
                    let Some(entry) = (0..pool.len())
                        .map(|d| pool[(start + d) % pool.len()])
                        .find(|e| buf.iter().all(|fd| fd.entry != *e))
                    else {
                        continue;
                    };
                    let ts = next_ts();
                    let s = SlotState {
                        entry,
                        present: true,
                        reopens: 0,
                        detected_us: ts,
                        removed_us: 0,
                    };
                    fov.agents.entry(i).or_default().insert(next_slot, s);
                    touched.insert((i, next_slot));
                    let fd = Finding {
                        slot: next_slot,
                        entry,
                        present: true,
                        reopens: 0,
                        detected_us: ts,
                        removed_us: 0,
                    };
                    report.new_findings.push(self.key_of(i, &fd));
                    break;
                }
            }
        }
        drop(fov);
        drop(ov);
        lock(&self.count_cache).clear();
        report
    }
}

fn pg(total: u64, next: Option<String>) -> Pagination {
    Pagination {
        total_items: Some(total as i64),
        next_cursor: next,
    }
}

/// Visit agent indices `< n` of `classes` (or of the sorted `explicit` list, restricted to
/// `classes`) from `start` (inclusive) in ascending or descending order.
fn walk_agents(
    classes: &Classes,
    explicit: Option<&[u64]>,
    n: u64,
    start: Option<u64>,
    desc: bool,
    f: &mut dyn FnMut(u64) -> bool,
) {
    match (explicit, desc) {
        (Some(ex), false) => {
            for &i in ex
                .iter()
                .filter(|&&i| i < n && classes.contains(i) && start.is_none_or(|s| i >= s))
            {
                if !f(i) {
                    return;
                }
            }
        }
        (Some(ex), true) => {
            for &i in ex
                .iter()
                .rev()
                .filter(|&&i| i < n && classes.contains(i) && start.is_none_or(|s| i <= s))
            {
                if !f(i) {
                    return;
                }
            }
        }
        (None, false) => classes.for_each_asc(start.unwrap_or(0), n, f),
        (None, true) => {
            classes.for_each_desc(start.unwrap_or(u64::MAX).min(n.saturating_sub(1)), n, f)
        }
    }
}
