//! KEV and EPSS file parsing, including malformed files, and
//! `Prioritizer::load` never failing.

use chrono::Utc;
use s1bridge_priority::{
    DataFileError, DataKind, DeviceInput, Epss, FindingInput, Kev, Prioritizer, Priority,
    PriorityConfig,
};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const KEV_JSON: &str = r#"{
  "title": "CISA Catalog of Known Exploited Vulnerabilities",
  "catalogVersion": "2025.11.20",
  "dateReleased": "2025-11-20T17:00:00.000Z",
  "count": 2,
  "vulnerabilities": [
    {
      "cveID": "CVE-2023-4863",
      "vendorProject": "Google",
      "product": "Chromium WebP",
      "vulnerabilityName": "Google Chromium WebP Heap-Based Buffer Overflow Vulnerability",
      "dateAdded": "2023-09-13",
      "shortDescription": "Google Chromium WebP contains a heap-based buffer overflow vulnerability.",
      "requiredAction": "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
      "dueDate": "2023-10-04",
      "knownRansomwareCampaignUse": "Unknown",
      "notes": "https://nvd.nist.gov/vuln/detail/CVE-2023-4863",
      "cwes": ["CWE-787"]
    },
    {
      "cveID": "CVE-2021-44228",
      "vendorProject": "Apache",
      "product": "Log4j2",
      "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
      "dateAdded": "2021-12-10",
      "shortDescription": "JNDI features do not protect against attacker-controlled LDAP.",
      "requiredAction": "Apply updates per vendor instructions.",
      "dueDate": "2021-12-24",
      "knownRansomwareCampaignUse": "Known",
      "notes": "",
      "cwes": ["CWE-20", "CWE-400", "CWE-502"]
    }
  ]
}"#;

fn write(dir: &TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write fixture");
    path
}

fn malformed(e: &DataFileError) -> (usize, Option<usize>, String) {
    match e {
        DataFileError::Malformed {
            line,
            column,
            message,
            ..
        } => (*line, *column, message.clone()),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// ---------------------------------------------------------------- KEV

#[test]
fn kev_valid_file() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "kev.json", KEV_JSON.as_bytes());
    let kev = Kev::load(&path).expect("valid KEV");
    assert_eq!(kev.len(), 2);
    assert_eq!(kev.catalog_version.as_deref(), Some("2025.11.20"));
    let e = kev.get("cve-2021-44228").expect("case-insensitive lookup");
    assert_eq!(e.date_added.as_deref(), Some("2021-12-10"));
    assert_eq!(e.known_ransomware_campaign_use.as_deref(), Some("Known"));
    assert_eq!(e.cwes.len(), 3);
    assert!(kev.get("CVE-2020-0001").is_none());
    // A byte-order mark is tolerated.
    let path = write(&dir, "bom.json", format!("\u{feff}{KEV_JSON}").as_bytes());
    assert_eq!(Kev::load(&path).expect("BOM").len(), 2);
}

#[test]
fn kev_malformed_json_names_file_line_and_column() {
    let dir = TempDir::new().expect("tempdir");
    // Line 3 has a missing comma after the string value.
    let bad = "{\n  \"title\": \"x\",\n  \"catalogVersion\": \"1\"\n  \"vulnerabilities\": []\n}\n";
    let path = write(&dir, "kev.json", bad.as_bytes());
    let err = Kev::load(&path).expect_err("malformed");
    assert_eq!(err.kind(), DataKind::Kev);
    assert_eq!(err.path(), path.as_path());
    assert_eq!(err.line(), Some(4));
    assert_eq!(err.column(), Some(3));
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line 4 column 3"), "{msg}");
    assert!(msg.contains("invalid JSON"), "{msg}");
    assert!(
        msg.contains("cisa.gov/known-exploited-vulnerabilities-catalog"),
        "{msg}"
    );
    // Message is not repeated with serde's own position suffix.
    assert_eq!(msg.matches("line 4").count(), 1, "{msg}");

    // Truncated file.
    let path = write(&dir, "trunc.json", &KEV_JSON.as_bytes()[..200]);
    let (line, _, m) = malformed(&Kev::load(&path).expect_err("truncated"));
    assert!(line >= 7, "line {line}");
    assert!(m.contains("EOF"), "{m}");
}

