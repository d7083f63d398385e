//! A tiny case-insensitive glob matcher for computer-name patterns.
//!
//! Only `*` (any run of characters, including none) and `?` (exactly one
//! character) are needed for names like `srv-db-*`, so a 60-line matcher is
//! preferred over pulling in `globset` (regex engine, path semantics) or
//! `wildmatch`. The pattern is compiled once; matching allocates nothing and
//! runs in O(pattern × name) worst case with the classic single-backtrack
//! algorithm.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Any,
    One,
    Lit(char),
}

/// A compiled glob pattern (`*`, `?`, ASCII case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let mut toks = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let t = match c {
                '*' => Tok::Any,
                '?' => Tok::One,
                c => Tok::Lit(c.to_ascii_lowercase()),
            };
            // Collapse runs of `*`: they mean the same as one.
            if !(t == Tok::Any && toks.last() == Some(&Tok::Any)) {
                toks.push(t);
            }
        }
        Glob { toks }
    }

    pub fn is_match(&self, text: &str) -> bool {
        let toks = &self.toks;
        let mut pi = 0usize; // index into toks
        let mut ti = 0usize; // byte index into text
        // After a `*`: the token index following it and the text position it
        // currently stands for.
        let mut star: Option<(usize, usize)> = None;
        loop {
            let c = text[ti..].chars().next();
            match (toks.get(pi), c) {
                (Some(Tok::Any), _) => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                (Some(Tok::One), Some(c)) => {
                    pi += 1;
                    ti += c.len_utf8();
                    continue;
                }
                (Some(Tok::Lit(l)), Some(c)) if *l == c.to_ascii_lowercase() => {
                    pi += 1;
                    ti += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            // Mismatch: let the last `*` absorb one more character.
            match star {
                Some((sp, st)) => match text[st..].chars().next() {
                    Some(c) => {
                        let st = st + c.len_utf8();
                        star = Some((sp, st));
                        pi = sp;
                        ti = st;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn globs() {
        let g = Glob::new("srv-db-*");
        assert!(g.is_match("srv-db-01"));
        assert!(g.is_match("SRV-DB-01"));
        assert!(g.is_match("srv-db-"));
        assert!(!g.is_match("srv-web-01"));
        assert!(!g.is_match("xsrv-db-01"));
        assert!(Glob::new("*db*").is_match("prod-DB-3"));
        assert!(Glob::new("h?st").is_match("host"));
        assert!(!Glob::new("h?st").is_match("hst"));
        assert!(Glob::new("h?st").is_match("hést"));
        assert!(Glob::new("*").is_match(""));
        assert!(Glob::new("a**b*c").is_match("axxbyyc"));
        assert!(!Glob::new("a*b*c").is_match("axxbyy"));
        assert!(Glob::new("*.corp").is_match("a.b.corp"));
        assert!(!Glob::new("exact").is_match("exactly"));
        assert!(Glob::new("").is_match(""));
        assert!(!Glob::new("").is_match("x"));
    }
}
