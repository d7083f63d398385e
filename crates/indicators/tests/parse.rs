use s1bridge_indicators::{Format, IndicatorType, detect_format, normalise, parse};

#[test]
fn normalisation_table() {
    use IndicatorType::*;
    let ok = [
        (Ipv4, " 203.0.113.7 ", "203.0.113.7"),
        (Ipv6, "2001:DB8:0:0::1", "2001:db8::1"),
        (Cidr, "203.0.113.0/24", "203.0.113.0/24"),
        (Cidr, "2001:db8::/32", "2001:db8::/32"),
        (Domain, "Evil.Example.", "evil.example"),
        (Domain, " sub.evil-site.example ", "sub.evil-site.example"),
        (
            Url,
            "HTTP://Evil.Example./x?a=1",
            "http://evil.example/x?a=1",
        ),
        (
            Sha1,
            "3395856CE81F2B7382DEE72602F798B642F14140",
            "3395856ce81f2b7382dee72602f798b642f14140",
        ),
        (
            Sha256,
            "\tbeab9fadb100a44b3bc8ea4df3249aa6d93e710193be437adb5e47c2e201c1ef ",
            "beab9fadb100a44b3bc8ea4df3249aa6d93e710193be437adb5e47c2e201c1ef",
        ),
        (
            Md5,
            "D41D8CD98F00B204E9800998ECF8427E",
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
    ];
    for (t, raw, want) in ok {
        assert_eq!(normalise(t, raw).as_deref(), Ok(want), "{t} {raw:?}");
    }
    let bad = [
        (Ipv4, "203.0.113.256", "not an IPv4"),
        (Ipv4, "010.0.0.1", "not an IPv4"),
        (Ipv6, "2001:db8:::1", "not an IPv6"),
        (Cidr, "203.0.113.7/24", "did you mean 203.0.113.0/24"),
        (Cidr, "203.0.113.0/33", "0 to 32"),
        (Domain, "localhost", "fully qualified"),
        (Domain, "-bad.example", "invalid label"),
        (Domain, "203.0.113.7", "IP address"),
        (Domain, "bücher.example", "punycode"),
        (Url, "javascript:alert(1)", "scheme"),
        (Url, "evil.example/path", "not a URL"),
        (
            Sha1,
            "beab9fadb100a44b3bc8ea4df3249aa6d93e710193be437adb5e47c2e201c1ef",
            "length of a SHA256",
        ),
        (Md5, "zz1d8cd98f00b204e9800998ecf8427e", "hexadecimal"),
        (Sha256, "   ", "empty"),
    ];
    for (t, raw, why) in bad {
        let err = normalise(t, raw).expect_err(raw);
        assert!(err.contains(why), "{t} {raw:?}: {err}");
    }
}

#[test]
fn csv_reports_every_rejected_line_and_keeps_the_rest() {
    let text = "type,value,description,expires_at\n\
                ipv4,203.0.113.7,bad host,2026-05-01\n\
                # a comment\n\
                \n\
                domain,Evil.Example.,\"phish, stage 2\"\n\
                sha1,nothex\n\
                bogus,1.2.3.4\n\
                ip,2001:db8::/32\n\
                ipv4,203.0.113.7,again\n\
                md5\n\
                url,https://evil.example/a,x,not-a-date\n";
    let p = parse(text, None);
    assert_eq!(p.format, Format::Csv);
    let got: Vec<_> = p
        .indicators
        .iter()
        .map(|i| (i.kind, i.value.as_str(), i.line))
        .collect();
    assert_eq!(
        got,
        [
            (IndicatorType::Ipv4, "203.0.113.7", 2),
            (IndicatorType::Domain, "evil.example", 5),
            (IndicatorType::Cidr, "2001:db8::/32", 8),
        ]
    );
    assert_eq!(
        p.indicators[1].description.as_deref(),
        Some("phish, stage 2")
    );
    assert_eq!(
        p.indicators[0].expires_at.map(|t| t.to_rfc3339()),
        Some("2026-05-01T23:59:59+00:00".into())
    );
    let lines: Vec<usize> = p.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [6, 7, 9, 10, 11]);
    assert!(p.rejected[0].reason.contains("hexadecimal"));
    assert!(p.rejected[1].reason.contains("unknown type"));
    assert!(p.rejected[2].reason.contains("duplicate of line 2"));
    assert!(p.rejected[4].reason.contains("expires_at"));
}

#[test]
fn malformed_csv_quotes_are_rejected_not_panicking() {
    let p = parse("ipv4,\"203.0.113.7\nipv4,\"1.2.3.4\"x\n", Some(Format::Csv));
    assert!(p.indicators.is_empty());
    assert_eq!(p.rejected.len(), 2);
    assert!(p.rejected[0].reason.contains("unterminated"));
}

