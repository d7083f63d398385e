//! Table tests of the matcher against the built-in catalog: one or more real-looking process
//! events per agent (with the version the path carries), and the false-positive traps of research
//! §3, each of which must be rejected. Every matching event must also be selected by the
//! generated prefilter (evaluated here with the query's own semantics), so query and matcher
//! cannot drift.

use s1bridge_ai_agents::{Catalog, Field, Os, ProcessEvent, Verdict};

fn ev(os: Os, image_path: &str, cmdline: &str, parent: &str) -> ProcessEvent {
    ProcessEvent {
        os: Some(os),
        name: String::new(),
        image_path: image_path.into(),
        cmdline: cmdline.into(),
        parent_name: parent.into(),
    }
}

use Os::{Linux, Macos, Windows};

/// (event, agent id, version)
fn positives() -> Vec<(ProcessEvent, &'static str, Option<&'static str>)> {
    vec![
        (
            ev(
                Macos,
                "/Users/ann/.local/share/claude/versions/2.1.185",
                "claude --resume",
                "zsh",
            ),
            "claude-code",
            Some("2.1.185"),
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/claude/versions/2.0.49",
                "claude -p fix the build",
                "bash",
            ),
            "claude-code",
            Some("2.0.49"),
        ),
        (
            ev(
                Windows,
                r"C:\Users\Cy\.local\bin\claude.exe",
                r"C:\Users\Cy\.local\bin\claude.exe",
                "pwsh.exe",
            ),
            "claude-code",
            None,
        ),
        (
            ev(
                Macos,
                "/Users/ann/.vscode/extensions/anthropic.claude-code-2.0.14-darwin-arm64/resources/native-binary/claude",
                "claude --output-format stream-json",
                "Code Helper (Plugin)",
            ),
            "claude-code",
            Some("2.0.14"),
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js",
                "bash",
            ),
            "claude-code",
            None,
        ),
        (
            ev(
                Windows,
                r"C:\Program Files\nodejs\node.exe",
                r#""C:\Program Files\nodejs\node.exe" C:\Users\Cy\AppData\Roaming\npm\node_modules\@anthropic-ai\claude-code\cli.js"#,
                "cmd.exe",
            ),
            "claude-code",
            None,
        ),
        (
            ev(
                Macos,
                "/Applications/Cursor.app/Contents/MacOS/Cursor",
                "/Applications/Cursor.app/Contents/MacOS/Cursor",
                "launchd",
            ),
            "cursor",
            None,
        ),
        (
            ev(
                Windows,
                r"C:\Users\Cy\AppData\Local\Programs\cursor\Cursor.exe",
                r#""C:\Users\Cy\AppData\Local\Programs\cursor\Cursor.exe""#,
                "explorer.exe",
            ),
            "cursor",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/cursor-agent/versions/2025.09.18-7ae6800/cursor-agent",
                "cursor-agent",
                "bash",
            ),
            "cursor-agent",
            Some("2025.09.18-7ae6800"),
        ),
        (
            ev(
                Macos,
                "/opt/homebrew/Caskroom/copilot-cli/0.0.339/copilot",
                "copilot",
                "zsh",
            ),
            "github-copilot",
            Some("0.0.339"),
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/JetBrains/IntelliJIdea2025.2/github-copilot-intellij/copilot-agent/native/linux-x64/copilot-language-server",
                "copilot-language-server --stdio",
                "idea",
            ),
            "github-copilot",
            None,
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /home/bob/.npm/node_modules/@github/copilot-language-server/dist/language-server.js --stdio",
                "nvim",
            ),
            "github-copilot",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/bin/copilot",
                "copilot -p explain",
                "bash",
            ),
            "github-copilot",
            None,
        ),
        (
            ev(
                Windows,
                r"C:\Users\Cy\.vscode\extensions\openai.chatgpt-0.4.12-win32-x64\bin\windows-x86_64\codex.exe",
                "codex.exe app-server --analytics-default-enabled",
                "Code.exe",
            ),
            "codex",
            Some("0.4.12"),
        ),
        (
            ev(
                Linux,
                "/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex",
                "codex exec",
                "node",
            ),
            "codex",
            None,
        ),
        (
            ev(
                Macos,
                "/Users/ann/.codex/packages/standalone/releases/0.46.0-aarch64-apple-darwin/codex",
                "codex",
                "zsh",
            ),
            "codex",
            Some("0.46.0"),
        ),
        (
            ev(
                Macos,
                "/opt/homebrew/bin/node",
                "node /Users/ann/.npm/_npx/9b1/node_modules/@google/gemini-cli/bundle/gemini.js",
                "zsh",
            ),
            "gemini-cli",
            None,
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /usr/lib/node_modules/npm/bin/npx-cli.js @google/gemini-cli@0.9.2 -p hello",
                "bash",
            ),
            "gemini-cli",
            Some("0.9.2"),
        ),
        (
            ev(
                Macos,
                "/Applications/Antigravity.app/Contents/Resources/app/extensions/antigravity/bin/language_server_macos_arm",
                "language_server_macos_arm --ide_name antigravity",
                "Antigravity Helper",
            ),
            "antigravity",
            None,
        ),
        (
            ev(
                Macos,
                "/Applications/Windsurf.app/Contents/Resources/app/extensions/windsurf/bin/language_server_macos_arm",
                "language_server_macos_arm --run_child --ide_name windsurf",
                "Windsurf Helper (Plugin)",
            ),
            "windsurf",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/uv/tools/aider-chat/bin/python",
                "/home/bob/.local/share/uv/tools/aider-chat/bin/python /home/bob/.local/bin/aider",
                "bash",
            ),
            "aider",
            None,
        ),
        (
            ev(
                Linux,
                "/usr/bin/python3",
                "python3 -m aider --model sonnet",
                "bash",
            ),
            "aider",
            None,
        ),
        (
            ev(
                Macos,
                "/opt/homebrew/bin/node",
                "node /opt/homebrew/lib/node_modules/@qwen-code/qwen-code/cli.js",
                "zsh",
            ),
            "qwen-code",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/JetBrains/PyCharm/continue/bin/linux-x64/continue-binary",
                "continue-binary",
                "pycharm",
            ),
            "continue",
            None,
        ),
        (
            ev(
                Linux,
                "/usr/lib/node_modules/@cline/cli-linux-x64/bin/cline",
                "cline --acp",
                "bash",
            ),
            "cline",
            None,
        ),
        (
            ev(Linux, "/home/bob/.kilo/bin/kilo", "kilo run", "bash"),
            "kilo-code",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.opencode/bin/opencode",
                "opencode serve",
                "bash",
            ),
            "opencode",
            None,
        ),
        (
            ev(Macos, "/Users/ann/.local/bin/goose", "goose session", "zsh"),
            "goose",
            None,
        ),
        (
            ev(
                Macos,
                "/Users/ann/.local/share/junie/versions/251.204/Applications/junie.app/Contents/MacOS/junie",
                "junie --acp=true",
                "zed",
            ),
            "junie",
            Some("251.204"),
        ),
        (
            ev(
                Macos,
                "/Applications/Kiro CLI.app/Contents/MacOS/kiro-cli-chat",
                "kiro-cli-chat chat",
                "kiro-cli",
            ),
            "amazon-q",
            None,
        ),
        (
            ev(Linux, "/home/bob/.amp/bin/amp", "amp --no-tui", "bash"),
            "sourcegraph-amp",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/share/JetBrains/IntelliJIdea2025.2/Sourcegraph/agent/node-linux-x64",
                "node-linux-x64 index.js",
                "idea",
            ),
            "sourcegraph-cody",
            None,
        ),
        (
            ev(
                Linux,
                "/home/bob/.tabnine/4.205.0/x86_64-unknown-linux-musl/WD-TabNine",
                "WD-TabNine --client IntelliJIDEA",
                "idea",
            ),
            "tabnine",
            Some("4.205.0"),
        ),
        (
            ev(
                Macos,
                "/Applications/Zed.app/Contents/MacOS/zed",
                "zed",
                "launchd",
            ),
            "zed",
            None,
        ),
        (
            ev(
                Linux,
                "/usr/local/bin/ollama",
                "/usr/local/bin/ollama serve",
                "systemd",
            ),
            "ollama",
            None,
        ),
        (
            ev(
                Windows,
                r"C:\Users\Cy\AppData\Local\Programs\LM Studio\LM Studio.exe",
                r#""C:\Users\Cy\AppData\Local\Programs\LM Studio\LM Studio.exe""#,
                "explorer.exe",
            ),
            "lm-studio",
            None,
        ),
    ]
}

