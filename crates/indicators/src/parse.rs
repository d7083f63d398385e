//! The three input formats.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::normalise::{IndicatorType, TypeName, normalise_named};

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Stix,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Stix => "stix",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "jsonl" | "json" | "ndjson" | "json-lines" => Ok(Self::Jsonl),
            "stix" | "stix2" | "stix2.1" => Ok(Self::Stix),
            _ => Err(format!("unknown format {s:?}; use csv, jsonl or stix")),
        }
    }
}

/// One valid, normalised indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    pub value: String,
    pub description: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// 1-based line of the input it came from.
    pub line: usize,
}

/// One input line (or STIX object) that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// The outcome of parsing a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parsed {
    pub format: Format,
    pub indicators: Vec<Indicator>,
    pub rejected: Vec<Rejected>,
}

/// Guesses the format: a JSON object of type `bundle` is STIX, text whose
/// first meaningful line is a JSON object is JSON lines, anything else CSV.
pub fn detect_format(text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(l) if l.starts_with('{') => {
            match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
                Ok(v) if v.get("type").and_then(Value::as_str) == Some("bundle") => Format::Stix,
                Ok(v) if v.get("objects").is_some() => Format::Stix,
                _ => Format::Jsonl,
            }
        }
        _ => Format::Csv,
    }
}

/// Parses `text` in `format` (detected when `None`). Never panics; every
/// problem becomes a [`Rejected`] entry. A value listed twice is kept once
/// and the repetition is reported.
pub fn parse(text: &str, format: Option<Format>) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = format.unwrap_or_else(|| detect_format(text));
    let mut out = Parsed {
        format,
        indicators: Vec::new(),
        rejected: Vec::new(),
    };
    match format {
        Format::Csv => parse_csv(text, &mut out),
        Format::Jsonl => parse_jsonl(text, &mut out),
        Format::Stix => parse_stix(text, &mut out),
    }
    dedupe(&mut out);
    out
}

fn dedupe(out: &mut Parsed) {
    let mut seen: HashMap<(IndicatorType, String), usize> = HashMap::new();
    let mut kept = Vec::with_capacity(out.indicators.len());
    for ind in out.indicators.drain(..) {
        match seen.get(&(ind.kind, ind.value.clone())) {
            Some(first) => out.rejected.push(Rejected {
                line: ind.line,
                reason: format!("duplicate of line {first} ({} {})", ind.kind, ind.value),
            }),
            None => {
                seen.insert((ind.kind, ind.value.clone()), ind.line);
                kept.push(ind);
            }
        }
    }
    out.indicators = kept;
    out.rejected.sort_by_key(|r| r.line);
}

/// Accepts RFC 3339 timestamps and plain dates (end of that day, UTC).
fn parse_expiry(raw: &str) -> Result<Option<DateTime<Utc>>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(23, 59, 59)
    {
        return Ok(Some(t.and_utc()));
    }
    Err(format!(
        "expires_at {s:?} is neither an RFC 3339 timestamp (2026-05-01T00:00:00Z) nor a date (2026-05-01)"
    ))
}

fn build(
    line: usize,
    type_name: &str,
    value: &str,
    description: Option<&str>,
    expires: Option<&str>,
) -> Result<Indicator, String> {
    let name = IndicatorType::parse_name(type_name).ok_or_else(|| {
        format!(
            "unknown type {:?}; use one of ipv4, ipv6, cidr, domain, url, sha1, sha256, md5",
            type_name.trim()
        )
    })?;
    build_typed(line, name, value, description, expires)
}

// ---- CSV ----

/// Splits one CSV record; double-quoted fields may contain commas and `""`.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() && !was_quoted {
            cur.clear();
            quoted = true;
            was_quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            was_quoted = false;
        } else if was_quoted && !c.is_whitespace() {
            return Err("text after a closing quote".into());
        } else {
            cur.push(c);
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(cur);
    Ok(fields)
}

