//! Deep Visibility and PowerQuery: process telemetry with labelled AI coding agents and decoys,
//! the DV query state machine (init-query → query-status → events, with the 409 right after
//! FINISHED, every terminal state on demand, the result cap) and PowerQuery (pq → pq-ping).
//!
//! The telemetry is built once from the seed: some endpoints run planted AI agents (several OSes,
//! versions in their paths, node/python-hosted ones, ones launched from an IDE, a service
//! account), others run look-alikes from research/ai-agents.md §3 (the AWS Copilot CLI,
//! pressly/goose, Electron helpers, package-manager installs, `--version` runs …), and both run
//! ordinary processes. The labels are the ground truth tests measure precision and recall
//! against; they are written here independently of the s1bridge catalog.
//!
//! Queries are really evaluated: a small parser reads the S1QL 1.0 / PowerQuery subset
//! (`AND`/`OR`/`NOT`, parentheses, `=`, `In`, `In AnyCase`, `In Contains AnyCase`, `ContainsCIS`,
//! `in:anycase`, `contains:anycase`, `| columns`, `| limit`) and answers 400 4000040 "could not
//! parse query" on anything else.

use std::collections::HashMap;

use s1bridge_api::dv::{
    DvEvent, DvInitQuery, DvQueryCreated, DvQueryStatus, PqCell, PqColumn, PqRequest, PqResult,
    QueryModeInfo,
};
use s1bridge_api::wire::Pagination;
use serde::{Deserialize, Serialize};

use crate::derive::{MICROS_PER_DAY, hash3, hex32, parse_ts};
use crate::query::{ApiError, Params, data, decode_cursor, encode_cursor, list, list_params};
use crate::tenant::{Os, Tenant};
use crate::{Faults, Inner, lock};

/// Shape of the process telemetry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct DvConfig {
    /// Endpoints running planted AI agents (each one or two agents, on several days).
    pub planted_endpoints: u32,
    /// Endpoints running look-alikes that must not be reported.
    pub decoy_endpoints: u32,
    /// Ordinary process events per planted or decoy endpoint.
    pub noise_per_endpoint: u32,
    /// Most events one Deep Visibility query or PowerQuery collects (the effective cap observed
    /// on consoles is 20,000).
    pub result_cap: u32,
    /// Status polls (or PowerQuery pings) before a query is done.
    pub polls_to_finish: u32,
    /// 409 "not ready" answers to `/dv/events` right after FINISHED, per query.
    pub not_ready_409s: u32,
}

impl Default for DvConfig {
    fn default() -> Self {
        DvConfig {
            planted_endpoints: 12,
            decoy_endpoints: 8,
            noise_per_endpoint: 6,
            result_cap: 20_000,
            polls_to_finish: 2,
            not_ready_409s: 1,
        }
    }
}

/// A planted AI agent: what a perfect detector reports for one (device, user, agent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlantedAgent {
    /// The device's agent id (`/agents` `id`).
    pub agent_id: String,
    pub computer_name: String,
    /// The person to report: the process user, or the device's last logged-in user when the
    /// process ran under a service account.
    pub user: String,
    /// The catalog id of the agent.
    pub agent: String,
    pub version: Option<String>,
    pub events: u32,
    /// The process ran under a service account (`user` is the device's last logged-in user).
    pub service_account: bool,
}

/// A decoy event: looks like an AI agent, is not one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecoyEvent {
    pub agent_id: String,
    pub reason: String,
    pub image_path: String,
    pub cmdline: String,
}

/// The labelled ground truth of the telemetry.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AiAgentTruth {
    pub planted: Vec<PlantedAgent>,
    pub decoys: Vec<DecoyEvent>,
}

/// One process-creation event.
#[derive(Clone, Debug)]
struct ProcEvent {
    id: String,
    time_us: i64,
    agent_id: String,
    agent_uuid: String,
    computer_name: String,
    os: Os,
    site_id: String,
    site_name: String,
    account_id: String,
    name: String,
    image_path: String,
    cmdline: String,
    user: String,
    parent: String,
}

/// A process template: `{u}` is the user's home-folder name.
struct Tpl {
    /// Catalog id for planted templates; the reason for decoys.
    label: &'static str,
    version: Option<&'static str>,
    image: &'static str,
    /// `{image}` is replaced by the image path.
    cmd: &'static str,
    parent: &'static str,
    /// Runs under this account instead of the logged-in user.
    service_user: Option<&'static str>,
}

const fn tpl(
    label: &'static str,
    version: Option<&'static str>,
    image: &'static str,
    cmd: &'static str,
    parent: &'static str,
) -> Tpl {
    Tpl {
        label,
        version,
        image,
        cmd,
        parent,
        service_user: None,
    }
}