/// Look-alikes from research §3 that must never be reported.
fn decoys() -> Vec<(ProcessEvent, &'static str)> {
    vec![
        (
            ev(
                Macos,
                "/opt/homebrew/bin/copilot",
                "copilot app deploy --name api",
                "zsh",
            ),
            "AWS Copilot CLI",
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/bin/copilot",
                "copilot svc deploy",
                "bash",
            ),
            "AWS Copilot CLI in ~/.local/bin",
        ),
        (
            ev(
                Linux,
                "/home/bob/.local/bin/goose",
                "goose -dir migrations postgres user=app up",
                "bash",
            ),
            "pressly/goose",
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /srv/app/cursor/worker-server.js",
                "pm2",
            ),
            "the word cursor",
        ),
        (
            ev(
                Macos,
                "/Applications/Cursor.app/Contents/Frameworks/Cursor Helper (Renderer).app/Contents/MacOS/Cursor Helper (Renderer)",
                "Cursor Helper (Renderer) --type=renderer",
                "Cursor",
            ),
            "Electron helper",
        ),
        (
            ev(
                Windows,
                r"C:\Users\Cy\AppData\Local\Programs\cursor\Cursor.exe",
                r#""C:\Users\Cy\AppData\Local\Programs\cursor\Cursor.exe" --type=gpu-process"#,
                "Cursor.exe",
            ),
            "Electron helper on Windows",
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /usr/lib/node_modules/npm/bin/npm-cli.js install -g @openai/codex",
                "bash",
            ),
            "npm install",
        ),
        (
            ev(
                Macos,
                "/opt/homebrew/bin/brew",
                "brew upgrade gemini-cli",
                "zsh",
            ),
            "brew upgrade",
        ),
        (
            ev(
                Linux,
                "/usr/bin/python3",
                "python3 -m pip install aider-chat",
                "bash",
            ),
            "pip install",
        ),
        (
            ev(
                Macos,
                "/Users/ann/.local/share/claude/versions/2.1.185",
                "/Users/ann/.local/share/claude/versions/2.1.185 --ripgrep -n foo",
                "claude",
            ),
            "claude --ripgrep",
        ),
        (
            ev(
                Macos,
                "/Users/ann/.local/share/claude/versions/2.1.185",
                "claude --version",
                "zsh",
            ),
            "--version run",
        ),
        (
            ev(
                Linux,
                "/usr/bin/vim",
                "vim /home/bob/src/codex/README.md",
                "bash",
            ),
            "the word codex",
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node /home/bob/.npm/qwen-code/bundle/gemini.js",
                "bash",
            ),
            "old Qwen bundle/gemini.js is not Gemini CLI",
        ),
        (
            ev(Linux, "/usr/bin/raider", "raider --scan", "bash"),
            "raider is not aider",
        ),
        (
            ev(Linux, "/usr/local/bin/kilo", "kilo notes.txt", "bash"),
            "kilo the editor",
        ),
        (
            ev(Linux, "/usr/bin/amp", "amp main.rs", "bash"),
            "amp the editor",
        ),
        (
            ev(
                Linux,
                "/usr/bin/node",
                "node server.js --prompt \"ask claude-code about cursor\"",
                "bash",
            ),
            "words in a prompt",
        ),
        (
            ev(
                Macos,
                "/Applications/Cursor.app/Contents/MacOS/Cursor",
                "/Applications/Cursor.app/Contents/Resources/app/out/cli.js .",
                "zsh",
            ),
            "the cursor shell command",
        ),
        (
            ev(
                Linux,
                "/usr/bin/python3",
                "python3 /opt/tools/aider-notify.py",
                "cron",
            ),
            "aider-notify.py",
        ),
        (
            ev(
                Windows,
                r"C:\Program Files\Microsoft Visual Studio\2022\Common7\ServiceHub\Hosts\ServiceHub.Host.dotnet.x64\ServiceHub.Host.dotnet.x64.exe",
                "ServiceHub.Host.dotnet.x64.exe copilot",
                "devenv.exe",
            ),
            "Visual Studio ServiceHub",
        ),
    ]
}

