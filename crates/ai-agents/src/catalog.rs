//! The catalog file: its format, loading, and validation with file/line errors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The catalog shipped with s1bridge (`crates/ai-agents/catalog.toml`).
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");
/// How the built-in catalog is named in errors.
pub const BUILTIN_NAME: &str = "<built-in catalog.toml>";

/// The only format version this build reads.
pub const FORMAT: u32 = 1;

/// An operating system as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Windows,
    Macos,
    Linux,
}

impl Os {
    /// From a console value (`agentOs`/`endpointOs`/`osType`: `windows`, `windows_legacy`,
    /// `macos`, `osx`, `linux`; any case). `None` for anything else.
    pub fn from_console(s: &str) -> Option<Os> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("windows") {
            Some(Os::Windows)
        } else if s == "macos" || s == "osx" || s == "mac" || s == "darwin" {
            Some(Os::Macos)
        } else if s == "linux" {
            Some(Os::Linux)
        } else {
            None
        }
    }
}

/// Where a rule reads a version from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionField {
    ImagePath,
    Cmdline,
}

/// `version = { from, after, stop }`: the text after `after` up to the first character of
/// `stop` (default `/`); a version must start with a digit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRule {
    pub from: VersionField,
    pub after: String,
    #[serde(default = "default_stop")]
    pub stop: String,
}

fn default_stop() -> String {
    "/".to_string()
}

/// One signature of an agent. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: Spanned<String>,
    #[serde(default)]
    pub os: Vec<Os>,
    #[serde(default)]
    pub image_path_any: Vec<String>,
    #[serde(default)]
    pub image_name_any: Vec<String>,
    #[serde(default)]
    pub host_any: Vec<String>,
    #[serde(default)]
    pub cmdline_any: Vec<String>,
    #[serde(default)]
    pub cmdline_none: Vec<String>,
    #[serde(default)]
    pub parent_any: Vec<String>,
    pub version: Option<VersionRule>,
}

impl Rule {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }

    /// Whether the rule may match events of `os` (`None`: the event's OS is unknown, which
    /// every rule accepts).
    pub fn applies_to(&self, os: Option<Os>) -> bool {
        self.os.is_empty() || os.is_none_or(|o| self.os.contains(&o))
    }
}

/// An agent of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: Spanned<String>,
    pub name: String,
    pub vendor: String,
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
}

impl Agent {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
}

/// A global classifier applied before any rule: a matching event is never a detection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    pub id: Spanned<String>,
    pub reason: String,
    #[serde(default)]
    pub cmdline_any: Vec<String>,
    #[serde(default)]
    pub cmdline_ends_any: Vec<String>,
    #[serde(default)]
    pub image_name_any: Vec<String>,
}

impl Exclusion {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    format: Spanned<u32>,
    #[serde(rename = "exclusion", default)]
    exclusions: Vec<Exclusion>,
    #[serde(rename = "agent", default)]
    agents: Vec<Agent>,
}

/// A loaded, validated catalog. Patterns are stored lower-case with `/` separators.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub agents: Vec<Agent>,
    pub exclusions: Vec<Exclusion>,
    /// Where it came from (a path, or [`BUILTIN_NAME`]).
    pub source: String,
}

/// What is wrong with a catalog file, where (1-based line and column when known), and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("AI agent catalog {}: cannot read it: {source}; check the path given to --ai-catalog", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("AI agent catalog {file}{}: {message} — fix the file (its format is described at the top of the built-in catalog.toml) or remove the override to use the built-in catalog", position(*.line, *.column))]
    Invalid {
        file: String,
        /// 1-based; 0 when the problem is the file as a whole.
        line: usize,
        column: Option<usize>,
        message: String,
    },
}

impl CatalogError {
    /// 1-based line of the problem, when it is on a line.
    pub fn line(&self) -> Option<usize> {
        match self {
            CatalogError::Invalid { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }
}

fn position(line: usize, column: Option<usize>) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, Some(c)) => format!(" line {l} column {c}"),
        (l, None) => format!(" line {l}"),
    }
}