const PLANTED_WINDOWS: &[Tpl] = &[
    tpl(
        "claude-code",
        None,
        r"C:\Users\{u}\.local\bin\claude.exe",
        r"{image} --resume",
        "pwsh.exe",
    ),
    tpl(
        "codex",
        Some("0.4.12"),
        r"C:\Users\{u}\.vscode\extensions\openai.chatgpt-0.4.12-win32-x64\bin\windows-x86_64\codex.exe",
        r"{image} app-server --analytics-default-enabled",
        "Code.exe",
    ),
    tpl(
        "cursor",
        None,
        r"C:\Users\{u}\AppData\Local\Programs\cursor\Cursor.exe",
        r#""{image}""#,
        "explorer.exe",
    ),
    tpl(
        "gemini-cli",
        None,
        r"C:\Program Files\nodejs\node.exe",
        r#""{image}" C:\Users\{u}\AppData\Roaming\npm\node_modules\@google\gemini-cli\bundle\gemini.js"#,
        "WindowsTerminal.exe",
    ),
    tpl(
        "lm-studio",
        None,
        r"C:\Users\{u}\AppData\Local\Programs\LM Studio\LM Studio.exe",
        r#""{image}""#,
        "explorer.exe",
    ),
];

const PLANTED_MACOS: &[Tpl] = &[
    tpl(
        "claude-code",
        Some("2.1.185"),
        "/Users/{u}/.local/share/claude/versions/2.1.185",
        "claude --resume",
        "zsh",
    ),
    tpl(
        "github-copilot",
        Some("0.0.339"),
        "/opt/homebrew/Caskroom/copilot-cli/0.0.339/copilot",
        "copilot",
        "zsh",
    ),
    tpl(
        "cursor",
        None,
        "/Applications/Cursor.app/Contents/MacOS/Cursor",
        "{image}",
        "launchd",
    ),
    tpl(
        "gemini-cli",
        Some("0.9.2"),
        "/opt/homebrew/bin/node",
        "node /opt/homebrew/lib/node_modules/npm/bin/npx-cli.js @google/gemini-cli@0.9.2 -p \"review the diff\"",
        "zsh",
    ),
    tpl(
        "windsurf",
        None,
        "/Applications/Windsurf.app/Contents/Resources/app/extensions/windsurf/bin/language_server_macos_arm",
        "{image} --run_child --enable_lsp --ide_name windsurf",
        "Windsurf Helper (Plugin)",
    ),
    tpl(
        "junie",
        Some("251.204"),
        "/Users/{u}/.local/share/junie/versions/251.204/Applications/junie.app/Contents/MacOS/junie",
        "junie --acp=true",
        "zed",
    ),
];

const PLANTED_LINUX: &[Tpl] = &[
    tpl(
        "cursor-agent",
        Some("2025.09.18-7ae6800"),
        "/home/{u}/.local/share/cursor-agent/versions/2025.09.18-7ae6800/cursor-agent",
        "cursor-agent",
        "bash",
    ),
    tpl(
        "aider",
        None,
        "/home/{u}/.local/share/uv/tools/aider-chat/bin/python",
        "/home/{u}/.local/share/uv/tools/aider-chat/bin/python /home/{u}/.local/bin/aider --model sonnet",
        "bash",
    ),
    tpl(
        "codex",
        None,
        "/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex",
        "codex exec",
        "node",
    ),
    Tpl {
        service_user: Some("ollama"),
        ..tpl(
            "ollama",
            None,
            "/usr/local/bin/ollama",
            "/usr/local/bin/ollama serve",
            "systemd",
        )
    },
    tpl(
        "tabnine",
        Some("4.205.0"),
        "/home/{u}/.tabnine/4.205.0/x86_64-unknown-linux-musl/WD-TabNine",
        "WD-TabNine --client IntelliJIDEA",
        "idea",
    ),
    tpl(
        "github-copilot",
        None,
        "/home/{u}/.local/share/JetBrains/IntelliJIdea2025.2/github-copilot-intellij/copilot-agent/native/linux-x64/copilot-language-server",
        "copilot-language-server --stdio",
        "idea",
    ),
    tpl(
        "claude-code",
        None,
        "/usr/bin/node",
        "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js -p \"summarise the failing tests\"",
        "bash",
    ),
];

const DECOY_WINDOWS: &[Tpl] = &[
    tpl(
        "Electron helper of Cursor",
        None,
        r"C:\Users\{u}\AppData\Local\Programs\cursor\Cursor.exe",
        r#""{image}" --type=gpu-process --field-trial-handle=1"#,
        "Cursor.exe",
    ),
    tpl(
        "Visual Studio ServiceHub (copilot substring)",
        None,
        r"C:\Program Files\Microsoft Visual Studio\2022\Professional\Common7\ServiceHub\Hosts\ServiceHub.Host.dotnet.x64\ServiceHub.Host.dotnet.x64.exe",
        "{image} copilot",
        "devenv.exe",
    ),
    tpl(
        "winget install of Claude Code",
        None,
        r"C:\Users\{u}\AppData\Local\Microsoft\WindowsApps\winget.exe",
        "winget install Anthropic.ClaudeCode",
        "pwsh.exe",
    ),
];

