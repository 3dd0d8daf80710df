//! The command line: one file per subcommand. [`Cli`] is what `main.rs` parses; [`dispatch`]
//! runs it. This is the binary's edge: errors are `anyhow`, with the context an operator
//! needs, and `main.rs` prints them.

mod audit;
mod backup;
mod bans;
mod check_config;
mod compact_copy;
mod console;
pub mod demo;
pub mod demo_client;
mod filter;
mod healthcheck;
mod locale;
mod model;
mod run;
mod samples;
mod stats;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::event::GroupId;
use crate::policy::filter::Trust;
use crate::store::Store;
pub use locale::parse;

/// 群管 qunguan — moderation daemon for QQ (OneBot v11) and Telegram chat groups.
#[derive(Parser, Debug)]
#[command(name = "qunguan", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon. Without --config it runs on the built-in defaults
    /// (listen 127.0.0.1:8080, data ./data, rules ./rules); QUNGUAN__SECTION__KEY variables
    /// override either.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Start even when the database fails its integrity check (truncated, overwritten,
        /// missing trees). Strikes may be missing and delivered actions may be sent again;
        /// restore a backup with `qunguan restore` instead if you can.
        #[arg(long)]
        accept_damaged: bool,
    },
    /// Load the configuration and the rules, print a summary and exit 0; or print what is
    /// wrong (key or file:line, and why) and exit 1.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the audit log: every moderation action with its case number, rule, matched text
    /// and strikes. Works while the daemon runs (through its control socket) and when it does
    /// not (reading the database).
    Audit {
        /// Configuration file (TOML); its storage.path says where the database is.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only this group: `qq:726300112`, `tg:-1001234567890`, or a bare QQ group number.
        #[arg(long, short, value_name = "GROUP")]
        group: Option<String>,
        /// Only the newest N cases.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// List the actions the outbox gave up on (refused or expired) instead.
        #[arg(long)]
        dead_letters: bool,
        /// With --dead-letters: send them all again (back into the outbox, attempts reset;
        /// a running daemon delivers them at once, a stopped one at its next start).
        #[arg(long, requires = "dead_letters")]
        retry: bool,
    },
    /// Write a backup of the whole database as JSON lines. Safe while the daemon runs: it then
    /// makes the copy itself, at one consistent point in time.
    Backup {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where to write the backup (replaced atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into storage.path. The daemon must be stopped, and the database empty
    /// (or --force to replace its contents).
    Restore {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The backup file.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Replace a database that is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Try qunguan without a chat platform: a simulated QQ group on the real pipeline. Each
    /// input line is a message from the current member; /join, /as, /admin and /time drive
    /// the simulation (/help lists them). Works interactively and with a script on stdin.
    /// Nothing is kept after it ends.
    Demo {
        /// Configuration file (TOML) for the ladder, flood limits, texts …; storage and
        /// gateways are always the demo's own.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The rules folder (default: rules.dir of --config; without --config ./rules if it
        /// exists, else the built-in default rules).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Where the simulated clock starts, e.g. 2026-01-05T09:00:00+08:00 (default: now).
        #[arg(long, value_name = "TIME")]
        start: Option<jiff::Timestamp>,
    },
    /// Print a group's daily statistics as a table: messages, active members, joins,
    /// leaves, violations and actions per day. Works while the daemon runs (its counts not
    /// yet written included) and when it does not (reading the database).
    Stats {
        /// Configuration file (TOML); its storage.path says where the database is.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The group: `qq:726300112`, `tg:-1001234567890`, or a bare QQ group number.
        #[arg(long, short, value_name = "GROUP")]
        group: GroupId,
        /// How many days up to today.
        #[arg(long, default_value_t = 30, value_name = "N")]
        days: u32,
        /// One JSON object per day instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if the daemon's admin listener answers /healthz with 200 within 3 s, else print
    /// why and exit 1. For container healthchecks (the image has no shell or curl).
    Healthcheck {
        /// Configuration file (TOML); server.admin_listen says where to ask.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Test the filter: explain one message, or scan many.
    Filter {
        #[command(subcommand)]
        command: FilterCommand,
    },
    /// The operators' console on the admin listener.
    Console {
        #[command(subcommand)]
        command: ConsoleCommand,
    },
    /// The messages admins labelled with /spam and /notspam (what qunguan learned): list,
    /// export, import or remove them. Works while the daemon runs (it learns the change at
    /// once) and when it does not.
    Samples {
        #[command(subcommand)]
        command: samples::SamplesCommand,
    },
    /// The instance's global ban list (what /gban and /ungban change): list, add, remove,
    /// export or import it, as CSV or JSON lines. Works while the daemon runs (the change
    /// holds at once) and when it does not.
    Bans {
        #[command(subcommand)]
        command: bans::BansCommand,
    },
    /// (Internal: the daemon runs it for a compaction.) Copy the sled database in FROM into a
    /// new one in TO, and print `records <n>` (and `peak_kib <k>`, this process's peak
    /// resident size, where the system says).
    #[command(name = crate::store::compact::COPY_COMMAND, hide = true)]
    CompactCopy {
        /// The database folder to copy (closed: no other process may have it open).
        from: PathBuf,
        /// The new folder.
        to: PathBuf,
        /// sled's page cache for each database, in bytes.
        #[arg(long, default_value_t = crate::config::StorageSettings::default().cache_bytes())]
        cache_bytes: u64,
        /// The daemon's process id: the copy stops when that process is gone.
        #[arg(long)]
        parent: Option<u32>,
    },
    /// The filter's learned stage: train rules/model.bin from a corpus, or evaluate it on a
    /// held-out one.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConsoleCommand {
    /// Read a password on stdin (one line) and print its argon2id hash, for
    /// `[console] password_hash`.
    Password,
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Train the model from a corpus folder of .tsv files (each line spam or ham, a tab,
    /// then the text) and write it (same corpus and rules → the same bytes).
    Train {
        /// The corpus folder (searched recursively for .tsv files).
        #[arg(long, value_name = "DIR", default_value = "corpus/train")]
        corpus: PathBuf,
        /// Where to write the model (default: model.bin in the rules folder).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The rules folder whose word lists and detectors give the model's flags (default:
        /// rules.dir of the configuration, ./rules). Its own model.bin is not used.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file, for rules.dir.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Passes over the corpus (default 12). For experiments: the shipped model.bin is
        /// trained with the defaults.
        #[arg(long, value_name = "N")]
        epochs: Option<u32>,
        /// L2 regularization strength λ (default 1e-4). For experiments, like --epochs.
        #[arg(long, value_name = "LAMBDA")]
        l2: Option<f64>,
        /// An n-gram gets a weight only when at least N training messages have it (default
        /// 2; 1 keeps every n-gram, as models before round 16 of detection). For experiments,
        /// like --epochs.
        #[arg(long, value_name = "N")]
        min_count: Option<u32>,
        /// Fits averaged into the model (default 10), each shuffled by its own seed. For
        /// experiments, like --epochs.
        #[arg(long, value_name = "N")]
        runs: Option<u32>,
        /// The first fit's shuffling seed (default 5856734843261766705, "QGMODEL1"; fit k
        /// uses seed + k). For experiments: how much a figure depends on the shuffle.
        #[arg(long, value_name = "SEED")]
        seed: Option<u64>,
    },
    /// Run the filter with its model over a held-out corpus folder and print, per category,
    /// what the rules alone and the rules with the model flag: recall, false-positive rate,
    /// precision.
    Eval {
        /// The corpus folder (searched recursively for .tsv files).
        #[arg(long, value_name = "DIR", default_value = "corpus/eval")]
        corpus: PathBuf,
        /// The rules folder, with its model.bin (default: rules.dir of the configuration).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file, for rules.dir.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Judge each message as from a new or a trusted member.
        #[arg(long, value_name = "new|trusted", default_value = "new")]
        member: Trust,
        /// Cross-validate on the corpus instead (a training folder): each of K folds is judged
        /// by a model trained on the others; adds a sweep of the thresholds.
        #[arg(long, value_name = "K")]
        folds: Option<usize>,
        /// Also list every spam message missed and every ordinary message flagged, with its
        /// category, the rules' decision and the model's score.
        #[arg(long)]
        misses: bool,
    },
}

#[derive(Subcommand, Debug)]
enum FilterCommand {
    /// Show how the filter sees a message: the normalized text, each hit with its rule,
    /// pattern and original span, the model's score against the threshold for the member's
    /// trust and its top features, any learned spam sample it matches, and what the ladder
    /// would do. The learned samples come from the running daemon or the database at
    /// storage.path, when there is one.
    Explain {
        /// The rules folder (default: rules.dir of the configuration, ./rules).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file, for rules.dir and the ladder.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Check as if posted in this group (`qq:123`, `tg:-100…`); default: every rule applies.
        #[arg(long, value_name = "GROUP")]
        group: Option<GroupId>,
        /// Judge the message as from a new member (the strictest) or a trusted one.
        #[arg(long, value_name = "new|trusted", default_value = "new")]
        member: Trust,
        /// The message.
        text: String,
    },
    /// Read messages from stdin, one per line, and write one JSON object per message:
    /// {"text", "violation", "hits": [{"rule", "kind", "pattern", "start", "end"}], "score"}
    /// ("score" only with a model).
    Scan {
        /// The rules folder (default: rules.dir of the configuration, ./rules).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file, for rules.dir.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Each input line is a JSON string (so a message can contain newlines).
        #[arg(long)]
        jsonl: bool,
        /// Judge each message as from a new member (the strictest) or a trusted one.
        #[arg(long, value_name = "new|trusted", default_value = "new")]
        member: Trust,
    },
}

/// Runs the subcommand `cli` names.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config, accept_damaged } => run::run(config, accept_damaged),
        Command::CheckConfig { config } => check_config::check_config(config),
        Command::Demo { config, rules, start } => demo::command(config, rules, start),
        Command::Filter { command } => filter::filter(command),
        Command::Model { command } => model::model(command),
        Command::Audit {
            config,
            group,
            last,
            json,
            dead_letters,
            retry,
        } => audit::audit(config, group, last, json, dead_letters, retry),
        Command::Backup { config, out } => backup::backup(config, &out),
        Command::Restore { config, input, force } => backup::restore(config, &input, force),
        Command::Stats {
            config,
            group,
            days,
            json,
        } => stats::stats(config, group, days, json),
        Command::Healthcheck { config } => healthcheck::healthcheck(config),
        Command::Console {
            command: ConsoleCommand::Password,
        } => console::password(),
        Command::Samples { command } => samples::samples(command),
        Command::Bans { command } => bans::bans(command),
        Command::CompactCopy {
            from,
            to,
            cache_bytes,
            parent,
        } => compact_copy::compact_copy(&from, &to, cache_bytes, parent),
    }
}

/// An error and its causes on one line, each said once: a cause whose text the message
/// before it already contains (many errors quote their source) is not repeated.
#[must_use]
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        if said.is_empty() || text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

/// The zone an operator reads times in: the groups' (`[stats] timezone`), as the console
/// shows them.
pub(crate) fn operator_zone(settings: &Settings) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&settings.stats.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// How the CLI reaches the data: through a running daemon, or by opening the database.
pub(crate) enum Access {
    Daemon,
    Direct(Store),
}

pub(crate) fn access(settings: &Settings) -> anyhow::Result<Access> {
    let data = &settings.storage.path;
    #[cfg(unix)]
    if crate::runtime::control::daemon_running(data) {
        return Ok(Access::Daemon);
    }
    if !data.exists() {
        bail!(
            "there is no database at {} (storage.path); pass the daemon's --config",
            data.display()
        );
    }
    let store = Store::open(&settings.storage).with_context(|| {
        format!(
            "cannot open the database at {} (if a daemon is using it, its control socket {} did not answer)",
            data.display(),
            data.join("control.sock").display()
        )
    })?;
    Ok(Access::Direct(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use (os error 98)");
        let listen = crate::runtime::app::AppError::Listen {
            addr: "127.0.0.1:8080".parse().expect("addr"),
            source: io,
        };
        let text = error_text(&anyhow::Error::new(listen));
        assert_eq!(text.matches("Address already in use").count(), 1, "{text}");
        assert!(text.starts_with("cannot listen on 127.0.0.1:8080"), "{text}");
        // A cause the message does not quote is kept.
        let wrapped = anyhow::anyhow!("the disk is full").context("cannot write the backup");
        assert_eq!(error_text(&wrapped), "cannot write the backup: the disk is full");
    }
}