/// The prefilter's semantics: name equal (any case), path / command line contains (any case).
fn selected_by_prefilter(c: &Catalog, e: &ProcessEvent) -> bool {
    let name = e
        .image_path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .to_lowercase();
    let path = e.image_path.to_lowercase();
    let cmd = e.cmdline.to_lowercase();
    c.prefilters().iter().any(|p| {
        p.clauses.iter().any(|cl| {
            cl.values.iter().any(|v| {
                let v = v.to_lowercase();
                match cl.field {
                    Field::Name => name == v,
                    Field::ImagePath => path.contains(&v),
                    Field::Cmdline => cmd.contains(&v),
                }
            })
        })
    })
}

#[test]
fn every_agent_signature_is_found_with_its_version() {
    let c = Catalog::builtin();
    for (e, agent, version) in positives() {
        let m = c
            .match_event(&e)
            .unwrap_or_else(|| panic!("{agent} not found in {e:?}: {:?}", c.classify(&e)));
        assert_eq!(m.agent.id(), agent, "{e:?} matched rule {}", m.rule_id);
        assert_eq!(m.version.as_deref(), version, "{e:?}");
        assert!(
            selected_by_prefilter(&c, &e),
            "the generated query would not select {e:?} (rule {agent}/{})",
            m.rule_id
        );
    }
}