const DECOY_MACOS: &[Tpl] = &[
    tpl(
        "AWS Copilot CLI",
        None,
        "/opt/homebrew/bin/copilot",
        "copilot app deploy --name api",
        "zsh",
    ),
    tpl(
        "claude --ripgrep self re-exec",
        None,
        "/Users/{u}/.local/share/claude/versions/2.1.185",
        "/Users/{u}/.local/share/claude/versions/2.1.185 --ripgrep -n TODO",
        "2.1.185",
    ),
    tpl(
        "claude --version run",
        None,
        "/Users/{u}/.local/share/claude/versions/2.1.185",
        "claude --version",
        "zsh",
    ),
    tpl(
        "brew upgrade of gemini-cli",
        None,
        "/opt/homebrew/bin/brew",
        "brew upgrade gemini-cli",
        "zsh",
    ),
    tpl(
        "Electron helper of Cursor",
        None,
        "/Applications/Cursor.app/Contents/Frameworks/Cursor Helper (Renderer).app/Contents/MacOS/Cursor Helper (Renderer)",
        "{image} --type=renderer",
        "Cursor",
    ),
    tpl(
        "cursor shell command",
        None,
        "/Applications/Cursor.app/Contents/MacOS/Cursor",
        "/Applications/Cursor.app/Contents/Resources/app/out/cli.js .",
        "zsh",
    ),
];

const DECOY_LINUX: &[Tpl] = &[
    tpl(
        "pressly/goose database migration",
        None,
        "/home/{u}/.local/bin/goose",
        "goose -dir migrations postgres user=app up",
        "bash",
    ),
    tpl(
        "npm install of Codex",
        None,
        "/usr/bin/node",
        "node /usr/lib/node_modules/npm/bin/npm-cli.js install -g @openai/codex",
        "bash",
    ),
    tpl(
        "the word cursor in a path",
        None,
        "/usr/bin/node",
        "node /srv/app/cursor/worker-server.js",
        "pm2",
    ),
    tpl(
        "the word codex in a path",
        None,
        "/usr/bin/vim",
        "vim /home/{u}/src/codex/README.md",
        "bash",
    ),
    tpl(
        "raider is not aider",
        None,
        "/usr/bin/raider",
        "raider --scan",
        "bash",
    ),
    tpl(
        "kilo the editor",
        None,
        "/usr/local/bin/kilo",
        "kilo notes.txt",
        "bash",
    ),
    tpl(
        "agent names in a prompt",
        None,
        "/usr/bin/python3",
        "python3 server.py --prompt \"compare claude-code with cursor-agent and aider\"",
        "bash",
    ),
    tpl(
        "old Qwen Code bundle/gemini.js",
        None,
        "/usr/bin/node",
        "node /home/{u}/.npm/qwen-code/bundle/gemini.js",
        "bash",
    ),
];

const NOISE: &[(&str, &str, &str)] = &[
    ("/usr/bin/git", "git status", "bash"),
    ("/bin/bash", "bash -c ls -la", "sshd"),
    ("/usr/bin/python3", "python3 manage.py runserver", "bash"),
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\System32\svchost.exe -k netsvcs",
        "services.exe",
    ),
    (
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "Google Chrome",
        "launchd",
    ),
    ("/usr/bin/node", "node /srv/api/index.js", "systemd"),
];

/// Process telemetry, labels and running queries.
pub(crate) struct Telemetry {
    /// Sorted by time.
    events: Vec<ProcEvent>,
    truth: AiAgentTruth,
    queries: std::sync::Mutex<Queries>,
}

#[derive(Default)]
struct Queries {
    seq: u64,
    dv: HashMap<String, DvQuery>,
    pq: HashMap<String, PqQuery>,
}

struct DvQuery {
    events: Vec<usize>,
    polls: u32,
    finished: bool,
    cancelled: bool,
    not_ready_left: u32,
    forced: Option<String>,
}

struct PqQuery {
    rows: Vec<usize>,
    columns: Vec<(String, EvField)>,
    pings: u32,
    forced: Option<String>,
    limited_by_default: bool,
}

fn user_home(user: &str) -> String {
    let u = user.rsplit(['\\', '/']).next().unwrap_or(user);
    let u: String = u
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-')
        .collect();
    if u.is_empty() { "user".into() } else { u }
}

fn base_name(path: &str) -> String {
    path.rsplit(['\\', '/']).next().unwrap_or(path).to_string()
}

