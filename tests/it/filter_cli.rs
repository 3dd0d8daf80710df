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
        // English details whatever the developer's shell speaks (`cli::locale`).
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
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
        // No model in this folder: a bare hard phrase is the plain hard case (with a model it
        // would be one the model does not overrule; see the filter's unit tests).
        "decision:    violation of rule ads (a hard phrase)",
        "strike 1 → warn",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // With more words around them too.
    let out = run(&["filter", "explain", "朋友们请 加 微-信 代開發票"], dir.path(), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("decision:    violation of rule ads (a hard phrase)\n"),
        "{stdout}"
    );
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

/// Runs the binary with `args` (no `--rules` added).
fn run_bare(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("runs")
}

/// A rules folder and a small corpus: 领福利 templates are spam; warnings that quote the hard
/// phrase 加微信, and chat, are ham.
fn model_fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    let corpus = root.path().join("corpus");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::create_dir_all(corpus.join("spam")).expect("mkdir");
    std::fs::create_dir_all(corpus.join("ham")).expect("mkdir");
    std::fs::write(rules.join("ads.txt"), "加微信\n").expect("write");
    std::fs::write(rules.join("contact.txt"), "私聊\n").expect("write");
    std::fs::write(
        rules.join("rules.toml"),
        "[rules.ads]\ndisplay = \"广告引流\"\n[rules.contact]\nmode = \"cue\"\n[model]\nveto = 0.3\nact = 0.7\n",
    )
    .expect("write");
    let mut spam = String::from("# spam\n");
    let mut ham = String::from("# ham\n");
    for i in 0..12 {
        spam.push_str(&format!("spam\t进群领福利第{i}期，名额有限，先到先得\n"));
        spam.push_str(&format!("spam\t免费领福利啦，速度来，第{i}波\n"));
        ham.push_str(&format!("ham\t别信那些让你加微信的，都是骗子，第{i}次提醒\n"));
        ham.push_str(&format!("ham\t今天天气不错，晚上{i}点一起吃饭吧\n"));
    }
    std::fs::write(corpus.join("spam/freebies.tsv"), spam).expect("write");
    std::fs::write(corpus.join("ham/chat.tsv"), ham).expect("write");
    root
}

/// [`model_fixture`] with its model trained by `qunguan model train` into its rules folder,
/// and what that run printed.
fn trained_fixture() -> (tempfile::TempDir, Output) {
    let root = model_fixture();
    let (rules, corpus) = (root.path().join("rules"), root.path().join("corpus"));
    let (rules_s, corpus_s) = (rules.to_str().expect("utf-8"), corpus.to_str().expect("utf-8"));
    let out = run_bare(&["model", "train", "--corpus", corpus_s, "--rules", rules_s]);
    (root, out)
}