#[test]
fn kev_wrong_structure() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "kev.json",
        b"{\n  \"title\": \"x\",\n  \"vulnerabilities\": {\"cveID\": \"CVE-1\"}\n}\n",
    );
    let err = Kev::load(&path).expect_err("vulnerabilities is not an array");
    let (line, column, m) = malformed(&err);
    assert_eq!(line, 3);
    assert!(column.is_some());
    assert!(m.contains("not a KEV catalog"), "{m}");
    assert!(m.contains("expected a sequence"), "{m}");

    let path = write(&dir, "nofield.json", b"{\"title\": \"x\"}");
    let m = Kev::load(&path).expect_err("missing field").to_string();
    assert!(m.contains("missing field `vulnerabilities`"), "{m}");

    let path = write(&dir, "array.json", b"[1, 2]");
    let m = Kev::load(&path).expect_err("top-level array").to_string();
    assert!(m.contains("a CISA KEV catalog object"), "{m}");

    // An entry without cveID.
    let path = write(
        &dir,
        "entry.json",
        b"{\"vulnerabilities\": [\n {\"dateAdded\": \"2024-01-01\"}\n]}",
    );
    let err = Kev::load(&path).expect_err("entry without cveID");
    assert_eq!(err.line(), Some(2));
    assert!(err.to_string().contains("missing field `cveID`"), "{err}");

    let path = write(&dir, "empty.json", b"  \n");
    assert!(
        Kev::load(&path)
            .expect_err("empty")
            .to_string()
            .contains("empty")
    );
}

#[test]
fn kev_missing_file_is_a_clear_error() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("nope.json");
    let err = Kev::load(&path).expect_err("missing");
    assert!(matches!(err, DataFileError::Io { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("KEV file {}: cannot read it", path.display())),
        "{msg}"
    );
    assert!(msg.contains("download the catalog"), "{msg}");
}

#[test]
fn gzip_files_are_rejected_with_advice() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "epss.csv.gz", &[0x1f, 0x8b, 8, 0, 0, 0]);
    let msg = Epss::load(&path).expect_err("gzip").to_string();
    assert!(msg.contains("gzip-compressed"), "{msg}");
    let msg = Kev::load(&path).expect_err("gzip").to_string();
    assert!(msg.contains("gzip-compressed"), "{msg}");
}

// ---------------------------------------------------------------- EPSS

const EPSS_CSV: &str = "#model_version:v2025.03.14,score_date:2025-11-20T12:55:00Z
cve,epss,percentile
CVE-2023-4863,0.94123,0.99912
CVE-2024-0001,0.00100,0.05000
";

#[test]
fn epss_with_comment_line() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(&dir, "epss.csv", EPSS_CSV.as_bytes());
    let epss = Epss::load(&path).expect("valid");
    assert_eq!(epss.len(), 2);
    assert_eq!(epss.model_version.as_deref(), Some("v2025.03.14"));
    assert_eq!(epss.score_date.as_deref(), Some("2025-11-20T12:55:00Z"));
    let s = epss.get("cve-2023-4863").expect("lookup");
    assert!((s.epss - 0.94123).abs() < 1e-12);
    assert_eq!(s.percentile, Some(0.99912));
    assert_eq!(epss.skipped_rows, 0);
}

#[test]
fn epss_without_comment_line_and_crlf() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "epss.csv",
        b"cve,epss,percentile\r\nCVE-2023-4863,0.5,0.9\r\nCVE-2024-1,0.1,0.2\r\n",
    );
    let epss = Epss::load(&path).expect("valid");
    assert_eq!(epss.len(), 2);
    assert_eq!(epss.model_version, None);
    assert_eq!(epss.get("CVE-2024-1").map(|s| s.epss), Some(0.1));
    // Columns are found by name; percentile is optional.
    let path = write(&dir, "two.csv", b"epss,cve\n0.25,CVE-2024-9\n");
    let epss = Epss::load(&path).expect("valid");
    let s = epss.get("CVE-2024-9").expect("lookup");
    assert_eq!((s.epss, s.percentile), (0.25, None));
}

#[test]
fn epss_bad_header_is_fatal_with_line() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "epss.csv",
        b"#model_version:v1,score_date:2025-01-01\nCVE-2023-4863,0.5,0.9\n",
    );
    let err = Epss::load(&path).expect_err("no header");
    assert_eq!(err.kind(), DataKind::Epss);
    assert_eq!(err.line(), Some(2));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("EPSS file {} line 2:", path.display())),
        "{msg}"
    );
    assert!(
        msg.contains("expected the header `cve,epss,percentile`"),
        "{msg}"
    );
    assert!(msg.contains("first.org/epss"), "{msg}");

    let path = write(&dir, "empty.csv", b"#only a comment\n\n");
    let msg = Epss::load(&path).expect_err("empty").to_string();
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn epss_bad_rows_are_skipped_and_reported_by_line() {
    let dir = TempDir::new().expect("tempdir");
    let csv = "#model_version:v2025.03.14,score_date:2025-11-20T12:55:00Z
cve,epss,percentile
CVE-2023-4863,0.94123,0.99912
CVE-2024-0002,abc,0.5
CVE-2024-0003,0.2
not-a-cve,0.1,0.1
CVE-2024-0004,1.5,0.3
CVE-2024-0005,0.01,0.4
";
    let path = write(&dir, "epss.csv", csv.as_bytes());
    let epss = Epss::load(&path).expect("bad rows are not fatal");
    assert_eq!(epss.len(), 2);
    assert!(epss.get("CVE-2024-0005").is_some());
    assert!(epss.get("CVE-2024-0002").is_none());
    assert_eq!(epss.skipped_rows, 4);
    let lines: Vec<usize> = epss.row_errors.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
    assert!(epss.row_errors[0].message.contains("`abc` is not a number"));
    assert!(
        epss.row_errors[1]
            .message
            .contains("expected 3 fields, found 2")
    );
    assert!(epss.row_errors[2].message.contains("not a CVE id"));
    assert!(epss.row_errors[3].message.contains("outside 0..1"));
}