impl Telemetry {
    pub(crate) fn new(tenant: &Tenant, ov: &crate::tenant::Overlay, cfg: &DvConfig) -> Telemetry {
        let mix = hash3(tenant.mix, 0xD5, 0x1A);
        let n = tenant.n_base;
        let mut events = Vec::new();
        let mut truth = AiAgentTruth::default();
        let mut used = std::collections::HashSet::new();
        let mut next_id = 0u64;
        let id_base = 1_600_000_000_000_000_000u64 + (mix % 1_000_000) * 1_000_000;
        let endpoints = u64::from(cfg.planted_endpoints) + u64::from(cfg.decoy_endpoints);
        for k in 0..endpoints.min(n) {
            // A distinct agent index per endpoint.
            // Planted agents run on devices with a logged-in user (the person to report).
            let planted = k < u64::from(cfg.planted_endpoints);
            let start = hash3(mix, k, 1) % n;
            let free = |i: &u64| !used.contains(i);
            let with_user = |i: &u64| {
                tenant
                    .agent(ov, *i)
                    .last_logged_in_user_name
                    .as_deref()
                    .is_some_and(|u| !u.trim().is_empty())
            };
            let candidates = (0..n).map(|d| (start + d) % n).filter(free);
            let pick = if planted {
                candidates
                    .clone()
                    .find(with_user)
                    .or_else(|| candidates.clone().next())
            } else {
                candidates.clone().next()
            };
            let Some(i) = pick else { break };
            used.insert(i);
            let agent = tenant.agent(ov, i);
            let os = agent
                .os_type
                .as_deref()
                .and_then(Os::parse)
                .unwrap_or(Os::Linux);
            let person = agent
                .last_logged_in_user_name
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "user".into());
            let home = user_home(&person);
            let pool = match (planted, os) {
                (true, Os::Windows) => PLANTED_WINDOWS,
                (true, Os::Macos) => PLANTED_MACOS,
                (true, Os::Linux) => PLANTED_LINUX,
                (false, Os::Windows) => DECOY_WINDOWS,
                (false, Os::Macos) => DECOY_MACOS,
                (false, Os::Linux) => DECOY_LINUX,
            };
            // One or two templates; planted ones of distinct agents.
            let first = (hash3(mix, k, 2) % pool.len() as u64) as usize;
            let mut picks = vec![first];
            if hash3(mix, k, 3).is_multiple_of(2) {
                let second = (first + 1 + (hash3(mix, k, 4) % (pool.len() as u64 - 1)) as usize)
                    % pool.len();
                if !planted || pool[second].label != pool[first].label {
                    picks.push(second);
                }
            }
            let mut push = |t: &Tpl, time_us: i64, events: &mut Vec<ProcEvent>| {
                let image = t.image.replace("{u}", &home);
                let cmdline = t.cmd.replace("{image}", &image).replace("{u}", &home);
                next_id += 1;
                events.push(ProcEvent {
                    id: (id_base + next_id * 7 + hash3(mix, next_id, 9) % 7).to_string(),
                    time_us,
                    agent_id: agent.id.clone(),
                    agent_uuid: agent.uuid.clone().unwrap_or_default(),
                    computer_name: agent.computer_name.clone().unwrap_or_default(),
                    os,
                    site_id: agent.site_id.clone().unwrap_or_default(),
                    site_name: agent.site_name.clone().unwrap_or_default(),
                    account_id: agent.account_id.clone().unwrap_or_default(),
                    name: base_name(&image),
                    image_path: image,
                    cmdline,
                    user: t
                        .service_user
                        .map_or_else(|| person.clone(), str::to_string),
                    parent: t.parent.to_string(),
                });
            };
            // Times: inside the last 6.5 days, at least 30 minutes before "now".
            let when = |salt: u64, j: u64| {
                tenant.epoch_us
                    - 30 * 60 * 1_000_000
                    - (hash3(mix, k * 1_000 + salt, j)
                        % (6 * MICROS_PER_DAY as u64 + MICROS_PER_DAY as u64 / 2))
                        as i64
            };
            for (p, &t) in picks.iter().enumerate() {
                let t = &pool[t];
                let count = 2 + (hash3(mix, k, 10 + p as u64) % 4) as u32;
                for j in 0..count {
                    push(t, when(20 + p as u64, u64::from(j)), &mut events);
                }
                let image = t.image.replace("{u}", &home);
                if planted {
                    truth.planted.push(PlantedAgent {
                        agent_id: agent.id.clone(),
                        computer_name: agent.computer_name.clone().unwrap_or_default(),
                        user: person.clone(),
                        agent: t.label.to_string(),
                        version: t.version.map(str::to_string),
                        events: count,
                        service_account: t.service_user.is_some(),
                    });
                } else {
                    truth.decoys.push(DecoyEvent {
                        agent_id: agent.id.clone(),
                        reason: t.label.to_string(),
                        cmdline: t.cmd.replace("{image}", &image).replace("{u}", &home),
                        image_path: image,
                    });
                }
            }
            for j in 0..u64::from(cfg.noise_per_endpoint) {
                let (image, cmd, parent) =
                    NOISE[(hash3(mix, k, 40 + j) % NOISE.len() as u64) as usize];
                let t = Tpl {
                    label: "noise",
                    version: None,
                    image,
                    cmd,
                    parent,
                    service_user: None,
                };
                push(&t, when(60, j), &mut events);
            }
        }
        events.sort_by(|a, b| a.time_us.cmp(&b.time_us).then_with(|| a.id.cmp(&b.id)));
        Telemetry {
            events,
            truth,
            queries: std::sync::Mutex::new(Queries::default()),
        }
    }

    pub(crate) fn truth(&self) -> AiAgentTruth {
        self.truth.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The query language subset

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EvField {
    EventType,
    EventId,
    EventTime,
    AgentUuid,
    AgentId,
    EndpointName,
    EndpointOs,
    SiteId,
    TgtName,
    TgtImagePath,
    TgtCmdline,
    TgtUser,
    SrcName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    S1ql,
    PowerQuery,
}

fn field_of(name: &str, d: Dialect) -> Option<EvField> {
    use EvField::*;
    let f = match d {
        Dialect::S1ql => match name.to_ascii_lowercase().as_str() {
            "eventtype" => EventType,
            "agentuuid" => AgentUuid,
            "agentid" => AgentId,
            "endpointname" => EndpointName,
            "endpointos" | "agentos" => EndpointOs,
            "siteid" => SiteId,
            "tgtprocname" => TgtName,
            "tgtprocimagepath" => TgtImagePath,
            "tgtproccmdline" => TgtCmdline,
            "tgtprocuser" => TgtUser,
            "srcprocname" => SrcName,
            _ => return None,
        },
        Dialect::PowerQuery => match name {
            "event.type" => EventType,
            "event.id" => EventId,
            "event.time" | "timestamp" => EventTime,
            "agent.uuid" => AgentUuid,
            "endpoint.name" => EndpointName,
            "endpoint.os" => EndpointOs,
            "site.id" => SiteId,
            "tgt.process.name" => TgtName,
            "tgt.process.image.path" => TgtImagePath,
            "tgt.process.cmdline" => TgtCmdline,
            "tgt.process.user" => TgtUser,
            "src.process.name" => SrcName,
            _ => return None,
        },
    };
    Some(f)
}

impl ProcEvent {
    fn text(&self, f: EvField) -> String {
        match f {
            EvField::EventType => "Process Creation".into(),
            EvField::EventId => self.id.clone(),
            EvField::EventTime => (self.time_us / 1000).to_string(),
            EvField::AgentUuid => self.agent_uuid.clone(),
            EvField::AgentId => self.agent_id.clone(),
            EvField::EndpointName => self.computer_name.clone(),
            EvField::EndpointOs => match self.os {
                Os::Macos => "osx".into(),
                o => o.as_str().into(),
            },
            EvField::SiteId => self.site_id.clone(),
            EvField::TgtName => self.name.clone(),
            EvField::TgtImagePath => self.image_path.clone(),
            EvField::TgtCmdline => self.cmdline.clone(),
            EvField::TgtUser => self.user.clone(),
            EvField::SrcName => self.parent.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    In,
    InAnyCase,
    ContainsAnyCase,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(EvField, Op, Vec<String>),
}

impl Expr {
    fn eval(&self, e: &ProcEvent) -> bool {
        match self {
            Expr::And(a, b) => a.eval(e) && b.eval(e),
            Expr::Or(a, b) => a.eval(e) || b.eval(e),
            Expr::Not(a) => !a.eval(e),
            Expr::Cmp(f, op, values) => {
                let v = e.text(*f);
                let lower = v.to_lowercase();
                values.iter().any(|x| match op {
                    Op::Eq | Op::In => v == *x,
                    Op::InAnyCase => lower == x.to_lowercase(),
                    Op::ContainsAnyCase => lower.contains(&x.to_lowercase()),
                })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Eq,
    Str(String),
    Word(String),
}

fn tokenize(s: &str, d: Dialect) -> Result<Vec<Tok>, ApiError> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' | ')' | ',' | '=' => {
                it.next();
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    _ => Tok::Eq,
                });
            }
            '"' => {
                it.next();
                let mut v = String::new();
                loop {
                    match it.next() {
                        None => return Err(ApiError::BadQuery),
                        Some('"') => break,
                        Some('\\') if d == Dialect::PowerQuery => match it.next() {
                            Some(x @ ('\\' | '"')) => v.push(x),
                            _ => return Err(ApiError::BadQuery),
                        },
                        Some(x) => v.push(x),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&x) = it.peek() {
                    if x.is_whitespace() || "()=,\"".contains(x) {
                        break;
                    }
                    w.push(x);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    dialect: Dialect,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn expr(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }
    fn and_expr(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        loop {
            if self.keyword("and") {
                self.pos += 1;
            } else if !(self.dialect == Dialect::PowerQuery
                && matches!(self.peek(), Some(Tok::LParen | Tok::Word(_)))
                && !self.keyword("or"))
            {
                break;
            }
            // PowerQuery: filters on separate lines are ANDed.
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.expr()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(ApiError::BadQuery);
            }
            self.pos += 1;
            return Ok(e);
        }
        let Some(Tok::Word(name)) = self.peek().cloned() else {
            return Err(ApiError::BadQuery);
        };
        self.pos += 1;
        let field = field_of(&name, self.dialect).ok_or(ApiError::BadQuery)?;
        let mut op_words = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Eq) => {
                    op_words.push("=".to_string());
                    self.pos += 1;
                }
                Some(Tok::Word(w)) => {
                    op_words.push(w.to_ascii_lowercase());
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let op = match op_words.join(" ").as_str() {
            "=" => Op::Eq,
            "in" => Op::In,
            "in anycase" | "in:anycase" => Op::InAnyCase,
            "in contains anycase"
            | "contains:anycase"
            | "containscis"
            | "contains anycase"
            | "contains" => Op::ContainsAnyCase,
            _ => return Err(ApiError::BadQuery),
        };
        let values = match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                vec![s]
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let mut v = Vec::new();
                loop {
                    match self.peek().cloned() {
                        Some(Tok::Str(s)) => v.push(s),
                        _ => return Err(ApiError::BadQuery),
                    }
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RParen) => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(ApiError::BadQuery),
                    }
                }
                v
            }
            _ => return Err(ApiError::BadQuery),
        };
        Ok(Expr::Cmp(field, op, values))
    }
}

