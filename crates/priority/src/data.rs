//! The two data files: CISA's KEV catalog (JSON) and FIRST's EPSS scores (CSV).
//!
//! Error policy:
//! * KEV is all-or-nothing: any JSON syntax or structure error rejects the
//!   whole file, with the line and column serde_json reports.
//! * EPSS: an unreadable file, a gzip-compressed file, an empty file or a bad
//!   header is fatal; a malformed data row is skipped, counted in
//!   [`Epss::skipped_rows`] and described (first [`MAX_ROW_ERRORS`]) in
//!   [`Epss::row_errors`] with its 1-based line number.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// At most this many malformed EPSS rows are described individually.
pub const MAX_ROW_ERRORS: usize = 20;

/// Which data file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Kev,
    Epss,
}

impl DataKind {
    /// What to do about a bad file.
    pub fn hint(self) -> &'static str {
        match self {
            DataKind::Kev => {
                "download the catalog from https://www.cisa.gov/known-exploited-vulnerabilities-catalog (JSON format, known_exploited_vulnerabilities.json) and point priority.kev_file at it"
            }
            DataKind::Epss => {
                "download the daily scores CSV from https://www.first.org/epss/data_stats (decompress the .csv.gz) and point priority.epss_file at it"
            }
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataKind::Kev => "KEV",
            DataKind::Epss => "EPSS",
        })
    }
}

/// A KEV or EPSS file that cannot be used. The message names the file, the
/// 1-based line (and column when known), what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataFileError {
    #[error("{kind} file {}: cannot read it: {source} — {}", .path.display(), .kind.hint())]
    Io {
        kind: DataKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} file {}{}: {message} — {}", .path.display(), position(*.line, *.column), .kind.hint())]
    Malformed {
        kind: DataKind,
        path: PathBuf,
        /// 1-based line; 0 when the problem is the file as a whole.
        line: usize,
        /// 1-based column, when known.
        column: Option<usize>,
        message: String,
    },
}

fn position(line: usize, column: Option<usize>) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, Some(c)) => format!(" line {l} column {c}"),
        (l, None) => format!(" line {l}"),
    }
}

impl DataFileError {
    pub fn kind(&self) -> DataKind {
        match self {
            DataFileError::Io { kind, .. } | DataFileError::Malformed { kind, .. } => *kind,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            DataFileError::Io { path, .. } | DataFileError::Malformed { path, .. } => path,
        }
    }

    /// 1-based line of the problem, when it is on a line.
    pub fn line(&self) -> Option<usize> {
        match self {
            DataFileError::Malformed { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }

    /// 1-based column of the problem, when known.
    pub fn column(&self) -> Option<usize> {
        match self {
            DataFileError::Malformed { column, .. } => *column,
            DataFileError::Io { .. } => None,
        }
    }
}

fn read_file(kind: DataKind, path: &Path) -> Result<Vec<u8>, DataFileError> {
    let bytes = std::fs::read(path).map_err(|source| DataFileError::Io {
        kind,
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(DataFileError::Malformed {
            kind,
            path: path.to_path_buf(),
            line: 0,
            column: None,
            message: "the file is gzip-compressed; decompress it first (gunzip)".into(),
        });
    }
    Ok(bytes)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Upper-cases a CVE id only when needed (ids are normally upper case already).
pub(crate) fn cve_key(id: &str) -> Cow<'_, str> {
    let id = id.trim();
    if id.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(id.to_ascii_uppercase())
    } else {
        Cow::Borrowed(id)
    }
}

// ---------------------------------------------------------------- KEV

/// One entry of the CISA KEV catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    #[serde(rename = "cveID")]
    pub cve_id: String,
    #[serde(default)]
    pub vendor_project: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub vulnerability_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date_added: Option<String>,
    #[serde(default)]
    pub short_description: Option<String>,
    #[serde(default)]
    pub required_action: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    /// `Known` or `Unknown`.
    #[serde(default)]
    pub known_ransomware_campaign_use: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub cwes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a CISA KEV catalog object with a \"vulnerabilities\" array"
)]
struct KevFile {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    catalog_version: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
    vulnerabilities: Vec<KevEntry>,
}

/// The CISA Known Exploited Vulnerabilities catalog, indexed by CVE id.
#[derive(Debug, Clone, Default)]
pub struct Kev {
    pub title: Option<String>,
    pub catalog_version: Option<String>,
    pub date_released: Option<String>,
    entries: HashMap<String, KevEntry>,
}

impl Kev {
    /// Reads and parses a KEV catalog JSON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Kev, DataFileError> {
        let path = path.as_ref();
        let bytes = read_file(DataKind::Kev, path)?;
        Kev::parse(&bytes, path)
    }

    /// Parses KEV catalog JSON; `path` is only used in error messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Kev, DataFileError> {
        let malformed = |line, column, message| DataFileError::Malformed {
            kind: DataKind::Kev,
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        let bytes = strip_bom(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed(0, None, "the file is empty".into()));
        }
        // serde would accept a top-level array as the struct's fields in
        // order, with a confusing message; say what is expected instead.
        if let Some(i) = bytes.iter().position(|b| !b.is_ascii_whitespace())
            && bytes[i] != b'{'
        {
            let before = &bytes[..i];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
            return Err(malformed(
                line,
                Some(column),
                "not a KEV catalog: expected a CISA KEV catalog object with a \"vulnerabilities\" array".into(),
            ));
        }
        let file: KevFile = serde_json::from_slice(bytes).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            let full = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            let msg = full.strip_suffix(&suffix).unwrap_or(&full);
            let msg = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("invalid JSON: {msg}")
                }
                _ => format!("not a KEV catalog: {msg}"),
            };
            malformed(line, (column > 0).then_some(column), msg)
        })?;
        let mut entries = HashMap::with_capacity(file.vulnerabilities.len());
        for entry in file.vulnerabilities {
            entries.insert(cve_key(&entry.cve_id).into_owned(), entry);
        }
        Ok(Kev {
            title: file.title,
            catalog_version: file.catalog_version,
            date_released: file.date_released,
            entries,
        })
    }

    /// Looks a CVE id up, case-insensitively.
    pub fn get(&self, cve_id: &str) -> Option<&KevEntry> {
        self.entries.get(cve_key(cve_id).as_ref())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// ---------------------------------------------------------------- EPSS

/// EPSS probability of exploitation in the next 30 days, and its percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpssScore {
    pub epss: f64,
    /// `None` when the file has no `percentile` column.
    pub percentile: Option<f64>,
}