/// 1-based (line, column) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Catalog {
    /// The catalog shipped with s1bridge. It is validated by the crate's tests, so a failure here
    /// is a build defect.
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN_CATALOG, BUILTIN_NAME)
            .unwrap_or_else(|e| panic!("the built-in AI agent catalog is invalid: {e}"))
    }

    /// Load an override file (a full replacement of the built-in catalog).
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::parse(&text, &path.display().to_string())
    }

    /// The catalog at `path`, or the built-in one.
    pub fn load_or_builtin(path: Option<&Path>) -> Result<Catalog, CatalogError> {
        match path {
            Some(p) => Catalog::load(p),
            None => Ok(Catalog::builtin()),
        }
    }

    /// Parse and validate catalog text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Catalog, CatalogError> {
        let invalid = |offset: Option<usize>, message: String| {
            let (line, column) = offset.map_or((0, None), |o| {
                let (l, c) = line_col(text, o);
                (l, Some(c))
            });
            CatalogError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: CatalogFile = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().to_string()))?;
        if *raw.format.get_ref() != FORMAT {
            return Err(invalid(
                Some(raw.format.span().start),
                format!(
                    "format {} is not supported by this s1bridge (it reads format {FORMAT})",
                    raw.format.get_ref()
                ),
            ));
        }
        if raw.agents.is_empty() {
            return Err(invalid(None, "the catalog lists no [[agent]]".into()));
        }
        let mut catalog = Catalog {
            agents: raw.agents,
            exclusions: raw.exclusions,
            source: file.to_string(),
        };
        catalog.normalise();
        catalog
            .validate()
            .map_err(|(offset, m)| invalid(offset, m))?;
        Ok(catalog)
    }

    fn normalise(&mut self) {
        let norm = |v: &mut Vec<String>| {
            for s in v.iter_mut() {
                *s = normalise_text(s);
            }
        };
        for a in &mut self.agents {
            for r in &mut a.rules {
                norm(&mut r.image_path_any);
                norm(&mut r.image_name_any);
                norm(&mut r.host_any);
                norm(&mut r.cmdline_any);
                norm(&mut r.cmdline_none);
                norm(&mut r.parent_any);
                if let Some(v) = &mut r.version {
                    v.after = normalise_text(&v.after);
                }
            }
        }
        for e in &mut self.exclusions {
            norm(&mut e.cmdline_any);
            norm(&mut e.cmdline_ends_any);
            norm(&mut e.image_name_any);
        }
    }

    /// Unique ids, an anchor per rule (so the generated query covers it), no runtime without a
    /// command-line token, no empty or quote-carrying pattern.
    fn validate(&self) -> Result<(), (Option<usize>, String)> {
        let mut agent_ids = HashSet::new();
        for e in &self.exclusions {
            let at = Some(e.id.span().start);
            if e.cmdline_any.is_empty()
                && e.cmdline_ends_any.is_empty()
                && e.image_name_any.is_empty()
            {
                return Err((at, format!("exclusion '{}' has no condition", e.id())));
            }
            for p in e
                .cmdline_any
                .iter()
                .chain(&e.cmdline_ends_any)
                .chain(&e.image_name_any)
            {
                check_pattern(p).map_err(|m| (at, format!("exclusion '{}': {m}", e.id())))?;
            }
        }
        for a in &self.agents {
            let at = Some(a.id.span().start);
            check_id(a.id()).map_err(|m| (at, format!("agent id '{}': {m}", a.id())))?;
            if !agent_ids.insert(a.id().to_string()) {
                return Err((at, format!("agent id '{}' is used twice", a.id())));
            }
            if a.name.trim().is_empty() {
                return Err((at, format!("agent '{}' has an empty name", a.id())));
            }
            if a.rules.is_empty() {
                return Err((at, format!("agent '{}' has no [[agent.rule]]", a.id())));
            }
            let mut rule_ids = HashSet::new();
            for r in &a.rules {
                let at = Some(r.id.span().start);
                let name = format!("rule '{}/{}'", a.id(), r.id());
                check_id(r.id()).map_err(|m| (at, format!("{name}: id {m}")))?;
                if !rule_ids.insert(r.id().to_string()) {
                    return Err((at, format!("{name} is defined twice")));
                }
                if r.image_path_any.is_empty()
                    && r.image_name_any.is_empty()
                    && r.cmdline_any.is_empty()
                {
                    return Err((
                        at,
                        format!(
                            "{name} has no image_path_any, image_name_any or cmdline_any: the server-side query could not select its events"
                        ),
                    ));
                }
                if !r.host_any.is_empty() && r.cmdline_any.is_empty() {
                    return Err((
                        at,
                        format!(
                            "{name} names runtimes in host_any without cmdline_any: a runtime alone (node, python ...) identifies nothing"
                        ),
                    ));
                }
                for p in r
                    .image_path_any
                    .iter()
                    .chain(&r.image_name_any)
                    .chain(&r.host_any)
                    .chain(&r.cmdline_any)
                    .chain(&r.cmdline_none)
                    .chain(&r.parent_any)
                {
                    check_pattern(p).map_err(|m| (at, format!("{name}: {m}")))?;
                }
                for p in &r.image_path_any {
                    if p.trim_matches('/').len() < 4 {
                        return Err((
                            at,
                            format!(
                                "{name}: image path segment {p:?} is too short to be distinctive"
                            ),
                        ));
                    }
                }
                if let Some(v) = &r.version
                    && (v.after.is_empty() || v.stop.is_empty())
                {
                    return Err((
                        at,
                        format!("{name}: version needs non-empty `after` and `stop`"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id() == id)
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("must be non-empty lower-case letters, digits and '-'".into());
    }
    Ok(())
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p.trim().is_empty() {
        return Err("an empty pattern matches everything".into());
    }
    if p.contains('"') {
        return Err(format!(
            "pattern {p:?} contains a double quote, which the query languages cannot carry"
        ));
    }
    Ok(())
}

/// Lower-case, `\` → `/`: the form every pattern and every event field is compared in.
pub fn normalise_text(s: &str) -> String {
    s.to_lowercase().replace('\\', "/")
}
