//! Indicator input for `s1bridge iocs push`.
//!
//! Reads a file of indicators of compromise in one of three formats
//! (detected, or chosen with `--format`):
//!
//! * **CSV** — `type,value[,description][,expires_at]`, an optional header
//!   line, `#` comments, double-quoted fields;
//! * **JSON lines** — one object per line with `type`, `value` and optional
//!   `description`, `expires_at` (or `expiresAt`, `valid_until`);
//! * **STIX 2.1 bundles** — `indicator` objects whose pattern is a single
//!   comparison such as `[ipv4-addr:value = '203.0.113.7']`; compound
//!   patterns are reported as unsupported, never dropped silently.
//!
//! Every value is validated and normalised ([`normalise`]); every rejected
//! line is reported with its line number and the reason. The library is
//! pure: it parses text and does no I/O.

mod normalise;
mod parse;

pub use normalise::{IndicatorType, TypeName, normalise, normalise_named};
pub use parse::{Format, Indicator, Parsed, Rejected, detect_format, parse};