fn parse_filter(text: &str, d: Dialect) -> Result<Expr, ApiError> {
    let mut p = Parser {
        toks: tokenize(text, d)?,
        pos: 0,
        dialect: d,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(ApiError::BadQuery);
    }
    Ok(e)
}

/// Split a PowerQuery at `|` outside string literals.
fn pipeline(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_str, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            '\\' if in_str && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_str = !in_str,
            '|' if !in_str => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        escaped = false;
    }
    parts.push(&text[start..]);
    parts
}

// ---------------------------------------------------------------------------------------------
// Endpoints

fn ms_ts(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn mode_info() -> QueryModeInfo {
    QueryModeInfo {
        last_activated_at: Some("2022-07-31T08:11:06+00:00".into()),
        mode: Some("scalyr".into()),
    }
}

fn window(from: &str, to: &str) -> Result<(i64, i64), ApiError> {
    let f = parse_ts(from)
        .ok_or_else(|| ApiError::Validation("fromDate: Not a valid datetime.".into()))?;
    let t =
        parse_ts(to).ok_or_else(|| ApiError::Validation("toDate: Not a valid datetime.".into()))?;
    if f >= t {
        return Err(ApiError::Validation(
            "fromDate: must be earlier than toDate.".into(),
        ));
    }
    Ok((f, t))
}

fn check_limit(limit: Option<u32>) -> Result<(), ApiError> {
    match limit {
        Some(l) if !(1..=100_000).contains(&l) => Err(ApiError::Validation(
            "limit: Must be greater than or equal to 1 and less than or equal to 100000.".into(),
        )),
        _ => Ok(()),
    }
}

fn body_of<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Validation(format!("Invalid request body: {e}")))
}

