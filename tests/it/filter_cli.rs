//! `qunguan filter explain` and `qunguan filter scan`, run as the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_qunguan");

fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ads.txt"), "加微信\n代开发票\n").expect("write");
    std::fs::write(dir.path().join("contact.txt"), "飞机\n").expect("write");
    std::fs::write(dir.path().join("rules.toml"), "[rules.contact]\nmode = \"cue\"\n").expect("write");
    dir
}

fn run(args: &[&str], rules: &Path, stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--rules")
        .arg(rules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("finishes")
}

#[test]
fn explain_shows_the_normalized_text_hits_with_original_spans_and_the_ladder() {
    let dir = rules_dir();
    let out = run(&["filter", "explain", "请 加 微-信 代開發票"], dir.path(), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "normalized:  请加微信代开发票",
        "ads (hard) pattern \"加微信\" at bytes 4..15: \"加 微-信\"",
        "ads (hard) pattern \"代开发票\" at bytes 16..28: \"代開發票\"",
        "decision:    violation of rule ads (a hard phrase)",
        "strike 1 → warn",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let out = run(&["filter", "explain", "坐飞机去北京"], dir.path(), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("contact (cue)") && stdout.contains("no violation"),
        "{stdout}"
    );
}

#[test]
fn scan_writes_one_json_object_per_line_with_byte_offsets_into_text() {
    let dir = rules_dir();
    let input = "加 微 信 abc\n今天天气不错\r\n飞机 @crypto_king01\n";
    let out = run(&["filter", "scan"], dir.path(), input.as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["text"], "加 微 信 abc");
    assert_eq!(first["violation"], true);
    let hit = &first["hits"][0];
    assert_eq!(
        (&hit["rule"], &hit["kind"], &hit["pattern"]),
        (&"ads".into(), &"hard".into(), &"加微信".into())
    );
    let (s, e) = (
        hit["start"].as_u64().expect("start") as usize,
        hit["end"].as_u64().expect("end") as usize,
    );
    assert_eq!(&"加 微 信 abc"[s..e], "加 微 信");
    // The key order is the documented one.
    let raw = String::from_utf8_lossy(&run(&["filter", "scan"], dir.path(), b"x\n").stdout).to_string();
    assert!(
        raw.starts_with("{\"text\":\"x\",\"violation\":false,\"hits\":[]}"),
        "{raw}"
    );

    assert_eq!(
        lines[1],
        serde_json::json!({"text": "今天天气不错", "violation": false, "hits": []})
    );
    // A cue plus a weak pattern (an @handle) is a violation; both hits are listed.
    assert_eq!(lines[2]["violation"], true);
    let kinds: Vec<&str> = lines[2]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["cue", "regex"]);
}

#[test]
fn scan_jsonl_reads_json_strings_and_reports_bad_lines_without_losing_the_rest() {
    let dir = rules_dir();
    let input = "\"第一行\\n代开发票\"\nnot json\n\"ok\"\n";
    let out = run(&["filter", "scan", "--jsonl"], dir.path(), input.as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["text"], "第一行\n代开发票");
    assert_eq!(lines[0]["violation"], true);
    assert_eq!(lines[1]["text"], "ok");
    assert!(!out.status.success(), "a bad line makes the exit status non-zero");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "the bad line is named"
    );
}

#[test]
fn a_bad_rules_folder_is_reported_with_file_and_line() {
    let dir = rules_dir();
    std::fs::write(
        dir.path().join("rules.toml"),
        "[rules.contact]\nmode = \"cue\"\nseverity = 0\n",
    )
    .expect("write");
    let out = run(&["filter", "explain", "x"], dir.path(), b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rules.toml:3:") && stderr.contains("severity"),
        "{stderr}"
    );
}
