//! The `qunguan` command line: `run`, `check-config`, `filter explain`, `filter scan`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use qunguan::app::App;
use qunguan::clock::SystemClock;
use qunguan::config::Settings;
use qunguan::event::GroupId;
use qunguan::filter::report;
use qunguan::ladder::Policy;
use qunguan::rules::Rules;
use tokio_util::sync::CancellationToken;

/// 群管 qunguan — moderation daemon for QQ (OneBot v11) and Telegram chat groups.
#[derive(Parser, Debug)]
#[command(name = "qunguan", version, about, long_about = None)]
struct Cli {
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
    },
    /// Load the configuration and the rules, print a summary and exit 0; or print what is
    /// wrong (key or file:line, and why) and exit 1.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Test the filter: explain one message, or scan many.
    Filter {
        #[command(subcommand)]
        command: FilterCommand,
    },
}

#[derive(Subcommand, Debug)]
enum FilterCommand {
    /// Show how the filter sees a message: the normalized text, each hit with its rule,
    /// pattern and original span, and what the ladder would do.
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
        /// The message.
        text: String,
    },
    /// Read messages from stdin, one per line, and write one JSON object per message:
    /// {"text", "violation", "hits": [{"rule", "kind", "pattern", "start", "end"}]}.
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::CheckConfig { config } => check_config(config),
        Command::Filter { command } => filter(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qunguan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    qunguan::telemetry::init(settings.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = App::build(settings, Arc::new(SystemClock)).await?;
        let shutdown = CancellationToken::new();
        qunguan::shutdown::cancel_on_signal(shutdown.clone());
        app.run(shutdown).await?;
        Ok(())
    })
}

fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let rules = Rules::load(&settings.rules.dir)?;
    let onebot = &settings.gateway.onebot;
    println!(
        "configuration OK{}",
        config.map(|p| format!(" ({})", p.display())).unwrap_or_default()
    );
    println!("  listen:      {}", settings.server.listen);
    if onebot.enabled {
        println!(
            "  onebot:      webhook {} · api {} · token {} · signature {}",
            onebot.webhook_path,
            onebot.api_root,
            if onebot.access_token.is_empty() { "none" } else { "set" },
            if onebot.secret.is_empty() {
                "not required"
            } else {
                "required"
            },
        );
    }
    let telegram = &settings.gateway.telegram;
    if telegram.enabled {
        let transport = match telegram.mode {
            qunguan::config::TelegramMode::Polling => format!("long polling (up to {} a call)", telegram.poll_timeout),
            qunguan::config::TelegramMode::Webhook => format!(
                "webhook {} ← {} · secret token required",
                telegram.webhook_path, telegram.webhook_url
            ),
        };
        println!(
            "  telegram:    {transport} · api {} · bot {}",
            telegram.api_root,
            telegram.bot_id().map_or_else(|| "?".into(), |id| id.to_string()),
        );
    }
    println!("  storage:     {}", settings.storage.path.display());
    println!("  rules:       {} — {}", settings.rules.dir.display(), rules.summary());
    let ladder: Vec<String> = settings.moderation.ladder.iter().map(ToString::to_string).collect();
    println!(
        "  ladder:      {} (strikes count for {})",
        ladder.join(" → "),
        settings.moderation.strike_ttl
    );
    println!("  welcome:     {}", if settings.welcome.enabled { "on" } else { "off" });
    Ok(())
}

fn filter(command: FilterCommand) -> anyhow::Result<()> {
    match command {
        FilterCommand::Explain {
            rules,
            config,
            group,
            text,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let rules = load_rules(rules, &settings)?;
            let policy = Policy {
                ladder: &settings.moderation.ladder,
                strike_ttl: settings.moderation.strike_ttl.get(),
            };
            print!("{}", report::explain(&rules.filter, &text, group, policy));
            Ok(())
        }
        FilterCommand::Scan { rules, config, jsonl } => {
            let settings = Settings::load(config.as_deref())?;
            let rules = load_rules(rules, &settings)?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            let summary = report::scan(&rules.filter, stdin, stdout, jsonl).context("scan failed")?;
            for (line, why) in &summary.bad_lines {
                eprintln!("qunguan: stdin line {line}: {why}; skipped");
            }
            if summary.bad_lines.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} input line(s) could not be read", summary.bad_lines.len())
            }
        }
    }
}

fn load_rules(dir: Option<PathBuf>, settings: &Settings) -> anyhow::Result<Rules> {
    let dir = dir.unwrap_or_else(|| settings.rules.dir.clone());
    Ok(Rules::load(&dir)?)
}
