//! The `qunguan` command line: `run`, `check-config`, `demo`, `filter explain`, `filter scan`,
//! `audit`, `backup`, `restore`.
//! The `qunguan` command line: `run`, `check-config`, `filter explain`, `filter scan`, `audit`,
//! `backup`, `restore`, `stats`, `healthcheck`.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use qunguan::app::App;
use qunguan::clock::SystemClock;
use qunguan::config::Settings;
use qunguan::event::GroupId;
use qunguan::filter::report;
use qunguan::i18n::{self, Locale};
use qunguan::ladder::Policy;
use qunguan::rules::{LoadOptions, Rules};
use qunguan::store::{Actor, AuditEntry, DeadLetter, Store, backup};
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
        Command::Demo { config, rules, start } => demo(config, rules, start),
        Command::Filter { command } => filter(command),
        Command::Audit {
            config,
            group,
            last,
            json,
            dead_letters,
        } => audit(config, group, last, json, dead_letters),
        Command::Backup { config, out } => backup(config, &out),
        Command::Restore { config, input, force } => restore(config, &input, force),
        Command::Stats {
            config,
            group,
            days,
            json,
        } => stats(config, group, days, json),
        Command::Healthcheck { config } => healthcheck(config),
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

fn demo(config: Option<PathBuf>, rules: Option<PathBuf>, start: Option<jiff::Timestamp>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let settings = Settings::load(config.as_deref())?;
    // Logs would drown the conversation; RUST_LOG asks for them (on stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        qunguan::telemetry::init(settings.log.format);
    }
    let rules = match (rules, &config) {
        (Some(dir), _) => Some(dir),
        (None, Some(_)) => Some(settings.rules.dir.clone()),
        (None, None) => Path::new("rules").is_dir().then(|| PathBuf::from("rules")),
    };
    let options = qunguan::demo::DemoOptions {
        settings,
        rules,
        start: start.unwrap_or_else(jiff::Timestamp::now),
        zone: jiff::tz::TimeZone::system(),
        interactive: std::io::stdin().is_terminal(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let input = Box::new(std::io::BufReader::new(std::io::stdin()));
    runtime.block_on(qunguan::demo::run(options, input, Box::new(std::io::stdout())))?;
    Ok(())
}

fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let rules = Rules::load_with(&settings.rules.dir, &LoadOptions::from(&settings))?;
    let onebot = &settings.gateway.onebot;
    println!(
        "configuration OK{}",
        config.map(|p| format!(" ({})", p.display())).unwrap_or_default()
    );
    println!("  listen:      {}", settings.server.listen);
    println!(
        "  admin:       {}",
        settings.server.admin_listen.map_or_else(
            || "off".to_owned(),
            |a| format!("{a} (/metrics /healthz /readyz /stats/<group>)")
        )
    );
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
    let moderation = &settings.moderation;
    let ladder: Vec<String> = moderation.ladder.iter().map(ToString::to_string).collect();
    println!(
        "  ladder:      {} (strikes count for {}){}",
        ladder.join(" → "),
        moderation.strike_ttl,
        if moderation.dry_run {
            " · DRY RUN: nothing is sent"
        } else {
            ""
        }
    );
    let flood = moderation.flood;
    println!(
        "  flood:       {} messages in {} · the same text {}× in {} (0 = off)",
        flood.messages, flood.window, flood.repeats, flood.repeat_window
    );
    for (group, overrides) in &settings.groups {
        let mut parts = Vec::new();
        if let Some(ladder) = &overrides.ladder {
            let rungs: Vec<String> = ladder.iter().map(ToString::to_string).collect();
            parts.push(format!("ladder {}", rungs.join(" → ")));
        }
        if let Some(ttl) = overrides.strike_ttl {
            parts.push(format!("strike_ttl {ttl}"));
        }
        if !overrides.exempt.is_empty() {
            parts.push(format!("{} exempt", overrides.exempt.len()));
        }
        if let Some(dry) = overrides.dry_run {
            parts.push(format!("dry_run {dry}"));
        }
        println!("  group {group}: {}", parts.join(" · "));
    }
    if !settings.admin.super_users.is_empty() {
        let users: Vec<String> = settings.admin.super_users.iter().map(ToString::to_string).collect();
        println!("  super users: {}", users.join(", "));
    }
    println!("  welcome:     {}", if settings.welcome.enabled { "on" } else { "off" });
    let inactivity = &settings.inactivity;
    if inactivity.enabled {
        let steps: Vec<String> = inactivity.remind_after.iter().map(ToString::to_string).collect();
        println!(
            "  inactivity:  tracked · reminders {} · removal {}",
            if steps.is_empty() {
                "off".to_owned()
            } else {
                steps.join(", ")
            },
            inactivity
                .remove_after()
                .map_or_else(|| "off".to_owned(), |_| format!("after {}", inactivity.remove_after)),
        );
    } else {
        println!("  inactivity:  not tracked");
    }
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
    Ok(Rules::load_with(&dir, &LoadOptions::from(settings))?)
}

