//! AI coding agents in SentinelOne process telemetry: the catalog (a TOML data file shipped with
//! s1bridge and overridable by the user), the client-side matcher, and the Deep Visibility /
//! PowerQuery prefilter queries generated from the same catalog, so the two cannot drift.
//!
//! Pure: no I/O but reading an override file.

mod catalog;
mod matcher;
mod query;

pub use catalog::{
    Agent, BUILTIN_CATALOG, BUILTIN_NAME, Catalog, CatalogError, Exclusion, FORMAT, Os, Rule,
    VersionField, VersionRule, normalise_text,
};
pub use matcher::{Match, ProcessEvent, Verdict};
pub use query::{Clause, Field, MAX_LIST, MAX_QUERY_CHARS, PQ_COLUMNS, Prefilter};