#[test]
fn epss_invalid_utf8_reports_line() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        &dir,
        "epss.csv",
        b"cve,epss,percentile\nCVE-1,0.1,0.1\nCVE-\xff,0.1,0.1\n",
    );
    let err = Epss::load(&path).expect_err("not UTF-8");
    assert_eq!(err.line(), Some(3));
}

#[test]
fn epss_missing_file_is_a_clear_error() {
    let err = Epss::load("/definitely/not/here/epss.csv").expect_err("missing");
    let msg = err.to_string();
    assert!(
        msg.starts_with("EPSS file /definitely/not/here/epss.csv: cannot read it"),
        "{msg}"
    );
    assert_eq!(err.path(), Path::new("/definitely/not/here/epss.csv"));
}

// ---------------------------------------------------------------- Prioritizer::load

fn finding() -> FindingInput {
    FindingInput {
        cve_id: "CVE-2023-4863".into(),
        vendor_severity: Some("MEDIUM".into()),
        ..FindingInput::default()
    }
}

#[test]
fn load_with_missing_files_never_fails_and_warns() {
    let dir = TempDir::new().expect("tempdir");
    let kev_path = dir.path().join("kev.json");
    let epss_path = dir.path().join("epss.csv");
    let p = Prioritizer::load(PriorityConfig {
        kev_file: Some(kev_path.clone()),
        epss_file: Some(epss_path.clone()),
        ..PriorityConfig::default()
    });
    assert!(p.kev().is_none() && p.epss().is_none());
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(p.warnings[0].contains(&kev_path.display().to_string()));
    assert!(
        p.warnings[0].ends_with("the KEV factor is off for this sync"),
        "{}",
        p.warnings[0]
    );
    assert!(p.warnings[1].contains(&epss_path.display().to_string()));
    assert!(p.warnings[1].ends_with("the EPSS factor is off for this sync"));
    let summary = p.data_summary().join("\n");
    assert!(summary.contains("KEV factor off"), "{summary}");

    // Assessment still works, without the KEV/EPSS effects.
    let a = p.assess(&finding(), &DeviceInput::default(), Utc::now());
    assert_eq!(a.priority, Priority::Medium);
    assert!(
        a.factors
            .iter()
            .any(|f| f.name == "kev" && f.detail.contains("not available"))
    );
}

#[test]
fn load_with_malformed_kev_warns_with_line_and_keeps_epss() {
    let dir = TempDir::new().expect("tempdir");
    let kev_path = write(
        &dir,
        "kev.json",
        b"{\n  \"vulnerabilities\": [\n    {\"cveID\": }\n  ]\n}",
    );
    let epss_path = write(&dir, "epss.csv", EPSS_CSV.as_bytes());
    let p = Prioritizer::load(PriorityConfig {
        kev_file: Some(kev_path.clone()),
        epss_file: Some(epss_path),
        ..PriorityConfig::default()
    });
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let w = &p.warnings[0];
    assert!(
        w.contains(&format!("KEV file {} line 3 column", kev_path.display())),
        "{w}"
    );
    assert!(p.kev().is_none());
    assert!(p.epss().is_some());
    // EPSS 0.94 still raises.
    let a = p.assess(&finding(), &DeviceInput::default(), Utc::now());
    assert_eq!(a.priority, Priority::High);
}

#[test]
fn load_valid_files_and_report_skipped_epss_rows() {
    let dir = TempDir::new().expect("tempdir");
    let kev_path = write(&dir, "kev.json", KEV_JSON.as_bytes());
    let epss_path = write(
        &dir,
        "epss.csv",
        format!("{EPSS_CSV}CVE-2024-7,oops,0.1\n").as_bytes(),
    );
    let p = Prioritizer::load(PriorityConfig {
        kev_file: Some(kev_path),
        epss_file: Some(epss_path.clone()),
        ..PriorityConfig::default()
    });
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let w = &p.warnings[0];
    assert!(w.contains(&epss_path.display().to_string()), "{w}");
    assert!(w.contains("skipped 1 malformed row (line 5:"), "{w}");
    assert_eq!(p.kev().map(Kev::len), Some(2));
    let a = p.assess(&finding(), &DeviceInput::default(), Utc::now());
    // KEV +2, EPSS +1: MEDIUM → CRITICAL.
    assert_eq!(a.priority, Priority::Critical);
    let summary = p.data_summary().join("\n");
    assert!(
        summary.contains("KEV factor on: 2 CVEs (catalog 2025.11.20)"),
        "{summary}"
    );
    assert!(summary.contains("EPSS factor on: 2 CVEs"), "{summary}");
}
