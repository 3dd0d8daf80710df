//! What the operator's command line says: the summaries of `qunguan --help`, the headline
//! lines of `check-config`, `stats`, `filter explain` and `audit --retry` (here), and the lines
//! below them ([`config`]: `check-config`; [`records`]: `audit`, `stats`, `samples`, `bans`;
//! [`explain`]: `filter explain`).
//!
//! English help is the doc comments clap reads (`src/cli/mod.rs`), so `cargo doc` and
//! `--help` never drift apart; [`command_summary`] holds the Chinese summary of every
//! subcommand, keyed by its path (`"filter explain"`), and a test in `cli` checks that every
//! subcommand clap knows has one. Flags, their help and clap's own headings stay English: they
//! are what scripts and documentation quote. Which locale applies is decided in
//! `cli::locale` (the configuration's `[messages] locale` when `--config` is given, else
//! `LC_ALL` / `LC_MESSAGES` / `LANG`).

use crate::domain::locale::Locale;

mod config;
mod explain;
mod records;

pub use config::{
    ConfigLine, GroupOverride, TelegramTransport, WordListWarning, config_line, group_override, ignored_section_keys,
    model_summary, telegram_by_token, word_list_warning,
};
pub use explain::{
    ExplainEffect, ExplainLine, ExplainNoAction, ExplainReason, ExplainThreshold, SamplesSource, explain_line,
    explain_samples,
};
pub use records::{
    DeadLetterLine, ListChange, SampleListLine, audit_case_line, dead_letter_line, display_width, list_change, pad,
    sample_line, stats_columns, stats_total,
};

/// The Chinese summaries, by subcommand path (`""` is the program itself).
const ZH_SUMMARIES: &[(&str, &str)] = &[
    ("", "群管 qunguan —— QQ（OneBot v11）和 Telegram 群的管理守护进程。"),
    (
        "run",
        "运行守护进程。不带 --config 时使用内置默认值（监听 127.0.0.1:8080，数据 ./data，规则 ./rules）；QUNGUAN__SECTION__KEY 环境变量可覆盖任意一项。",
    ),
    (
        "check-config",
        "加载配置和规则，打印摘要并以 0 退出；有错误时指出出错的配置项或文件:行号及原因，并以 1 退出。",
    ),
    (
        "audit",
        "打印审计日志：每次处置的案件编号、规则、命中文本和违规次数。守护进程运行时（经控制套接字）和停止时（直接读数据库）都可用。",
    ),
    (
        "backup",
        "把整个数据库备份为 JSON 行文件。守护进程运行时也安全：由它在同一时间点生成一致的副本。",
    ),
    (
        "restore",
        "把备份恢复到 storage.path。守护进程必须已停止，且数据库为空（或用 --force 覆盖）。",
    ),
    (
        "demo",
        "无需聊天平台即可试用：在真实处理流程上模拟一个 QQ 群。每行输入是当前成员的一条消息；/join、/as、/admin、/time 控制模拟（/help 列出全部）。可交互，也可从标准输入读脚本；结束后不留任何数据。",
    ),
    (
        "stats",
        "以表格打印某个群的每日统计：消息、活跃成员、入群、退群、违规和处置。守护进程运行时（含尚未写入的计数）和停止时都可用。",
    ),
    (
        "healthcheck",
        "守护进程的管理端口在 3 秒内对 /healthz 回答 200 则以 0 退出，否则说明原因并以 1 退出。供容器健康检查使用（镜像里没有 shell 和 curl）。",
    ),
    ("filter", "测试过滤器：解释一条消息，或批量扫描。"),
    (
        "filter explain",
        "显示过滤器如何看待一条消息：规范化后的文本、每个命中的规则、模式和原文位置、模型得分与阈值及主要特征、匹配到的已学习垃圾样本，以及处置阶梯会怎么做。",
    ),
    (
        "filter scan",
        "从标准输入逐行读取消息，每条输出一个 JSON 对象：{\"text\", \"violation\", \"hits\", \"score\"}（有模型时才有 \"score\"）。",
    ),
    ("console", "管理端口上的运营控制台。"),
    (
        "console password",
        "从标准输入读取一行密码，打印它的 argon2id 哈希，用于 [console] password_hash。",
    ),
    (
        "samples",
        "管理员用 /spam 和 /notspam 标注的消息（qunguan 学到的内容）：列出、导出、导入或删除。守护进程运行时（立即生效）和停止时都可用。",
    ),
    (
        "samples list",
        "逐行打印样本：编号、标签、状态、时间、群、标注人和文本。",
    ),
    ("samples export", "把所有样本写成 JSON 行（即 import 读取的格式）。"),
    (
        "samples import",
        "导入 JSON 行文件中的样本（- 表示标准输入）。先检查每一行；有坏行时指出该行，且一条也不导入。",
    ),
    ("samples remove", "按编号删除样本（编号见 list）。"),
    (
        "bans",
        "整个实例共用的拉黑名单（/gban）：列出、添加、解除、导出或导入，格式为 CSV 或 JSON 行；守护进程运行时（改动立即生效）和停止时都可以使用。编号按平台区分（qq:123、tg:456）。",
    ),
    ("bans list", "逐行打印每条拉黑：成员、原因、时间和操作人。"),
    (
        "bans add",
        "在所有群拉黑一名成员（qq:123、tg:456）；见过他的各群的踢出会排队（守护进程停止时，启动后发出）。",
    ),
    ("bans remove", "解除拉黑（qq:123、tg:456）。"),
    ("bans export", "写出全部拉黑（即 import 读取的格式）。"),
    (
        "compact-copy",
        "（内部命令，由守护进程在压缩数据库时调用）把 FROM 中的 sled 数据库复制到新目录 TO，并打印 records <n>。",
    ),
    (
        "bans import",
        "导入文件中的拉黑（- 表示标准输入），同一成员的条目会被替换。先检查每一行；有坏行时指出该行，且一条也不导入。",
    ),
    (
        "model",
        "过滤器的学习阶段：用语料训练 rules/model.bin，或在留出语料上评估它。",
    ),
    (
        "model train",
        "用语料目录中 spam<TAB>文本 / ham<TAB>文本 格式的 .tsv 文件训练模型并写出（相同语料和规则得到相同的字节）。",
    ),
    (
        "model eval",
        "在留出语料上运行带模型的过滤器，按类别打印仅规则与规则加模型的召回率、误报率和精确率。",
    ),
];

