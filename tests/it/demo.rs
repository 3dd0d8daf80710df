//! `qunguan demo`: a script piped into the real binary, its output checked line by line.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::BIN;

/// Runs `qunguan demo <args>` in `dir` with `script` on stdin; returns stdout. Fails the test
/// if the demo does not end on its own (bounded) or exits non-zero.
fn demo(dir: &Path, args: &[&str], script: &str) -> String {
    let mut child = Command::new(BIN)
        .arg("demo")
        .args(["--start", "2026-01-05T09:00:00+08:00"])
        .args(args)
        .current_dir(dir)
        // The server's zone must not matter: times are shown in the group's.
        .env("TZ", "UTC")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qunguan demo starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(script.as_bytes()).expect("write the script");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not end after its input ended");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("utf-8");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("utf-8");
    assert!(status.success(), "{status}\n{out}\n{err}");
    out
}

/// The lines of `out` from the first one equal to `first` on, `n` of them.
fn lines_from<'a>(out: &'a str, first: &str, n: usize) -> Vec<&'a str> {
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == first)
        .unwrap_or_else(|| panic!("no line {first:?} in:\n{out}"));
    lines[at..(at + n).min(lines.len())].to_vec()
}

#[test]
fn a_piped_script_shows_the_ladder_the_welcome_and_admin_commands_with_the_built_in_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "\
大家好
加我微信 abc123
/join 小红
你好
/join 小刚
/as 小红
哈哈
哈哈
哈哈
/as 小明
加 微-信 详聊
还能说话吗
/time +10m
代开发票 找我
/admin
/warn @小红 刷屏
/why 3
/潜水 1d
/schedule add 09:30 早安，各位
/time +30m
";
    let out = demo(dir.path(), &[], script);
    assert!(out.starts_with("qunguan 演示："), "{out}");
    assert!(out.contains("内置默认规则"), "no ./rules here: {out}");
    assert!(out.contains("现在是 2026-01-05 09:00。"), "in the group's zone: {out}");
    assert!(out.contains("/join 名字"), "the help is shown: {out}");

    // First strike: the recall and the warning, under the message.
    assert_eq!(
        lines_from(&out, "小明：加我微信 abc123", 3),
        [
            "小明：加我微信 abc123",
            "  【群管】撤回了 小明 的消息「加我微信 abc123」",
            "  【群管】说：@小明 第1次警告 (1/3)：消息触发了规则「广告引流」。请遵守群规，再犯将受到处罚。",
        ]
    );
    // A newcomer to a quiet group is welcomed at once, with the built-in group rules …
    let welcome = lines_from(&out, "→ 小红 加入了本群", 4);
    assert_eq!(welcome[2], "  【群管】说：@小红 欢迎加入本群！请先阅读群规：");
    assert_eq!(welcome[3], "        本群群规：");
    // … and one who joins within the window after a welcome is greeted when it ends.
    assert_eq!(
        lines_from(&out, "→ 小刚 加入了本群", 3)[2],
        "（10秒内刚欢迎过新人：这段时间里入群的人会一起欢迎，在那次欢迎 10秒后发出；/time +10s 就能看到）"
    );
    assert!(
        out.contains("\n  【群管】说：@小刚 欢迎加入本群！请先阅读群规：\n"),
        "{out}"
    );
    // Ordinary chat is not a flood: the clock moves with every line, and three laughs are fine.
    assert_eq!(out.lines().filter(|l| *l == "小红：哈哈").count(), 3, "{out}");
    assert!(!out.contains("撤回了 小红") && !out.contains("「flood」"), "{out}");
    // Second strike (an evasion the normalizer sees through): a 10-minute mute, said in the
    // group, during which the member cannot post (3 seconds of it gone by the next line).
    assert_eq!(
        lines_from(&out, "小明：加 微-信 详聊", 5),
        [
            "小明：加 微-信 详聊",
            "  【群管】撤回了 小明 的消息「加 微-信 详聊」",
            "  【群管】禁言 小明 10分钟",
            "  【群管】说：@小明 因「广告引流」第2次违规，禁言10分钟。",
            "（小明 正在禁言中，还剩 9分钟57秒，这条发不出去：还能说话吗）",
        ]
    );
    // Ten minutes later the third strike removes them.
    assert_eq!(
        lines_from(&out, "⏰ 过了 10分钟，现在是 2026-01-05 09:10", 5)[1..],
        [
            "小明：代开发票 找我",
            "  【群管】撤回了 小明 的消息「代开发票 找我」",
            "  【群管】将 小明 移出本群",
            "  【群管】说：@小明 因「广告引流」第3次违规，已被移出本群。",
        ]
    );
    // Admin commands answer with a quote of the command.
    assert_eq!(
        lines_from(&out, "管理员：/warn @小红 刷屏", 2)[1],
        "  【群管】回复 管理员：@小红 第1次警告 (1/3)：刷屏。请遵守群规，再犯将受到处罚。（案件 #4）"
    );
    assert!(
        lines_from(&out, "管理员：/why 3", 2)[1].starts_with("  【群管】回复 管理员：案件 #3（"),
        "{out}"
    );
    assert!(out.contains("没有潜水1天以上的成员。"), "{out}");
    // A post scheduled by the admin goes out when its time comes.
    let after = out
        .split("⏰ 过了 30分钟，现在是 2026-01-05 09:40")
        .nth(1)
        .expect("the clock moved");
    assert!(after.contains("\n  【群管】说：早安，各位\n"), "{out}");
    assert!(out.trim_end().ends_with("演示结束。"), "EOF ends it cleanly: {out}");
}