#[test]
fn false_positive_traps_are_rejected() {
    let c = Catalog::builtin();
    for (e, why) in decoys() {
        assert!(
            !matches!(c.classify(&e), Verdict::Agent(_)),
            "{why}: {e:?} was reported as {:?}",
            c.classify(&e)
        );
    }
}

#[test]
fn exclusions_say_which_one_applied() {
    let c = Catalog::builtin();
    let helper = &decoys()[4].0;
    assert_eq!(
        c.classify(helper),
        Verdict::Excluded {
            exclusion: "electron-helper"
        }
    );
}

#[test]
fn os_restricted_rules_ignore_other_systems() {
    let c = Catalog::builtin();
    // The macOS/Linux layout seen on a Windows host is not Claude Code's Windows install.
    let e = ev(
        Windows,
        "/home/x/.local/share/claude/versions/2.1.1",
        "claude",
        "bash",
    );
    assert!(c.match_event(&e).is_none());
    // Unknown OS: rules of every OS apply.
    let mut e = e;
    e.os = None;
    assert_eq!(
        c.match_event(&e).map(|m| m.agent.id().to_string()),
        Some("claude-code".into())
    );
}

#[test]
fn queries_are_generated_from_the_catalog_and_split() {
    let c = Catalog::builtin();
    let p = c.prefilters();
    assert_eq!(p.len(), 1, "the built-in catalog fits one query");
    let dv = p[0].dv();
    assert!(
        dv.starts_with("EventType = \"Process Creation\" AND ("),
        "{dv}"
    );
    assert!(
        dv.contains("TgtProcImagePath In Contains AnyCase ("),
        "{dv}"
    );
    assert!(dv.contains("\".local/share/claude/versions\""), "{dv}");
    // Windows variant with backslashes for rules that apply to Windows.
    assert!(dv.contains(r#""programs\cursor\cursor.exe""#), "{dv}");
    assert!(
        !dv.contains(r#"".local\share\claude\versions""#),
        "macOS/Linux only rule: {dv}"
    );
    let pq = p[0].pq(5000);
    assert!(pq.contains(r#""programs\\cursor\\cursor.exe""#), "{pq}");
    assert!(
        pq.contains("tgt.process.image.path contains:anycase ("),
        "{pq}"
    );
    assert!(pq.ends_with("| limit 5000"), "{pq}");
    for cl in &p[0].clauses {
        assert!(cl.values.len() <= s1bridge_ai_agents::MAX_LIST);
    }

    // A catalog with 250 path anchors: lists split at 100, queries at ~7,000 characters.
    let mut text = String::from("format = 1\n");
    for i in 0..250 {
        text.push_str(&format!(
            "[[agent]]\nid = \"a{i}\"\nname = \"A{i}\"\nvendor = \"V\"\n[[agent.rule]]\nid = \"r\"\nos = [\"linux\"]\nimage_path_any = [\"/opt/some-long-vendor-directory-name-{i:04}/bin/\"]\n"
        ));
    }
    let big = Catalog::parse(&text, "big.toml").expect("valid");
    let qs = big.prefilters();
    assert!(qs.len() >= 2, "{}", qs.len());
    let total: usize = qs
        .iter()
        .flat_map(|q| &q.clauses)
        .map(|c| c.values.len())
        .sum();
    assert_eq!(total, 250);
    for q in &qs {
        assert!(
            q.dv().len() <= s1bridge_ai_agents::MAX_QUERY_CHARS + 100,
            "{}",
            q.dv().len()
        );
        for cl in &q.clauses {
            assert!(cl.values.len() <= 100);
        }
    }
}
