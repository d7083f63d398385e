//! Loading and validating catalog files: every error names the file and line and says what to do.

use s1bridge_ai_agents::{Catalog, CatalogError};

fn err(text: &str) -> CatalogError {
    Catalog::parse(text, "test.toml").expect_err("the catalog must be refused")
}

const HEADER: &str = "format = 1\n";

#[test]
fn the_builtin_catalog_loads_and_covers_the_research_table() {
    let c = Catalog::builtin();
    for id in [
        "claude-code",
        "cursor",
        "cursor-agent",
        "github-copilot",
        "codex",
        "gemini-cli",
        "antigravity",
        "windsurf",
        "aider",
        "cline",
        "kilo-code",
        "continue",
        "amazon-q",
        "sourcegraph-amp",
        "sourcegraph-cody",
        "tabnine",
        "junie",
        "opencode",
        "goose",
        "zed",
        "ollama",
        "lm-studio",
        "qwen-code",
    ] {
        assert!(c.agent(id).is_some(), "{id} missing from the catalog");
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = err("format = 1\n[[agent]]\nid = \"x\"\nname = \n");
    assert_eq!(e.line(), Some(4), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("test.toml line 4"), "{msg}");
    assert!(msg.contains("fix the file"), "{msg}");
}

#[test]
fn unknown_fields_are_refused_where_they_are() {
    let e = err(&format!(
        "{HEADER}[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nimage_path_anyy = [\"/x/y/z\"]\n"
    ));
    assert_eq!(e.line(), Some(8), "{e}");
    assert!(e.to_string().contains("image_path_anyy"), "{e}");
}

#[test]
fn duplicate_agent_ids_point_at_the_second() {
    let agent = "[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nimage_path_any = [\"/opt/aa/bin\"]\n";
    let e = err(&format!("{HEADER}{agent}{agent}"));
    assert_eq!(e.line(), Some(10), "{e}");
    assert!(e.to_string().contains("used twice"), "{e}");
}

#[test]
fn a_rule_without_an_anchor_is_refused() {
    let e = err(&format!(
        "{HEADER}[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nparent_any = [\"code\"]\n"
    ));
    assert_eq!(e.line(), Some(7), "{e}");
    assert!(e.to_string().contains("server-side query"), "{e}");
}

#[test]
fn a_runtime_without_a_script_token_is_refused() {
    let e = err(&format!(
        "{HEADER}[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nimage_name_any = [\"x\"]\nhost_any = [\"node\"]\n"
    ));
    assert!(e.to_string().contains("identifies nothing"), "{e}");
}

#[test]
fn quotes_empty_patterns_bad_ids_and_formats_are_refused() {
    for (text, needle) in [
        (
            "[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\ncmdline_any = [\"say \\\"hi\\\"\"]\n",
            "double quote",
        ),
        (
            "[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\ncmdline_any = [\" \"]\n",
            "matches everything",
        ),
        (
            "[[agent]]\nid = \"Bad Id\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\ncmdline_any = [\"x\"]\n",
            "lower-case",
        ),
        (
            "[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n",
            "no [[agent.rule]]",
        ),
        (
            "[[agent]]\nid = \"a\"\nname = \"A\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nimage_path_any = [\"/a/\"]\n",
            "too short",
        ),
    ] {
        let e = err(&format!("{HEADER}{text}"));
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert!(e.line().is_some(), "{needle}: {e}");
    }
    let e = err("format = 2\n");
    assert!(e.to_string().contains("format 2 is not supported"), "{e}");
    assert_eq!(e.line(), Some(1));
    assert!(err("format = 1\n").to_string().contains("no [[agent]]"));
}

#[test]
fn an_override_file_replaces_the_builtin_and_a_missing_one_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("agents.toml");
    std::fs::write(
        &path,
        "format = 1\n[[agent]]\nid = \"in-house\"\nname = \"In-house agent\"\nvendor = \"Us\"\n[[agent.rule]]\nid = \"bin\"\nimage_path_any = [\"/opt/inhouse-agent/bin/\"]\n",
    )
    .expect("write");
    let c = Catalog::load(&path).expect("loads");
    assert_eq!(c.agents.len(), 1);
    assert_eq!(c.source, path.display().to_string());
    let missing = Catalog::load(&dir.path().join("nope.toml")).expect_err("missing");
    assert!(missing.to_string().contains("--ai-catalog"), "{missing}");
    assert!(
        Catalog::load_or_builtin(None)
            .expect("builtin")
            .agents
            .len()
            > 20
    );
}