/// How the CLI reaches the data: through a running daemon, or by opening the database.
enum Access {
    Daemon,
    Direct(Store),
}

fn access(settings: &Settings) -> anyhow::Result<Access> {
    let data = &settings.storage.path;
    #[cfg(unix)]
    if qunguan::control::daemon_running(data) {
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

fn audit(
    config: Option<PathBuf>,
    group: Option<String>,
    last: Option<usize>,
    json: bool,
    dead_letters: bool,
) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let group: Option<GroupId> = group
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("--group: {e}"))?;
    if dead_letters {
        let letters: Vec<(u64, DeadLetter)> = match access(&settings)? {
            #[cfg(unix)]
            Access::Daemon => {
                use qunguan::control::{NumberedDeadLetter, Request, read_lines, request};
                let reader = request(&settings.storage.path, &Request::DeadLetters)?;
                read_lines::<NumberedDeadLetter>(reader)?
                    .into_iter()
                    .map(|n| (n.seq, n.letter))
                    .collect()
            }
            #[cfg(not(unix))]
            Access::Daemon => unreachable!("no control socket off unix"),
            Access::Direct(store) => store.outbox().dead_letters()?,
        };
        let letters = letters
            .into_iter()
            .filter(|(_, l)| group.is_none_or(|g| l.item.action.group() == g));
        for (seq, letter) in letters {
            if json {
                println!("{}", serde_json::to_string(&letter)?);
            } else {
                println!(
                    "{seq}  {}  {}  {}  case {}  attempts {}  {}",
                    time(letter.dead_ms),
                    letter.item.action.group(),
                    letter.item.action.kind(),
                    letter.item.case.map_or_else(|| "-".to_owned(), |c| format!("#{c}")),
                    letter.item.attempts,
                    letter.reason
                );
            }
        }
        return Ok(());
    }
    let entries: Vec<AuditEntry> = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use qunguan::control::{Request, read_lines, request};
            let request_body = Request::Audit {
                group: group.map(|g| g.to_string()),
                last,
            };
            read_lines(request(&settings.storage.path, &request_body)?)?
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => store.cases(group, last)?,
    };
    for entry in &entries {
        if json {
            println!("{}", serde_json::to_string(entry)?);
        } else {
            println!("{}", case_line(entry));
        }
    }
    Ok(())
}

/// One audit case as a line of text.
fn case_line(e: &AuditEntry) -> String {
    let member = if e.user_name.is_empty() {
        e.user_id.to_string()
    } else {
        format!("{} ({})", e.user_id, e.user_name)
    };
    let actor = match &e.actor {
        Actor::Auto => "auto".to_owned(),
        Actor::Admin { user_id, .. } => format!("admin {user_id}"),
    };
    let mut line = format!(
        "#{}  {}  {}  member {member}  by {actor}  rule {}  strikes {}→{}  {}",
        e.case,
        time(e.at_ms),
        e.group,
        e.rule,
        e.strikes_before,
        e.strikes_after,
        i18n::measure(Locale::En, e.measure),
    );
    if e.dry_run {
        line.push_str("  [dry run: not sent]");
    }
    if !e.matched.is_empty() {
        let quoted: Vec<String> = e.matched.iter().map(|m| format!("{m:?}")).collect();
        line.push_str(&format!("  matched {}", quoted.join(" ")));
    }
    if !e.reason.is_empty() {
        line.push_str(&format!("  reason {:?}", e.reason));
    }
    if !e.excerpt.is_empty() {
        line.push_str(&format!("  text {:?}", e.excerpt));
    }
    line
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| ms.to_string(), |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn backup(config: Option<PathBuf>, out: &Path) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let (report, how) = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use qunguan::control::{Request, request};
            let mut reader = request(&settings.storage.path, &Request::Backup)?;
            backup::write_file_atomically(out, |w| {
                std::io::copy(&mut reader, w).map_err(|source| qunguan::store::StoreError::Io {
                    path: out.display().to_string(),
                    source,
                })
            })?;
            let mut written = BufReader::new(std::fs::File::open(out).with_context(|| out.display().to_string())?);
            let report = backup::verify(&mut written).context("the daemon's backup did not verify")?;
            (report, "from the running daemon")
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => (store.backup_to_file(out, jiff::Timestamp::now())?, "from the database"),
    };
    println!("backup written to {} ({how}): {report}", out.display());
    Ok(())
}