/// The Chinese summary of the subcommand at `path` (`"filter explain"`; `""` for the program),
/// or `None` in English, where the doc comments clap reads are the text.
#[must_use]
pub fn command_summary(locale: Locale, path: &str) -> Option<&'static str> {
    match locale {
        Locale::En => None,
        Locale::ZhCn => ZH_SUMMARIES.iter().find(|(p, _)| *p == path).map(|(_, text)| *text),
    }
}

/// The first line of `check-config`: the configuration (and the file it came from) is good.
#[must_use]
pub fn config_ok(locale: Locale, path: Option<&str>) -> String {
    match (locale, path) {
        (Locale::ZhCn, Some(path)) => format!("配置正确（{path}）"),
        (Locale::ZhCn, None) => "配置正确（内置默认值）".to_owned(),
        (Locale::En, Some(path)) => format!("configuration OK ({path})"),
        (Locale::En, None) => "configuration OK (built-in defaults)".to_owned(),
    }
}

/// The first line of the `stats` table.
#[must_use]
pub fn stats_heading(locale: Locale, group: &str, days: usize) -> String {
    match locale {
        Locale::ZhCn => format!("群 {group}，{days} 天"),
        Locale::En => format!("group {group}, {days} days"),
    }
}

/// What `audit --dead-letters --retry` did: `requeued` actions back in the outbox, delivered
/// now by the running daemon or when it next starts.
#[must_use]
pub fn dead_letters_requeued(locale: Locale, requeued: usize, daemon_running: bool) -> String {
    match (locale, daemon_running) {
        (Locale::ZhCn, true) => format!("已将 {requeued} 条失败动作放回发件队列；运行中的守护进程会立即发送。"),
        (Locale::ZhCn, false) => format!("已将 {requeued} 条失败动作放回发件队列；守护进程下次启动时发送。"),
        (Locale::En, true) => {
            format!("{requeued} dead letter(s) sent back to the outbox; the running daemon delivers them now")
        }
        (Locale::En, false) => {
            format!("{requeued} dead letter(s) sent back to the outbox; the daemon delivers them when it starts")
        }
    }
}

/// What `filter explain` concluded, for its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainVerdict<'a> {
    /// A rule acts; its display name.
    Violation(&'a str),
    /// Nothing acts, but a trusted member's message goes to the review list.
    Review,
    /// Nothing acts.
    Clean,
}

/// The first line of `filter explain`: the conclusion, before the details that lead to it.
#[must_use]
pub fn explain_verdict(locale: Locale, verdict: ExplainVerdict<'_>) -> String {
    match (locale, verdict) {
        (Locale::ZhCn, ExplainVerdict::Violation(rule)) => format!("结论：违规（规则「{rule}」）"),
        (Locale::ZhCn, ExplainVerdict::Review) => "结论：不处置（信任成员，记入待审核列表）".to_owned(),
        (Locale::ZhCn, ExplainVerdict::Clean) => "结论：不违规".to_owned(),
        (Locale::En, ExplainVerdict::Violation(rule)) => format!("verdict:     violation (rule \"{rule}\")"),
        (Locale::En, ExplainVerdict::Review) => {
            "verdict:     nothing acts (a trusted member: goes to the review list)".to_owned()
        }
        (Locale::En, ExplainVerdict::Clean) => "verdict:     no violation".to_owned(),
    }
}