#[test]
fn model_train_is_deterministic_and_explain_shows_score_threshold_and_features() {
    let (root, out) = trained_fixture();
    let (rules, corpus) = (root.path().join("rules"), root.path().join("corpus"));
    let (rules_s, corpus_s) = (rules.to_str().expect("utf-8"), corpus.to_str().expect("utf-8"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained on 24 spam + 24 ham"), "{stdout}");
    let first = std::fs::read(rules.join("model.bin")).expect("model.bin written");
    let again = root.path().join("again.bin");
    let out = run_bare(&[
        "model",
        "train",
        "--corpus",
        corpus_s,
        "--rules",
        rules_s,
        "--out",
        again.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        first == std::fs::read(&again).expect("written"),
        "same corpus, same rules → the same bytes"
    );

    // No rule matches; the model alone acts for a new member …
    let ad = "领福利进群，名额有限";
    let out = run(&["filter", "explain", ad], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "member:      new",
        "rules:       no violation (nothing matched)",
        "model:       score ",
        "at or above; act threshold 0.7",
        "features:    the largest contributions",
        "bias",
        "decision:    violation of rule model (the model's score alone)",
        "shown to members as 「疑似广告」",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // … and is only recorded for review for a trusted one.
    let out = run(&["filter", "explain", "--member", "trusted", ad], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "member:      trusted",
        "review threshold 0.7",
        "decision:    no violation (the member is trusted: recorded for admin review instead)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // A warning quoting the hard phrase: the rules flag it, the model overrules them.
    let out = run(&["filter", "explain", "别信那些让你加微信的，都是骗子"], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "rules:       violation of rule ads (a hard phrase)",
        "below; veto threshold 0.3",
        "decision:    no violation (the model overruled the rules' hit",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    // scan: the decision for the member's trust, and the score.
    let input = format!("{ad}\n今天天气不错，一起吃饭吧\n");
    for (member, flagged) in [("new", true), ("trusted", false)] {
        let out = run(&["filter", "scan", "--member", member], &rules, input.as_bytes());
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["violation"], flagged, "{member}: {lines:?}");
        assert_eq!(lines[1]["violation"], false, "{member}: {lines:?}");
        let (ad_score, chat_score) = (
            lines[0]["score"].as_f64().expect("a score"),
            lines[1]["score"].as_f64().expect("a score"),
        );
        assert!(ad_score >= 0.7 && chat_score < 0.3, "{ad_score} {chat_score}");
    }

    // eval prints recall, false-positive rate and precision per category.
    let out = run(&["model", "eval", "--corpus", corpus_s], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "spam/freebies",
        "ham/chat",
        "recall (spam caught)",
        "false-positive rate (ham)",
        "precision",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// `[model] bare_act`: the model alone needs it for a message with no hit at all — `filter
/// explain` shows it in force, `filter scan` and `model eval` apply it — while a message with a
/// hit is still judged at `act`.
#[test]
fn bare_act_raises_the_threshold_for_a_message_with_no_hit() {
    let (root, out) = trained_fixture();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (rules, corpus) = (root.path().join("rules"), root.path().join("corpus"));
    let corpus_s = corpus.to_str().expect("utf-8");
    // With act 0.7 both lines are the model's alone; the second has a hit (the cue 私聊 with
    // more of the message around it, whose cue_act is act at first).
    let (bare, hit) = ("领福利进群，名额有限", "领福利进群，名额有限，私聊");
    let scan = |rules: &Path| -> Vec<Value> {
        let out = run(&["filter", "scan"], rules, format!("{bare}\n{hit}\n").as_bytes());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let before = scan(&rules);
    assert_eq!(
        (before[0]["violation"].clone(), before[1]["violation"].clone()),
        (true.into(), true.into())
    );
    assert!(before[0]["hits"].as_array().is_some_and(Vec::is_empty), "{before:?}");
    let score = before[0]["score"].as_f64().expect("a score");
    assert!((0.7..0.999).contains(&score), "{score}");
    // bare_act above the bare line's score: it no longer acts, the line with a hit still does.
    let toml = std::fs::read_to_string(rules.join("rules.toml")).expect("read");
    std::fs::write(
        rules.join("rules.toml"),
        format!("{toml}bare_act = 0.999\ncue_act = 0.5\n"),
    )
    .expect("write");
    let after = scan(&rules);
    assert_eq!(
        (after[0]["violation"].clone(), after[1]["violation"].clone()),
        (false.into(), true.into())
    );
    let out = run(&["filter", "explain", bare], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("act threshold 0.999"), "{text}");
    assert!(text.contains("decision:    no violation"), "{text}");
    // … and for the line with a lone cue, cue_act (before, explain always showed act).
    let out = run(&["filter", "explain", hit], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("act threshold 0.5"), "{text}");
    let out = run(&["model", "eval", "--corpus", corpus_s], &rules, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(with a lone cue from 0.5) (with no hit at all from 0.999)"),
        "{text}"
    );
    // Below act it is refused, naming the line.
    std::fs::write(rules.join("rules.toml"), format!("{toml}bare_act = 0.5\n")).expect("write");
    let out = run(&["filter", "explain", bare], &rules, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("rules.toml:") && stderr.contains("below act"),
        "{stderr}"
    );
}

#[test]
fn a_broken_model_file_is_refused_with_its_name() {
    let root = model_fixture();
    let rules = root.path().join("rules");
    std::fs::write(rules.join("model.bin"), b"QGMODEL1 but cut short").expect("write");
    let out = run(&["filter", "explain", "x"], &rules, b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model.bin") && stderr.contains("model train"),
        "{stderr}"
    );
    // Training does not need the broken file: it writes a new one.
    let corpus = root.path().join("corpus");
    let out = run(
        &["model", "train", "--corpus", corpus.to_str().expect("utf-8")],
        &rules,
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(run(&["filter", "explain", "x"], &rules, b"").status.success());
}

/// The shipped `rules/model.bin` is exactly what `qunguan model train` makes of the shipped
/// corpus with the shipped rules: a change to either without retraining fails here.
#[test]
fn the_shipped_model_is_reproduced_byte_for_byte_by_model_train() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_file = out_dir.path().join("model.bin");
    let out = run_bare(&[
        "model",
        "train",
        "--corpus",
        repo.join("corpus/train").to_str().expect("utf-8"),
        "--rules",
        repo.join("rules").to_str().expect("utf-8"),
        "--out",
        out_file.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trained = std::fs::read(&out_file).expect("written");
    let shipped = std::fs::read(repo.join("rules/model.bin")).expect("rules/model.bin is shipped");
    assert!(
        trained == shipped,
        "rules/model.bin is stale: run `qunguan model train` and commit it"
    );
    assert!(shipped.len() <= 4 * 1024 * 1024, "{} bytes", shipped.len());
}

/// `qunguan model train` on [`model_fixture`]'s corpus and rules under `root`, writing `out`,
/// with `extra` flags.
fn train_fixture_model(root: &Path, out: &Path, extra: &[&str]) -> Output {
    let (rules, corpus) = (root.join("rules"), root.join("corpus"));
    let mut args = vec![
        "model",
        "train",
        "--corpus",
        corpus.to_str().expect("utf-8"),
        "--rules",
        rules.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    run_bare(&args)
}

/// `--epochs` and `--l2` change the training (another model, same determinism) and bad values
/// are refused with the flag named, writing nothing.
#[test]
fn model_train_takes_epochs_and_l2_for_experiments_and_refuses_bad_ones() {
    let root = model_fixture();
    let train = |out: &Path, extra: &[&str]| train_fixture_model(root.path(), out, extra);
    let (default, custom) = (root.path().join("default.bin"), root.path().join("custom.bin"));
    assert!(train(&default, &[]).status.success());
    let out = train(&custom, &["--epochs", "3", "--l2", "0.001"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let custom_bytes = std::fs::read(&custom).expect("written");
    assert!(custom_bytes != std::fs::read(&default).expect("written"));
    let again = root.path().join("again.bin");
    assert!(train(&again, &["--epochs", "3", "--l2", "0.001"]).status.success());
    assert!(custom_bytes == std::fs::read(&again).expect("written"));
    for (bad, value) in [(&["--epochs", "0"][..], "got 0 and"), (&["--l2=-1"][..], "and -1)")] {
        let refused = root.path().join("refused.bin");
        let out = train(&refused, bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--epochs must be 1 or more") && stderr.contains(value),
            "{bad:?}: {stderr}"
        );
        assert!(!refused.exists(), "{bad:?} wrote a model");
    }
}

/// `--min-count`, `--runs` and `--seed` change the training (another model, same
/// determinism); their defaults are the shipped training (`--min-count 2 --runs 10` and the
/// default seed give the default model's bytes); `--runs 0` is refused, writing nothing.
#[test]
fn model_train_takes_min_count_runs_and_seed_for_experiments() {
    let root = model_fixture();
    let train = |name: &str, extra: &[&str]| {
        let out = root.path().join(name);
        (train_fixture_model(root.path(), &out, extra), out)
    };
    let read = |path: &Path| std::fs::read(path).expect("written");
    let (ok, default) = train("default.bin", &[]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let (ok, explicit) = train(
        "explicit.bin",
        &["--min-count", "2", "--runs", "10", "--seed", "5856734843261766705"],
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        read(&explicit) == read(&default),
        "the defaults spelled out train the default model"
    );
    for (i, extra) in [&["--min-count", "1"][..], &["--runs", "2"], &["--seed", "7"]]
        .iter()
        .enumerate()
    {
        let (ok, first) = train(&format!("a{i}.bin"), extra);
        assert!(
            ok.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let (_, second) = train(&format!("b{i}.bin"), extra);
        assert!(read(&first) != read(&default), "{extra:?} changes nothing");
        assert!(read(&first) == read(&second), "{extra:?} is not deterministic");
    }
    let (refused, out) = train("refused.bin", &["--runs", "0"]);
    assert!(!refused.status.success(), "--runs 0 accepted");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--runs must be 1 or more"), "{stderr}");
    assert!(!out.exists(), "--runs 0 wrote a model");
}
