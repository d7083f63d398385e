//! The server-side prefilter queries, generated from the catalog's rule anchors.
//!
//! Every rule has an anchor: its image path segments, else its image names, else its command-line
//! tokens. The prefilter selects process-creation events whose image path, name or command line
//! contains (or equals) an anchor token, so every event a rule can match is selected: the
//! catalog's conditions are all conjunctive and the anchor is one of them. Tokens are the
//! patterns without their leading/trailing `/` and spaces; rules that apply to Windows also get a
//! `\` variant. Lists are split at 100 values and queries at about 7,000 characters (limits a
//! mature client observed, research §5.1).

use std::collections::BTreeSet;

use crate::catalog::{Catalog, Os};

/// Values per `In` list.
pub const MAX_LIST: usize = 100;
/// Target length of one query's filter text.
pub const MAX_QUERY_CHARS: usize = 7_000;

/// The event field a clause tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Process name, exact, any case.
    Name,
    /// Image path contains, any case.
    ImagePath,
    /// Command line contains, any case.
    Cmdline,
}

/// One `field op (values)` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub field: Field,
    pub values: Vec<String>,
}

/// One prefilter query: process creation AND (clause OR clause ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefilter {
    pub clauses: Vec<Clause>,
}

/// The PowerQuery result columns the engine reads, `(alias, field)`.
pub const PQ_COLUMNS: &[(&str, &str)] = &[
    ("eventId", "event.id"),
    ("eventTime", "event.time"),
    ("agentUuid", "agent.uuid"),
    ("endpointName", "endpoint.name"),
    ("endpointOs", "endpoint.os"),
    ("tgtProcName", "tgt.process.name"),
    ("tgtProcImagePath", "tgt.process.image.path"),
    ("tgtProcCmdLine", "tgt.process.cmdline"),
    ("tgtProcUser", "tgt.process.user"),
    ("srcProcName", "src.process.name"),
];

impl Field {
    pub fn dv(self) -> (&'static str, &'static str) {
        match self {
            Field::Name => ("TgtProcName", "In AnyCase"),
            Field::ImagePath => ("TgtProcImagePath", "In Contains AnyCase"),
            Field::Cmdline => ("TgtProcCmdLine", "In Contains AnyCase"),
        }
    }
    pub fn pq(self) -> (&'static str, &'static str) {
        match self {
            Field::Name => ("tgt.process.name", "in:anycase"),
            Field::ImagePath => ("tgt.process.image.path", "contains:anycase"),
            Field::Cmdline => ("tgt.process.cmdline", "contains:anycase"),
        }
    }
}

fn token(pattern: &str) -> String {
    pattern.trim_matches(|c| c == '/' || c == ' ').to_string()
}

impl Catalog {
    /// The anchor tokens of every rule, per field, sorted and deduplicated.
    pub fn anchor_tokens(&self) -> Vec<(Field, Vec<String>)> {
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        let mut cmds = BTreeSet::new();
        for r in self.agents.iter().flat_map(|a| &a.rules) {
            let windows = r.applies_to(Some(Os::Windows));
            let put = |set: &mut BTreeSet<String>, t: String| {
                if windows && t.contains('/') {
                    set.insert(t.replace('/', "\\"));
                }
                set.insert(t);
            };
            if !r.image_path_any.is_empty() {
                for p in &r.image_path_any {
                    put(&mut paths, token(p));
                }
            } else if !r.image_name_any.is_empty() {
                for n in &r.image_name_any {
                    if windows {
                        names.insert(format!("{n}.exe"));
                    }
                    names.insert(n.clone());
                }
            } else {
                for c in &r.cmdline_any {
                    put(&mut cmds, token(c));
                }
            }
        }
        [
            (Field::Name, names),
            (Field::ImagePath, paths),
            (Field::Cmdline, cmds),
        ]
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(f, s)| (f, s.into_iter().collect()))
        .collect()
    }

    /// The prefilter queries covering every rule (usually one).
    pub fn prefilters(&self) -> Vec<Prefilter> {
        let mut out: Vec<Prefilter> = Vec::new();
        let mut current = Prefilter { clauses: vec![] };
        for (field, values) in self.anchor_tokens() {
            for chunk in values.chunks(MAX_LIST) {
                let clause = Clause {
                    field,
                    values: chunk.to_vec(),
                };
                let mut candidate = current.clone();
                candidate.clauses.push(clause.clone());
                if !current.clauses.is_empty() && candidate.dv().len() > MAX_QUERY_CHARS {
                    out.push(std::mem::replace(
                        &mut current,
                        Prefilter {
                            clauses: vec![clause],
                        },
                    ));
                } else {
                    current = candidate;
                }
            }
        }
        if !current.clauses.is_empty() {
            out.push(current);
        }
        out
    }
}

fn list(values: &[String], escape: impl Fn(&str) -> String) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", escape(v)))
        .collect();
    format!("({})", quoted.join(","))
}

impl Prefilter {
    /// Deep Visibility (S1QL 1.0) text. S1QL strings take a literal backslash.
    pub fn dv(&self) -> String {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|c| {
                let (f, op) = c.field.dv();
                format!("{f} {op} {}", list(&c.values, str::to_string))
            })
            .collect();
        format!(
            "EventType = \"Process Creation\" AND ({})",
            parts.join(" OR ")
        )
    }

    /// PowerQuery text returning [`PQ_COLUMNS`], at most `limit` rows. PowerQuery string literals
    /// escape a backslash by doubling it.
    pub fn pq(&self, limit: u32) -> String {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|c| {
                let (f, op) = c.field.pq();
                format!("{f} {op} {}", list(&c.values, |v| v.replace('\\', "\\\\")))
            })
            .collect();
        let columns: Vec<String> = PQ_COLUMNS
            .iter()
            .map(|(alias, field)| format!("{alias} = {field}"))
            .collect();
        format!(
            "event.type = \"Process Creation\" and ({})\n| columns {}\n| limit {limit}",
            parts.join(" or "),
            columns.join(", ")
        )
    }
}
