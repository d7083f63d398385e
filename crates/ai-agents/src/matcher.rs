//! The client-side matcher: one process event in, at most one (agent, rule, version) out.

use crate::catalog::{Agent, Catalog, Os, Rule, VersionField, normalise_text};

/// The process side of one event, as the console reported it (raw strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessEvent {
    pub os: Option<Os>,
    /// Process name (may be empty; then the image path's base name is used).
    pub name: String,
    pub image_path: String,
    pub cmdline: String,
    /// The parent (creator) process name, if known.
    pub parent_name: String,
}

/// Why an event matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'c> {
    pub agent: &'c Agent,
    pub rule_id: &'c str,
    pub version: Option<String>,
}

/// Why an event did not match (for tests and `-vv` diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'c> {
    Agent(Match<'c>),
    Excluded { exclusion: &'c str },
    NoMatch,
}

/// The event's fields in comparison form.
struct Normalised {
    os: Option<Os>,
    /// Base name without `.exe`.
    name: String,
    image_path: String,
    /// Padded with one space each side, so `" -m aider "` also matches at either end.
    cmdline: String,
    parent: String,
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn strip_exe(name: &str) -> &str {
    name.strip_suffix(".exe").unwrap_or(name)
}

impl Normalised {
    fn of(e: &ProcessEvent) -> Normalised {
        let image_path = normalise_text(e.image_path.trim());
        let name = normalise_text(e.name.trim());
        let name = if name.is_empty() {
            base_name(&image_path).to_string()
        } else {
            base_name(&name).to_string()
        };
        let parent = normalise_text(e.parent_name.trim());
        Normalised {
            os: e.os,
            name: strip_exe(&name).to_string(),
            image_path,
            cmdline: format!(" {} ", normalise_text(e.cmdline.trim())),
            parent: strip_exe(base_name(&parent)).to_string(),
        }
    }
}

impl Catalog {
    /// The first agent rule (catalog order) matching `event`, after the global exclusions.
    pub fn classify(&self, event: &ProcessEvent) -> Verdict<'_> {
        let n = Normalised::of(event);
        for x in &self.exclusions {
            let by_cmd = x.cmdline_any.iter().any(|p| n.cmdline.contains(p.as_str()));
            let by_end = x
                .cmdline_ends_any
                .iter()
                .any(|p| n.cmdline.trim_end().ends_with(p.as_str()));
            let by_name = x.image_name_any.contains(&n.name);
            if by_cmd || by_end || by_name {
                return Verdict::Excluded {
                    exclusion: x.id.get_ref(),
                };
            }
        }
        for a in &self.agents {
            for r in &a.rules {
                if rule_matches(r, &n) {
                    return Verdict::Agent(Match {
                        agent: a,
                        rule_id: r.id.get_ref(),
                        version: r.version.as_ref().and_then(|v| {
                            let field = match v.from {
                                VersionField::ImagePath => &n.image_path,
                                VersionField::Cmdline => &n.cmdline,
                            };
                            read_version(field, &v.after, &v.stop)
                        }),
                    });
                }
            }
        }
        Verdict::NoMatch
    }

    /// The matching agent, if any.
    pub fn match_event(&self, event: &ProcessEvent) -> Option<Match<'_>> {
        match self.classify(event) {
            Verdict::Agent(m) => Some(m),
            _ => None,
        }
    }
}

fn rule_matches(r: &Rule, n: &Normalised) -> bool {
    let any = |pats: &[String], hay: &str| pats.iter().any(|p| hay.contains(p.as_str()));
    r.applies_to(n.os)
        && (r.image_path_any.is_empty() || any(&r.image_path_any, &n.image_path))
        && (r.image_name_any.is_empty() || r.image_name_any.contains(&n.name))
        && (r.host_any.is_empty() || r.host_any.contains(&n.name))
        && (r.cmdline_any.is_empty() || any(&r.cmdline_any, &n.cmdline))
        && !any(&r.cmdline_none, &n.cmdline)
        && (r.parent_any.is_empty() || r.parent_any.contains(&n.parent))
}

/// The text after `after` up to a `stop` character; `None` unless it starts with a digit.
fn read_version(field: &str, after: &str, stop: &str) -> Option<String> {
    let start = field.find(after)? + after.len();
    let rest = &field[start..];
    let end = rest
        .find(|c: char| stop.contains(c) || c.is_whitespace())
        .unwrap_or(rest.len());
    let v = &rest[..end];
    v.starts_with(|c: char| c.is_ascii_digit())
        .then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_up_to_a_stop_character() {
        assert_eq!(
            read_version("/x/claude/versions/2.1.185", "/claude/versions/", "/"),
            Some("2.1.185".into())
        );
        assert_eq!(
            read_version(
                "/e/anthropic.claude-code-2.0.14-darwin-arm64/c",
                "/anthropic.claude-code-",
                "-/"
            ),
            Some("2.0.14".into())
        );
        assert_eq!(
            read_version("/x/claude/versions/latest", "/claude/versions/", "/"),
            None
        );
        assert_eq!(read_version("/nothing", "/claude/versions/", "/"), None);
    }
}