#[test]
fn json_lines() {
    let text = r#"{"type":"sha256","value":"BEAB9FADB100A44B3BC8EA4DF3249AA6D93E710193BE437ADB5E47C2E201C1EF","description":"dropper"}
{"type":"domain","value":"evil.example","expiresAt":"2026-01-01T00:00:00Z"}
{"type":"domain"
["not","an","object"]
{"type":"ipv4","value":7}
"#;
    assert_eq!(detect_format(text), Format::Jsonl);
    let p = parse(text, None);
    assert_eq!(p.indicators.len(), 2);
    assert_eq!(p.indicators[0].kind, IndicatorType::Sha256);
    assert!(p.indicators[0].value.starts_with("beab9f"));
    assert!(p.indicators[1].expires_at.is_some());
    let lines: Vec<usize> = p.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5]);
    assert!(p.rejected[0].reason.contains("not valid JSON"));
}

#[test]
fn stix_bundle_single_comparisons_and_unsupported_compounds() {
    let text = r#"{
  "type": "bundle",
  "id": "bundle--1",
  "objects": [
    {"type": "identity", "id": "identity--1", "name": "feed"},
    {"type": "indicator", "id": "indicator--a", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '203.0.113.7']", "valid_until": "2026-06-01T00:00:00Z"},
    {"type": "indicator", "id": "indicator--b", "pattern_type": "stix",
     "pattern": "[domain-name:value = 'Evil.Example.']", "description": "c2"},
    {"type": "indicator", "id": "indicator--c", "pattern_type": "stix",
     "pattern": "[file:hashes.'SHA-1' = '3395856CE81F2B7382DEE72602F798B642F14140']"},
    {"type": "indicator", "id": "indicator--d", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2']"},
    {"type": "indicator", "id": "indicator--e", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '198.51.100.1' AND ipv4-addr:value = '198.51.100.2']"},
    {"type": "indicator", "id": "indicator--f", "pattern_type": "sigma", "pattern": "x"},
    {"type": "indicator", "id": "indicator--g", "pattern_type": "stix",
     "pattern": "[process:name = 'evil.exe']"},
    {"type": "indicator", "id": "indicator--h", "pattern_type": "stix",
     "pattern": "[url:value = 'https://evil.example/dl']"},
    {"type": "indicator", "id": "indicator--i", "pattern_type": "stix",
     "pattern": "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"}
  ]
}"#;
    assert_eq!(detect_format(text), Format::Stix);
    let p = parse(text, None);
    let got: Vec<_> = p
        .indicators
        .iter()
        .map(|i| (i.kind, i.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (IndicatorType::Ipv4, "203.0.113.7"),
            (IndicatorType::Domain, "evil.example"),
            (
                IndicatorType::Sha1,
                "3395856ce81f2b7382dee72602f798b642f14140"
            ),
            (IndicatorType::Url, "https://evil.example/dl"),
            (IndicatorType::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        ]
    );
    assert!(p.indicators[0].expires_at.is_some());
    assert_eq!(p.indicators[0].line, 6);
    assert_eq!(p.indicators[1].description.as_deref(), Some("c2"));
    assert_eq!(p.rejected.len(), 4);
    assert!(p.rejected[0].reason.contains("indicator--d"));
    assert!(p.rejected[0].reason.contains("compound pattern"));
    assert!(p.rejected[1].reason.contains("compound pattern"));
    assert!(p.rejected[2].reason.contains("pattern_type"));
    assert!(p.rejected[3].reason.contains("not supported"));
    assert_eq!(p.rejected[0].line, 12);
}

#[test]
fn broken_stix_is_one_rejection() {
    let p = parse("{\"type\":\"bundle\",\"objects\":[", Some(Format::Stix));
    assert!(p.indicators.is_empty());
    assert_eq!(p.rejected.len(), 1);
    let p = parse("{\"type\":\"bundle\"}", Some(Format::Stix));
    assert!(p.rejected[0].reason.contains("objects"));
}

mod fuzz {
    use proptest::prelude::*;
    use s1bridge_indicators::{Format, IndicatorType, normalise, parse};

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,200}") {
            for f in [None, Some(Format::Csv), Some(Format::Jsonl), Some(Format::Stix)] {
                let p = parse(&text, f);
                for ind in &p.indicators {
                    prop_assert!(ind.line >= 1);
                }
            }
        }

        #[test]
        fn structured_noise_never_panics(
            t in "(ipv4|ip|cidr|domain|url|sha1|md5|x)",
            v in "[0-9a-fA-F:./\\[\\]'\" ,-]{0,70}",
        ) {
            let csv = format!("{t},{v}\n");
            let _ = parse(&csv, None);
            let stix = format!(
                "{{\"type\":\"bundle\",\"objects\":[{{\"type\":\"indicator\",\"id\":\"indicator--x\",\"pattern\":{}}}]}}",
                serde_json::to_string(&format!("[{t}:value = {v}]")).unwrap()
            );
            let _ = parse(&stix, None);
        }

        #[test]
        fn normalisation_is_idempotent(v in "[0-9a-fA-F:./]{1,70}") {
            for t in IndicatorType::ALL {
                if let Ok(n) = normalise(t, &v) {
                    prop_assert_eq!(normalise(t, &n), Ok(n.clone()));
                }
            }
        }
    }
}