fn parse_csv(text: &str, out: &mut Parsed) {
    let mut header_checked = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = match csv_fields(raw) {
            Ok(f) => f,
            Err(e) => {
                out.rejected.push(Rejected { line, reason: e });
                continue;
            }
        };
        if !header_checked {
            header_checked = true;
            let first = fields[0].trim().to_ascii_lowercase();
            let second = fields.get(1).map(|f| f.trim().to_ascii_lowercase());
            if first == "type" && second.as_deref() == Some("value") {
                continue;
            }
        }
        if fields.len() < 2 {
            out.rejected.push(Rejected {
                line,
                reason: "expected type,value[,description][,expires_at]".into(),
            });
            continue;
        }
        if fields.len() > 4 {
            out.rejected.push(Rejected {
                line,
                reason: format!(
                    "{} fields; expected at most 4 (type,value,description,expires_at) — quote descriptions that contain commas",
                    fields.len()
                ),
            });
            continue;
        }
        match build(
            line,
            &fields[0],
            &fields[1],
            fields.get(2).map(String::as_str),
            fields.get(3).map(String::as_str),
        ) {
            Ok(ind) => out.indicators.push(ind),
            Err(reason) => out.rejected.push(Rejected { line, reason }),
        }
    }
}

// ---- JSON lines ----

fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
}

fn parse_jsonl(text: &str, out: &mut Parsed) {
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let value: Value = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(e) => {
                out.rejected.push(Rejected {
                    line,
                    reason: format!("not valid JSON: {e}"),
                });
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            out.rejected.push(Rejected {
                line,
                reason: "expected a JSON object with \"type\" and \"value\"".into(),
            });
            continue;
        };
        let (Some(t), Some(v)) = (str_field(obj, &["type"]), str_field(obj, &["value"])) else {
            out.rejected.push(Rejected {
                line,
                reason: "\"type\" and \"value\" must both be strings".into(),
            });
            continue;
        };
        let description = str_field(obj, &["description"]);
        let expires = str_field(
            obj,
            &["expires_at", "expiresAt", "valid_until", "validUntil"],
        );
        match build(line, t, v, description, expires) {
            Ok(ind) => out.indicators.push(ind),
            Err(reason) => out.rejected.push(Rejected { line, reason }),
        }
    }
}

// ---- STIX 2.1 ----

fn line_of(text: &str, needle: &str, fallback: usize) -> usize {
    if needle.is_empty() {
        return fallback;
    }
    match text.find(needle) {
        Some(pos) => text[..pos].matches('\n').count() + 1,
        None => fallback,
    }
}

fn parse_stix(text: &str, out: &mut Parsed) {
    let bundle: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            out.rejected.push(Rejected {
                line: e.line().max(1),
                reason: format!("not a valid STIX bundle (JSON error: {e})"),
            });
            return;
        }
    };
    let Some(objects) = bundle.get("objects").and_then(Value::as_array) else {
        out.rejected.push(Rejected {
            line: 1,
            reason: "not a STIX bundle: no \"objects\" array".into(),
        });
        return;
    };
    for (idx, obj) in objects.iter().enumerate() {
        if obj.get("type").and_then(Value::as_str) != Some("indicator") {
            continue; // identities, relationships, … carry no indicator
        }
        let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
        let line = line_of(text, &format!("\"{id}\""), 1);
        let reject = |reason: String| Rejected {
            line,
            reason: format!(
                "object {} ({}): {reason}",
                idx + 1,
                if id.is_empty() { "no id" } else { id }
            ),
        };
        if obj.get("revoked").and_then(Value::as_bool) == Some(true) {
            out.rejected.push(reject("indicator is revoked".into()));
            continue;
        }
        if let Some(pt) = obj.get("pattern_type").and_then(Value::as_str)
            && pt != "stix"
        {
            out.rejected.push(reject(format!(
                "pattern_type {pt:?} is not supported; only \"stix\" patterns are"
            )));
            continue;
        }
        let Some(pattern) = obj.get("pattern").and_then(Value::as_str) else {
            out.rejected.push(reject("indicator has no pattern".into()));
            continue;
        };
        let (path, value) = match stix_comparison(pattern) {
            Ok(pv) => pv,
            Err(e) => {
                out.rejected.push(reject(e));
                continue;
            }
        };
        let type_name = match stix_path_type(&path, &value) {
            Ok(t) => t,
            Err(e) => {
                out.rejected.push(reject(e));
                continue;
            }
        };
        let description = obj
            .get("description")
            .and_then(Value::as_str)
            .or_else(|| obj.get("name").and_then(Value::as_str));
        let expires = obj.get("valid_until").and_then(Value::as_str);
        match build_typed(line, type_name, &value, description, expires) {
            Ok(ind) => out.indicators.push(ind),
            Err(e) => out.rejected.push(reject(e)),
        }
    }
}

