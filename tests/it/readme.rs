//! The README's promises: the quick starts run exactly two commands (issue 2), the demo is
//! mentioned there (issue 6), and the admin command table lists every command and alias.

use std::path::Path;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the section under `heading` (up to the next heading of the same level).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let body = &text[start + heading.len() + 2..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// The commands of the first ```sh block of `section`, without comments.
fn first_commands(section: &str) -> Vec<&str> {
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```sh block");
    block
        .lines()
        .map(|l| l.split_once('#').map_or(l, |(cmd, _)| cmd).trim())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn each_quick_start_runs_the_daemon_and_the_tests_and_mentions_the_demo() {
    let text = readme();
    for heading in ["## Quick start", "## 快速开始"] {
        let quick = section(&text, heading);
        assert_eq!(
            first_commands(quick),
            ["cargo run --release -- run", "cargo test"],
            "{heading}: exactly two commands, the daemon on the built-in defaults and the tests"
        );
        assert!(
            quick.contains("`cargo run --release -- demo`"),
            "{heading} must mention the demo"
        );
    }
}

#[test]
fn the_admin_command_table_lists_every_command_and_alias() {
    let text = readme();
    let table = section(&text, "## Admin commands 管理命令");
    let missing: Vec<&str> = qunguan::service::commands::parse::NAMES
        .iter()
        .map(|(alias, _)| *alias)
        .filter(|alias| !table.contains(&format!("`/{alias}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's admin command table lacks {missing:?}; add a row per command (English and 中文 alias)"
    );
}