#[test]
fn the_demo_shows_times_in_the_configured_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("berlin.toml");
    std::fs::write(&config, "[stats]\ntimezone = \"Europe/Berlin\"\n").expect("write config");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let args = [
        "--config",
        config.to_str().expect("utf-8"),
        "--rules",
        rules.to_str().expect("utf-8"),
    ];
    let out = demo(dir.path(), &args, "/time +1h\n");
    // 09:00 in Shanghai is 02:00 in Berlin.
    assert!(out.contains("现在是 2026-01-05 02:00。"), "{out}");
    assert!(out.contains("⏰ 过了 1小时，现在是 2026-01-05 03:00"), "{out}");
}

#[test]
fn the_demo_runs_an_operators_config_and_rules_with_time_passing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("demo.toml");
    std::fs::write(
        &config,
        "[inactivity]\nremind_after = [\"7d\"]\nremove_after = \"30d\"\n[moderation]\nladder = [\"mute 1h\"]\n",
    )
    .expect("write config");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let script = "\
我先说一句
/as 小红
我也说一句
/as 小明
加微信
/time +7d
/time +23d
/as 小红
/leave
";
    let out = demo(
        dir.path(),
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--rules",
            rules.to_str().expect("utf-8"),
        ],
        script,
    );
    assert!(out.contains("规则目录"), "{out}");
    // The configured ladder: the first strike mutes for an hour.
    assert_eq!(lines_from(&out, "小明：加微信", 3)[2], "  【群管】禁言 小明 1小时");
    // Seven days of silence: one reminder for both.
    assert_eq!(
        lines_from(&out, "⏰ 过了 7天，现在是 2026-01-12 09:00", 2)[1],
        "  【群管】说：@小明 @小红 好久不见！你已经7天没有在群里发言了，出来冒个泡吧～（潜水满30天的成员将被移出本群）"
    );
    // Thirty days: both are removed (in member order); a removed member cannot leave again.
    assert_eq!(
        lines_from(&out, "⏰ 过了 23天，现在是 2026-02-04 09:00", 3)[1..],
        ["  【群管】将 小明 移出本群", "  【群管】将 小红 移出本群"]
    );
    assert!(out.contains("（小红 已经不在群里）"), "{out}");
}

#[test]
fn the_demo_shows_check_in_points_and_a_keyword_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "\
/签到
早上好
/积分
请问 怎么 签到？
/签到
/排行
";
    let out = demo(dir.path(), &[], script);
    assert_eq!(
        lines_from(&out, "小明：/签到", 2)[1],
        "  【群管】回复 小明：@小明 签到成功！连续 1 天，获得 5 积分，今天第 1 个签到，当前积分 5。"
    );
    // One point for the message.
    assert_eq!(
        lines_from(&out, "小明：/积分", 2)[1],
        "  【群管】回复 小明：小明 当前积分 6，排名第 1。"
    );
    // The built-in rules/replies.toml answers, spaces and all.
    assert_eq!(
        lines_from(&out, "小明：请问 怎么 签到？", 2)[1],
        "  【群管】回复 小明：每天发送 /签到 打卡，连续签到有额外积分；/积分 查看自己的积分，/排行 查看本周排行。"
    );
    let second = out.split("小明：请问 怎么 签到？").nth(1).expect("asked");
    assert!(
        second.contains("小明：/签到\n  【群管】回复 小明：今天已经签到过了，明天再来吧～（已连续签到 1 天）"),
        "{out}"
    );
    // Two messages and the check-in; a reply's second line is indented under it.
    assert!(
        out.contains("  【群管】回复 小明：本周积分排行：\n        1. 小明 7 分\n"),
        "{out}"
    );
}