fn build_typed(
    line: usize,
    name: TypeName,
    value: &str,
    description: Option<&str>,
    expires: Option<&str>,
) -> Result<Indicator, String> {
    let (kind, value) = normalise_named(name, value)?;
    let expires_at = match expires {
        Some(e) => parse_expiry(e)?,
        None => None,
    };
    Ok(Indicator {
        kind,
        value,
        description: description
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        expires_at,
        line,
    })
}

/// Parses `[object-path = 'value']`; anything else is an error naming why.
fn stix_comparison(pattern: &str) -> Result<(String, String), String> {
    let p = pattern.trim();
    let compound = || {
        format!(
            "compound pattern {p:?} is not supported; only a single comparison like [ipv4-addr:value = '203.0.113.7'] is"
        )
    };
    let Some(inner) = p.strip_prefix('[') else {
        return Err(format!("pattern {p:?} does not start with '['"));
    };
    let mut chars = inner.char_indices().peekable();
    // object path: up to whitespace or '=' (quoted parts like hashes.'SHA-1' included)
    let mut path = String::new();
    let mut in_quote = false;
    while let Some(&(_, c)) = chars.peek() {
        if in_quote {
            path.push(c);
            if c == '\'' {
                in_quote = false;
            }
        } else if c == '\'' {
            in_quote = true;
            path.push(c);
        } else if c.is_whitespace() || c == '=' || c == '!' || c == '<' || c == '>' {
            break;
        } else {
            path.push(c);
        }
        chars.next();
    }
    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
        chars.next();
    }
    let op: String = {
        let mut op = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_whitespace() || c == '\'' {
                break;
            }
            op.push(c);
            chars.next();
        }
        op
    };
    if op != "=" {
        return Err(format!(
            "pattern {p:?} uses operator {op:?}; only '=' comparisons are supported"
        ));
    }
    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
        chars.next();
    }
    if chars.next().map(|(_, c)| c) != Some('\'') {
        return Err(format!("pattern {p:?}: the value must be a quoted string"));
    }
    let mut value = String::new();
    let mut closed = false;
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => value.push(e),
                None => break,
            },
            '\'' => {
                closed = true;
                break;
            }
            _ => value.push(c),
        }
    }
    if !closed {
        return Err(format!("pattern {p:?}: unterminated string"));
    }
    let rest: String = chars.map(|(_, c)| c).collect();
    let rest = rest.trim();
    if rest == "]" {
        return Ok((path, value));
    }
    Err(compound())
}

fn stix_path_type(path: &str, value: &str) -> Result<TypeName, String> {
    let (object, prop) = path
        .split_once(':')
        .ok_or_else(|| format!("object path {path:?} has no ':'"))?;
    let t = match (object, prop) {
        ("ipv4-addr", "value") => {
            if value.contains('/') {
                IndicatorType::Cidr
            } else {
                IndicatorType::Ipv4
            }
        }
        ("ipv6-addr", "value") => {
            if value.contains('/') {
                IndicatorType::Cidr
            } else {
                IndicatorType::Ipv6
            }
        }
        ("domain-name", "value") => IndicatorType::Domain,
        ("url", "value") => IndicatorType::Url,
        ("file", h) if h.starts_with("hashes.") => {
            let algo = h["hashes.".len()..]
                .trim_matches('\'')
                .to_ascii_uppercase()
                .replace('-', "");
            match algo.as_str() {
                "SHA1" => IndicatorType::Sha1,
                "SHA256" => IndicatorType::Sha256,
                "MD5" => IndicatorType::Md5,
                _ => {
                    return Err(format!(
                        "hash algorithm in {path:?} is not supported; use MD5, SHA-1 or SHA-256"
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "object path {path:?} is not supported; use ipv4-addr:value, ipv6-addr:value, domain-name:value, url:value or file:hashes.'SHA-1'/'SHA-256'/MD5"
            ));
        }
    };
    Ok(TypeName::Exact(t))
}