impl Inner {
    fn matching(&self, filter: &Expr, from: i64, to: i64, cap: usize) -> Vec<usize> {
        self.dv
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.time_us >= from && e.time_us < to && filter.eval(e))
            .map(|(k, _)| k)
            .take(cap)
            .collect()
    }

    fn new_query_id(&self, q: &mut Queries, prefix: &str) -> String {
        q.seq += 1;
        let a = hash3(self.tenant.mix, q.seq, 0xD0);
        format!("{prefix}{}", hex32(a, hash3(a, q.seq, 1)))
    }

    pub(crate) fn dv_init_query(&self, body: &[u8], faults: &Faults) -> Result<Vec<u8>, ApiError> {
        let req: DvInitQuery = body_of(body)?;
        if req.query.trim().is_empty() {
            return Err(ApiError::Validation(
                "query: Missing data for required field.".into(),
            ));
        }
        let (from, to) = window(&req.from_date, &req.to_date)?;
        check_limit(req.limit)?;
        let filter = parse_filter(&req.query, Dialect::S1ql)?;
        let cap = req.limit.unwrap_or(100_000).min(self.cfg.dv.result_cap) as usize;
        let events = self.matching(&filter, from, to, cap);
        let mut q = lock(&self.dv.queries);
        let id = self.new_query_id(&mut q, "q");
        q.dv.insert(
            id.clone(),
            DvQuery {
                events,
                polls: 0,
                finished: false,
                cancelled: false,
                not_ready_left: self.cfg.dv.not_ready_409s,
                forced: faults.dv_terminal_state.clone(),
            },
        );
        Ok(data(DvQueryCreated {
            query_id: id,
            query_mode_info: Some(mode_info()),
        }))
    }

    pub(crate) fn dv_query_status(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let id = match p.get("queryId").map(str::trim) {
            None | Some("") => {
                return Err(ApiError::Validation(
                    "queryId: Missing data for required field.".into(),
                ));
            }
            Some(id) => id,
        };
        let mut q = lock(&self.dv.queries);
        let Some(query) = q.dv.get_mut(id) else {
            return Err(ApiError::Validation(
                "queryId: Query not found or expired.".into(),
            ));
        };
        query.polls += 1;
        let done = query.polls >= self.cfg.dv.polls_to_finish;
        let (state, progress) = if query.cancelled {
            ("QUERY_CANCELLED".to_string(), 100)
        } else if !done {
            let s = if query.polls == 1 {
                "RUNNING"
            } else {
                "EVENTS_RUNNING"
            };
            (
                s.to_string(),
                (100 * query.polls / self.cfg.dv.polls_to_finish.max(1)) as i64,
            )
        } else {
            match &query.forced {
                Some(s) if s == "RUNNING" => ("RUNNING".to_string(), 99),
                Some(s) => (s.clone(), 100),
                None => {
                    query.finished = true;
                    ("FINISHED".to_string(), 100)
                }
            }
        };
        let response_error = matches!(state.as_str(), "FAILED" | "FAILED_CLIENT")
            .then(|| format!("Query {state}: the simulated console failed this query"));
        Ok(data(DvQueryStatus {
            progress_status: Some(progress),
            query_mode_info: Some(mode_info()),
            response_error,
            response_state: Some(state),
            warnings: vec![],
        }))
    }

    pub(crate) fn dv_cancel_query(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            query_id: String,
        }
        let b: Body = body_of(body)?;
        let mut q = lock(&self.dv.queries);
        let query = q
            .dv
            .get_mut(&b.query_id)
            .ok_or_else(|| ApiError::Validation("queryId: Query not found or expired.".into()))?;
        query.cancelled = true;
        Ok(data(serde_json::json!({ "success": true })))
    }

    pub(crate) fn dv_events(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let lp = list_params(p, 1000)?;
        let id = p.get("queryId").map(str::trim).unwrap_or("");
        let mut q = lock(&self.dv.queries);
        let query = q
            .dv
            .get_mut(id)
            .ok_or_else(|| ApiError::Validation("queryId: Query not found or expired.".into()))?;
        if !query.finished {
            return Err(ApiError::Conflict(
                "The query is still running; poll query-status until FINISHED.".into(),
            ));
        }
        if query.not_ready_left > 0 {
            query.not_ready_left -= 1;
            return Err(ApiError::Conflict(
                "Events are not ready yet; try again shortly.".into(),
            ));
        }
        let offset = match &lp.cursor {
            None => 0usize,
            Some(c) => decode_cursor(c)?
                .strip_prefix("dv:")
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| ApiError::Validation("cursor: Invalid cursor.".into()))?,
        };
        let limit = lp.limit;
        let end = (offset + limit).min(query.events.len());
        let page: Vec<DvEvent> = query.events[offset.min(end)..end]
            .iter()
            .map(|&k| dv_event(&self.dv.events[k]))
            .collect();
        let next = (end < query.events.len()).then(|| encode_cursor(&format!("dv:{end}")));
        Ok(list(
            page,
            Pagination {
                total_items: Some(query.events.len() as i64),
                next_cursor: next,
            },
        ))
    }

    pub(crate) fn pq_start(&self, body: &[u8], faults: &Faults) -> Result<Vec<u8>, ApiError> {
        if faults.powerquery_not_licensed {
            return Err(ApiError::NotLicensed(
                s1bridge_api::features::Capability::DeepVisibility,
            ));
        }
        let req: PqRequest = body_of(body)?;
        if req.query.trim().is_empty() {
            return Err(ApiError::Validation(
                "query: Missing data for required field.".into(),
            ));
        }
        let (from, to) = window(&req.from_date, &req.to_date)?;
        check_limit(req.limit)?;
        let stages = pipeline(&req.query);
        let filter = parse_filter(stages[0], Dialect::PowerQuery)?;
        let mut columns: Vec<(String, EvField)> = Vec::new();
        let mut limit: Option<usize> = None;
        for stage in &stages[1..] {
            let stage = stage.trim();
            if let Some(rest) = stage.strip_prefix("columns ") {
                for col in rest.split(',') {
                    let (alias, field) = match col.split_once('=') {
                        Some((a, f)) => (a.trim(), f.trim()),
                        None => (col.trim(), col.trim()),
                    };
                    let f = field_of(field, Dialect::PowerQuery).ok_or(ApiError::BadQuery)?;
                    columns.push((alias.to_string(), f));
                }
            } else if let Some(n) = stage.strip_prefix("limit ") {
                limit = Some(n.trim().parse().map_err(|_| ApiError::BadQuery)?);
            } else {
                return Err(ApiError::BadQuery);
            }
        }
        if columns.is_empty() {
            columns = vec![
                ("eventTime".into(), EvField::EventTime),
                ("agentUuid".into(), EvField::AgentUuid),
                ("siteId".into(), EvField::SiteId),
            ];
        }
        let cap = limit
            .unwrap_or(1000)
            .min(self.cfg.dv.result_cap as usize)
            .min(req.limit.map_or(usize::MAX, |l| l as usize));
        let rows = self.matching(&filter, from, to, cap);
        let mut q = lock(&self.dv.queries);
        let id = self.new_query_id(&mut q, "pq");
        q.pq.insert(
            id.clone(),
            PqQuery {
                rows,
                columns,
                pings: 0,
                forced: faults.dv_terminal_state.clone(),
                limited_by_default: limit.is_none(),
            },
        );
        Ok(data(PqResult {
            columns: vec![],
            data: vec![],
            external_id: Some(format!(
                "{{\"lrqToken\":\"{}\",\"target\":\"__E1__sim\"}}",
                crate::derive::uuid_dashed(self.tenant.mix, q.seq)
            )),
            progress: Some(0),
            query_id: Some(id),
            recommendations: vec![],
            status: Some("RUNNING".into()),
        }))
    }

    pub(crate) fn pq_ping(&self, p: &Params, faults: &Faults) -> Result<Vec<u8>, ApiError> {
        if faults.powerquery_not_licensed {
            return Err(ApiError::NotLicensed(
                s1bridge_api::features::Capability::DeepVisibility,
            ));
        }
        let id = p.get("queryId").map(str::trim).unwrap_or("");
        let mut q = lock(&self.dv.queries);
        let query = q
            .pq
            .get_mut(id)
            .ok_or_else(|| ApiError::Validation("queryId: Query not found or expired.".into()))?;
        query.pings += 1;
        let done = query.pings + 1 >= self.cfg.dv.polls_to_finish;
        let status = match (&query.forced, done) {
            (_, false) => "RUNNING".to_string(),
            (Some(s), true) if s == "RUNNING" => "RUNNING".to_string(),
            (Some(_), true) => "FAILED".to_string(),
            (None, true) => "FINISHED".to_string(),
        };
        let finished = status == "FINISHED";
        let columns = if finished {
            query
                .columns
                .iter()
                .map(|(name, f)| PqColumn {
                    name: name.clone(),
                    kind: Some(
                        if *f == EvField::EventTime {
                            "INTEGER"
                        } else {
                            "STRING"
                        }
                        .into(),
                    ),
                })
                .collect()
        } else {
            vec![]
        };
        let rows = if finished {
            query
                .rows
                .iter()
                .map(|&k| {
                    let e = &self.dv.events[k];
                    query
                        .columns
                        .iter()
                        .map(|(_, f)| {
                            Some(match f {
                                EvField::EventTime => PqCell::Int(e.time_us / 1000),
                                other => PqCell::Text(e.text(*other)),
                            })
                        })
                        .collect()
                })
                .collect()
        } else {
            vec![]
        };
        let recommendations = if finished && query.limited_by_default {
            vec!["Result set limited to 1000 rows by default. To display more rows, add a command like \"| limit 10000\".".to_string()]
        } else {
            vec![]
        };
        Ok(data(PqResult {
            columns,
            data: rows,
            external_id: None,
            progress: Some(if finished { 100 } else { 50 }),
            query_id: Some(id.to_string()),
            recommendations,
            status: Some(status),
        }))
    }
}

