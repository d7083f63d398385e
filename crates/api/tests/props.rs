//! Properties of the URL rules, the token and the pagination end markers.

use proptest::prelude::*;
use s1bridge_api::wire::Pagination;
use s1bridge_api::{ApiToken, ConsoleUrl};

proptest! {
    #[test]
    fn url_parse_never_panics_and_accepted_urls_are_normalised(input in ".{0,60}") {
        if let Ok((u, _)) = ConsoleUrl::parse(&input) {
            let s = u.as_str();
            prop_assert!(s.starts_with("https://") || (s.starts_with("http://") && u.is_loopback()));
            prop_assert!(!s.ends_with('/'));
            prop_assert!(!s.contains('?') && !s.contains('#') && !s.contains('@'));
            // Normalising is idempotent and reports nothing the second time (except http).
            let (again, notices) = ConsoleUrl::parse(s).unwrap();
            prop_assert_eq!(&again, &u);
            prop_assert!(notices.len() <= 1);
        }
    }

    #[test]
    fn url_errors_never_echo_a_password(
        scheme in prop::sample::select(vec!["https://", "http://", "", "ftp://", "//"]),
        user in "[a-z]{1,8}",
        pw in "[A-Za-z0-9]{10,16}",
        host in "[a-z]{1,10}\\.example",
        rest in prop::sample::select(vec!["", "/", "/x?y=1", ":8443/a"]),
    ) {
        let input = format!("{scheme}{user}:{pw}@{host}{rest}");
        let e = ConsoleUrl::parse(&input).expect_err("userinfo must be refused");
        let msg = e.to_string();
        prop_assert!(!msg.contains(&pw), "{}", msg);
        let dbg = format!("{:?}", e);
        prop_assert!(!dbg.contains(&pw));
    }

    #[test]
    fn tokens_never_show_in_debug_or_display(t in "[A-Za-z0-9._-]{1,80}", pad in "[ \t\r\n]{0,3}") {
        let tok = ApiToken::new(format!("{pad}{t}{pad}")).unwrap();
        prop_assert!(tok.matches(&t));
        prop_assert_eq!(format!("{tok:?}"), "ApiToken(<redacted>)");
        prop_assert_eq!(format!("{tok}"), "ApiToken(<redacted>)");
    }

    #[test]
    fn only_real_cursors_continue(c in "[A-Za-z0-9+/=]{1,40}") {
        let p = |c: Option<&str>| {
            Pagination { next_cursor: c.map(str::to_string), total_items: Some(5) }
                .next()
                .map(str::to_string)
        };
        prop_assert_eq!(p(Some(&c)), if c.eq_ignore_ascii_case("null") { None } else { Some(c.clone()) });
        prop_assert_eq!(p(None), None);
        prop_assert_eq!(p(Some("")), None);
        prop_assert_eq!(p(Some("null")), None);
        prop_assert_eq!(p(Some(" ")), None);
    }
}