/// A malformed EPSS data row that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// FIRST EPSS scores, indexed by CVE id.
#[derive(Debug, Clone, Default)]
pub struct Epss {
    /// From the `#model_version:…,score_date:…` comment line, when present.
    pub model_version: Option<String>,
    pub score_date: Option<String>,
    /// Number of malformed data rows skipped.
    pub skipped_rows: usize,
    /// The first [`MAX_ROW_ERRORS`] skipped rows, with line numbers.
    pub row_errors: Vec<RowError>,
    scores: HashMap<Box<str>, EpssScore>,
}

impl Epss {
    /// Reads and parses a FIRST EPSS CSV file (decompressed).
    pub fn load(path: impl AsRef<Path>) -> Result<Epss, DataFileError> {
        let path = path.as_ref();
        let bytes = read_file(DataKind::Epss, path)?;
        Epss::parse(&bytes, path)
    }

    /// Parses EPSS CSV: optional `#…` comment lines, a header containing
    /// `cve` and `epss` (and usually `percentile`), then data rows. `path` is
    /// only used in messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Epss, DataFileError> {
        let malformed = |line, message| DataFileError::Malformed {
            kind: DataKind::Epss,
            path: path.to_path_buf(),
            line,
            column: None,
            message,
        };
        let bytes = strip_bom(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
                return Err(malformed(line, "the file is not valid UTF-8 text".into()));
            }
        };

        let mut epss = Epss::default();
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        // Comment lines and blank lines before the header.
        let (header_line, header) = loop {
            match lines.next() {
                None => {
                    return Err(malformed(
                        0,
                        "the file is empty (expected a header `cve,epss,percentile`)".into(),
                    ));
                }
                Some((_, "")) => continue,
                Some((_, l)) if l.starts_with('#') => {
                    for kv in l.trim_start_matches('#').split(',') {
                        match kv.split_once(':') {
                            Some(("model_version", v)) => {
                                epss.model_version = Some(v.trim().into())
                            }
                            Some(("score_date", v)) => epss.score_date = Some(v.trim().into()),
                            _ => {}
                        }
                    }
                }
                Some(found) => break found,
            }
        };
        let columns: Vec<String> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let find = |name: &str| columns.iter().position(|c| c == name);
        let (Some(cve_col), Some(epss_col)) = (find("cve"), find("epss")) else {
            let shown: String = header.chars().take(80).collect();
            return Err(malformed(
                header_line,
                format!("expected the header `cve,epss,percentile`, found `{shown}`"),
            ));
        };
        let pct_col = find("percentile");
        let ncols = columns.len();

        let mut fields: Vec<&str> = Vec::with_capacity(ncols);
        for (line_no, line) in lines {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            fields.clear();
            fields.extend(line.split(',').map(|f| f.trim().trim_matches('"')));
            match parse_row(&fields, ncols, cve_col, epss_col, pct_col) {
                Ok((cve, score)) => {
                    epss.scores.insert(cve_key(cve).into(), score);
                }
                Err(message) => {
                    epss.skipped_rows += 1;
                    if epss.row_errors.len() < MAX_ROW_ERRORS {
                        epss.row_errors.push(RowError {
                            line: line_no,
                            message,
                        });
                    }
                }
            }
        }
        Ok(epss)
    }

    /// Looks a CVE id up, case-insensitively.
    pub fn get(&self, cve_id: &str) -> Option<EpssScore> {
        self.scores.get(cve_key(cve_id).as_ref()).copied()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

fn parse_row<'a>(
    fields: &[&'a str],
    ncols: usize,
    cve_col: usize,
    epss_col: usize,
    pct_col: Option<usize>,
) -> Result<(&'a str, EpssScore), String> {
    if fields.len() != ncols {
        return Err(format!("expected {ncols} fields, found {}", fields.len()));
    }
    let cve = fields[cve_col];
    let looks_like_cve =
        cve.len() > 4 && cve.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CVE-"));
    if !looks_like_cve {
        return Err(format!("`{cve}` is not a CVE id"));
    }
    let prob = |col: usize, what: &str| -> Result<f64, String> {
        let raw = fields[col];
        match raw.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
            Ok(_) => Err(format!("{what} `{raw}` is outside 0..1")),
            Err(_) => Err(format!("{what} `{raw}` is not a number")),
        }
    };
    let epss = prob(epss_col, "epss")?;
    let percentile = match pct_col {
        Some(c) => Some(prob(c, "percentile")?),
        None => None,
    };
    Ok((cve, EpssScore { epss, percentile }))
}
