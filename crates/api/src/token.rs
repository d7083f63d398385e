//! The API token: held as a secret, never printed. `Debug` and `Display` show
//! `ApiToken(<redacted>)`; only the client's header builder sees the value.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A SentinelOne API token (service user or user token).
#[derive(Clone)]
pub struct ApiToken(SecretString);

/// Why a token was refused. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the API token is empty: generate one in the console under Settings → Users → Service \
         Users (or your user's API token) and give it to s1bridge"
    )]
    Empty,
    #[error(
        "the API token contains whitespace or control characters (at character {position} of \
         {length}): a SentinelOne token is a single word. Check that the file or variable holds \
         only the token (no \"ApiToken \" prefix, quotes, or several lines)"
    )]
    Malformed { position: usize, length: usize },
}

impl ApiToken {
    /// Surrounding whitespace and newlines are trimmed (tokens are often read from files); an
    /// empty token or one with inner whitespace or control characters is refused.
    pub fn new(s: impl Into<String>) -> Result<ApiToken, TokenError> {
        let s: String = s.into();
        let t = s.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        let length = t.chars().count();
        if let Some(position) = t.chars().position(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Malformed {
                position: position + 1,
                length,
            });
        }
        let token = if t.len() == s.len() {
            SecretString::from(s)
        } else {
            SecretString::from(t)
        };
        Ok(ApiToken(token))
    }

    /// The token in clear: only for building the `Authorization` header and the body of
    /// `POST /users/api-token-details`.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether `candidate` is this token; compares every byte whatever the first difference
    /// (for the simulator's authentication check).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.expose_secret().as_bytes();
        let b = candidate.as_bytes();
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "eyJraWQiOiJ0b2tlblNpZ25pbmciLCJhbGciOiJFUzI1NiJ9.s3cr3t";

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let t = ApiToken::new(SECRET).unwrap();
        for shown in [
            format!("{t:?}"),
            format!("{t}"),
            format!("{t:#?}"),
            format!("{:?}", Some(t.clone())),
        ] {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains("ApiToken(<redacted>)"), "{shown}");
        }
        assert_eq!(t.expose(), SECRET);
    }

    #[test]
    fn trims_files_and_refuses_malformed_tokens() {
        let t = ApiToken::new(format!("  {SECRET}\r\n")).unwrap();
        assert_eq!(t.expose(), SECRET);
        assert_eq!(ApiToken::new("").unwrap_err(), TokenError::Empty);
        assert_eq!(ApiToken::new(" \n\t").unwrap_err(), TokenError::Empty);
        for bad in [
            format!("ApiToken {SECRET}"),
            format!("{SECRET}\n{SECRET}"),
            format!("{SECRET}\u{7}x"),
            format!("a\tb{SECRET}"),
        ] {
            let e = ApiToken::new(bad.clone()).unwrap_err();
            assert!(matches!(e, TokenError::Malformed { .. }), "{bad:?}");
            let msg = e.to_string();
            assert!(!msg.contains("s3cr3t") && !msg.contains(&bad), "{msg}");
        }
        assert_eq!(
            ApiToken::new("ab cd").unwrap_err(),
            TokenError::Malformed {
                position: 3,
                length: 5
            }
        );
    }

    #[test]
    fn matches_compares_exactly() {
        let t = ApiToken::new(SECRET).unwrap();
        assert!(t.matches(SECRET));
        assert!(!t.matches(""));
        assert!(!t.matches(&SECRET[..SECRET.len() - 1]));
        assert!(!t.matches(&format!("{SECRET}x")));
        assert!(!t.matches(&SECRET.replace('s', "S")));
    }
}
