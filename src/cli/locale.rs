//! Which language the operator's command line speaks, and the localized `--help`.
//!
//! # Precedence
//!
//! 1. With `--config FILE`, the configuration's `[messages] locale` (after its
//!    `QUNGUAN__MESSAGES__LOCALE` override): the operator who set the group's language reads
//!    the same one at the terminal, whatever the shell's locale.
//! 2. Without, the environment as POSIX orders it: the first non-empty of `LC_ALL`,
//!    `LC_MESSAGES`, `LANG`. A value starting with `zh` (`zh_CN.UTF-8`, `zh_TW`) is Chinese;
//!    anything else, or nothing set (`C`, a bare container), is English.
//!
//! Every line an operator reads is localized (`--help`, `check-config`, `audit`, `stats`,
//! `filter explain`, `samples list`, what `samples` and `bans` did; the texts live in
//! `policy::i18n::operator`); flags, keys, rule ids, error messages and machine-readable output
//! (`--json`, `filter scan`, CSV and JSON lines) stay English, so scripts and docs can quote
//! them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};

use super::Cli;
use crate::config::Settings;
use crate::domain::locale::Locale;
use crate::policy::i18n;

/// The locale of a command that loaded `settings`, from `--config` if `config` is given.
pub(crate) fn operator_locale(config: Option<&Path>, settings: &Settings) -> Locale {
    if config.is_some() {
        settings.messages.locale
    } else {
        from_env(|name| std::env::var_os(name))
    }
}

/// The locale the environment asks for (see the module docs); `var` reads one variable.
pub(crate) fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Locale {
    let chosen = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(&var)
        .find(|value| !value.is_empty());
    match chosen {
        Some(value) if value.to_string_lossy().to_ascii_lowercase().starts_with("zh") => Locale::ZhCn,
        _ => Locale::En,
    }
}

/// The value of `--config` / `-c` among `args`, found before clap parses them (so `--help`
/// can follow the configuration too).
fn config_arg(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--config" || arg == "-c" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// The locale for `--help` and clap's messages: the configuration's if `--config` names one
/// that loads, else the environment's.
fn help_locale(args: &[OsString]) -> Locale {
    match config_arg(args) {
        Some(path) => {
            Settings::load(Some(&path)).map_or_else(|_| from_env(|name| std::env::var_os(name)), |s| s.messages.locale)
        }
        None => from_env(|name| std::env::var_os(name)),
    }
}

/// The clap command with the summaries of `locale`: every subcommand's `about` and
/// `long_about`, recursively, from [`i18n::command_summary`].
pub(crate) fn command(locale: Locale) -> clap::Command {
    localize(Cli::command(), "", locale)
}

fn localize(mut cmd: clap::Command, path: &str, locale: Locale) -> clap::Command {
    if let Some(summary) = i18n::command_summary(locale, path) {
        cmd = cmd.about(summary).long_about(summary);
    }
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in names {
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |sub| localize(sub, &child, locale));
    }
    cmd
}

/// Parses the process's arguments with localized help; on `--help`, `--version` or a usage
/// error clap prints and exits, as `Cli::parse` does.
#[must_use]
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    let matches = command(help_locale(&args)).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_environment_picks_chinese_for_zh_and_english_otherwise_in_posix_order() {
        assert_eq!(from_env(env(&[("LANG", "zh_CN.UTF-8")])), Locale::ZhCn);
        assert_eq!(from_env(env(&[("LANG", "en_US.UTF-8")])), Locale::En);
        assert_eq!(from_env(env(&[])), Locale::En);
        assert_eq!(from_env(env(&[("LANG", "C")])), Locale::En);
        assert_eq!(
            from_env(env(&[("LC_ALL", "en_US.UTF-8"), ("LANG", "zh_CN.UTF-8")])),
            Locale::En,
            "LC_ALL wins"
        );
        assert_eq!(
            from_env(env(&[("LC_ALL", ""), ("LC_MESSAGES", "zh_TW"), ("LANG", "en_US")])),
            Locale::ZhCn,
            "an empty LC_ALL is unset"
        );
    }

    #[test]
    fn config_is_found_before_parsing_in_each_spelling() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_arg(&args(&["q", "run", "--config", "a.toml"])),
            Some("a.toml".into())
        );
        assert_eq!(
            config_arg(&args(&["q", "run", "-c", "b.toml", "--help"])),
            Some("b.toml".into())
        );
        assert_eq!(
            config_arg(&args(&["q", "audit", "--config=c.toml"])),
            Some("c.toml".into())
        );
        assert_eq!(config_arg(&args(&["q", "filter", "explain", "--", "--config"])), None);
        assert_eq!(config_arg(&args(&["q", "--help"])), None);
    }

    /// Every subcommand clap knows has a Chinese summary: a new one without cannot land.
    #[test]
    fn every_subcommand_has_a_chinese_summary() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if i18n::command_summary(Locale::ZhCn, path).is_none() {
                missing.push(path.to_owned());
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let child = if path.is_empty() {
                    sub.get_name().to_owned()
                } else {
                    format!("{path} {}", sub.get_name())
                };
                walk(sub, &child, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no Chinese summary for {missing:?}");
        let zh = command(Locale::ZhCn);
        let run = zh.find_subcommand("run").expect("run");
        assert!(
            run.get_about()
                .is_some_and(|a| a.to_string().starts_with("运行守护进程"))
        );
        let en = command(Locale::En);
        let run = en.find_subcommand("run").expect("run");
        assert!(
            run.get_about()
                .is_some_and(|a| a.to_string().starts_with("Run the daemon"))
        );
    }
}