fn restore(config: Option<PathBuf>, input: &Path, force: bool) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let data = &settings.storage.path;
    #[cfg(unix)]
    if qunguan::control::daemon_running(data) {
        bail!(
            "a qunguan daemon is running on {}; stop it first (a restore replaces its database)",
            data.display()
        );
    }
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let report = backup::restore(&settings.storage, &mut BufReader::new(file), force)
        .with_context(|| format!("{} was not restored", input.display()))?;
    println!("restored {} into {}: {report}", input.display(), data.display());
    Ok(())
}

fn stats(config: Option<PathBuf>, group: GroupId, days: u32, json: bool) -> anyhow::Result<()> {
    use qunguan::control::{MAX_STATS_DAYS, StatsDay};
    if days == 0 || days > MAX_STATS_DAYS {
        bail!("--days must be between 1 and {MAX_STATS_DAYS}");
    }
    let settings = Settings::load(config.as_deref())?;
    let rows: Vec<StatsDay> = match access(&settings)? {
        #[cfg(unix)]
        Access::Daemon => {
            use qunguan::control::{Request, read_lines, request};
            let request_body = Request::Stats {
                group: group.to_string(),
                days,
            };
            read_lines(request(&settings.storage.path, &request_body)?)?
        }
        #[cfg(not(unix))]
        Access::Daemon => unreachable!("no control socket off unix"),
        Access::Direct(store) => {
            let counts = qunguan::stats::GroupStats::new(&settings.stats);
            qunguan::control::stats_days(&store, &counts, group, days, jiff::Timestamp::now())?
        }
    };
    if json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    print!("{}", stats_table(group, &rows));
    Ok(())
}

/// The `qunguan stats` table: one line per day and a total line.
fn stats_table(group: GroupId, rows: &[qunguan::control::StatsDay]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "group {group}, {} days", rows.len());
    let _ = writeln!(
        out,
        "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}  top rule",
        "date", "messages", "active", "joins", "leaves", "violations", "actions"
    );
    let mut totals = [0u64; 6];
    for row in rows {
        let s = &row.stats;
        let violations = s.violation_count();
        let actions: u64 = s.actions.values().sum();
        let top = s
            .violations
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or_else(String::new, |(rule, n)| format!("{rule} ({n})"));
        let _ = writeln!(
            out,
            "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}  {top}",
            row.date, s.messages, s.active_members, s.joins, s.leaves, violations, actions
        );
        for (total, n) in totals
            .iter_mut()
            .zip([s.messages, s.active_members, s.joins, s.leaves, violations, actions])
        {
            *total += n;
        }
    }
    let _ = writeln!(
        out,
        "{:<10}  {:>8}  {:>6}  {:>5}  {:>6}  {:>10}  {:>7}",
        "total", totals[0], "-", totals[2], totals[3], totals[4], totals[5]
    );
    out
}

fn healthcheck(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let Some(addr) = settings.server.admin_listen else {
        bail!("server.admin_listen is off (\"\"); the healthcheck asks the admin listener's /healthz");
    };
    // A wildcard bind is reached on loopback.
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", std::net::SocketAddr::new(ip, addr.port()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        let response = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("{url} did not answer"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        println!("ok: {url}");
        Ok(())
    })
}