fn dv_event(e: &ProcEvent) -> DvEvent {
    let t = ms_ts(e.time_us);
    DvEvent {
        account_id: Some(e.account_id.clone()),
        agent_id: Some(e.agent_id.clone()),
        agent_name: Some(e.computer_name.clone()),
        agent_os: Some(e.os.as_str().into()),
        agent_uuid: Some(e.agent_uuid.clone()),
        created_at: Some(t.clone()),
        endpoint_name: Some(e.computer_name.clone()),
        endpoint_os: Some(e.os.as_str().into()),
        event_time: Some(t),
        event_type: Some("Process Creation".into()),
        id: Some(e.id.clone()),
        object_type: Some("process".into()),
        parent_pid: None,
        parent_process_name: Some(e.parent.clone()),
        pid: Some((10_000 + (hash3(e.time_us as u64, 1, 2) % 50_000)).to_string()),
        process_cmd: Some(e.cmdline.clone()),
        process_image_path: Some(e.image_path.clone()),
        process_name: Some(e.name.clone()),
        process_user_name: Some(e.user.clone()),
        site_id: Some(e.site_id.clone()),
        site_name: Some(e.site_name.clone()),
        user: Some(e.user.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> ProcEvent {
        ProcEvent {
            id: "1".into(),
            time_us: 0,
            agent_id: "a".into(),
            agent_uuid: "u".into(),
            computer_name: "h".into(),
            os: Os::Windows,
            site_id: "s".into(),
            site_name: "S".into(),
            account_id: "c".into(),
            name: "Cursor.exe".into(),
            image_path: r"C:\Users\x\AppData\Local\Programs\cursor\Cursor.exe".into(),
            cmdline: "Cursor.exe --type=renderer".into(),
            user: "x".into(),
            parent: "explorer.exe".into(),
        }
    }

    #[test]
    fn s1ql_and_powerquery_subsets_evaluate() {
        let e = ev();
        let yes = [
            (
                r#"EventType = "Process Creation" AND TgtProcName In AnyCase ("cursor.exe")"#,
                Dialect::S1ql,
            ),
            (
                r#"EventType = "Process Creation" AND (TgtProcImagePath In Contains AnyCase ("programs\cursor") OR TgtProcName = "x")"#,
                Dialect::S1ql,
            ),
            (
                r#"TgtProcCmdLine ContainsCIS "--TYPE=" AND NOT TgtProcName In ("x")"#,
                Dialect::S1ql,
            ),
            (
                "event.type = \"Process Creation\"\ntgt.process.image.path contains:anycase (\"programs\\\\cursor\")",
                Dialect::PowerQuery,
            ),
        ];
        for (q, d) in yes {
            assert!(parse_filter(q, d).expect(q).eval(&e), "{q}");
        }
        let no = parse_filter(r#"TgtProcName In ("cursor.exe")"#, Dialect::S1ql).expect("parses");
        assert!(!no.eval(&e), "In is case-sensitive");
        for bad in [
            "EventType = ",
            "Bogus = \"x\"",
            "TgtProcName Like \"x\"",
            "(TgtProcName = \"x\"",
            "TgtProcName = \"x",
        ] {
            assert!(
                matches!(parse_filter(bad, Dialect::S1ql), Err(ApiError::BadQuery)),
                "{bad}"
            );
        }
    }

    #[test]
    fn pipelines_split_outside_strings() {
        assert_eq!(
            pipeline("a = \"x|y\" | limit 5"),
            vec!["a = \"x|y\" ", " limit 5"]
        );
    }
}
