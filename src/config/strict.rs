//! Strict readers for values whose loose reading would hide a mistake, each error naming the
//! value given and what is accepted (the loader adds the key).
//!
//! - **Booleans**: the `config` crate reads `"yes"`, `"on"` and `"1"` as true, so
//!   `dry_run = "yes"` would silently turn dry run on, and `dry_run = "no"` silently off. Here a
//!   boolean is `true` or `false` — a TOML boolean, or the string `"true"`/`"false"` that an
//!   environment variable always is — and anything else is an error.
//! - **Addresses**: `listen = "localhost:8080"` is not an IP address; the error says which
//!   address to write instead.
//! - **Choices** (`log.format`, `gateway.telegram.mode`, `messages.locale`): the error lists
//!   the accepted values instead of serde's "enum … does not have variant constructor".

use std::fmt;
use std::net::SocketAddr;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Reads `true` or `false` (see the module docs).
pub(crate) fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(StrictBool)
}

/// Reads an optional `true` or `false` (a per-group override).
pub(crate) fn option_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    bool(deserializer).map(Some)
}

struct StrictBool;

impl Visitor<'_> for StrictBool {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        match value.trim() {
            v if v.eq_ignore_ascii_case("true") => Ok(true),
            v if v.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(E::custom(format!("{value:?} is not a boolean: write true or false"))),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        Err(E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        Err(E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<bool, E> {
        Err(E::invalid_value(Unexpected::Float(value), &self))
    }
}

/// Why a listen address is not one, with what to write instead.
#[must_use]
pub(crate) fn address_problem(text: &str) -> String {
    let suggestion = match text.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") && port.parse::<u16>().is_ok() => {
            format!("\"127.0.0.1:{port}\" (localhost), or \"0.0.0.0:{port}\" to listen on every interface")
        }
        Some((_, port)) if port.parse::<u16>().is_ok() => {
            format!("an IP address, not a host name: \"127.0.0.1:{port}\" or \"0.0.0.0:{port}\"")
        }
        _ => "an IP address and a port, such as \"127.0.0.1:8080\" or \"0.0.0.0:8080\"".to_owned(),
    };
    format!("{text:?} is not an address to listen on; write {suggestion}")
}

/// Reads a listen address (`"127.0.0.1:8080"`, `"[::1]:8080"`).
pub(crate) fn listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text: String = serde::Deserialize::deserialize(deserializer)?;
    text.trim()
        .parse()
        .map_err(|_| de::Error::custom(address_problem(text.trim())))
}

/// Reads one of `choices` (matched without regard to ASCII case), naming them when the value
/// is not one (the first name of each value; later ones are aliases).
pub(crate) fn choice<'de, D: Deserializer<'de>, T: Copy + PartialEq>(
    deserializer: D,
    choices: &[(&str, T)],
) -> Result<T, D::Error> {
    let text: String = serde::Deserialize::deserialize(deserializer)?;
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let accepted: Vec<String> = choices
                .iter()
                .enumerate()
                .filter(|(i, (_, value))| !choices[..*i].iter().any(|(_, v)| v == value))
                .map(|(_, (name, _))| format!("{name:?}"))
                .collect();
            de::Error::custom(format!("{text:?} is not one of {}", accepted.join(", ")))
        })
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::config::test_support::{env, write};

    /// The error of loading `toml` (and `vars`), as printed.
    fn error_of(toml: &str, vars: &[(&str, &str)]) -> String {
        let file = write(toml);
        Settings::load_with_env(Some(file.path()), env(vars))
            .expect_err(toml)
            .to_string()
    }

    #[test]
    fn errors_name_the_key_the_value_and_what_is_accepted() {
        for (toml, needles) in [
            (
                "[messages]\nlocale = \"fr\"\n",
                &["messages.locale", "\"fr\"", "\"zh-CN\"", "\"en\""][..],
            ),
            (
                "[server]\nlisten = \"localhost:8080\"\n",
                &["server.listen", "\"localhost:8080\"", "\"127.0.0.1:8080\""][..],
            ),
            (
                "[server]\nadmin_listen = \"metrics.local:9090\"\n",
                &["server.admin_listen", "\"metrics.local:9090\"", "\"127.0.0.1:9090\""][..],
            ),
            (
                "[moderation]\ndry_run = \"yes\"\n",
                &["moderation.dry_run", "\"yes\"", "true or false"][..],
            ),
            ("[welcome]\nenabled = 1\n", &["welcome.enabled", "true or false"][..]),
            (
                "[groups.1]\ndry_run = \"on\"\n",
                &["groups.1.dry_run", "\"on\"", "true or false"][..],
            ),
            (
                "[log]\nformat = \"xml\"\n",
                &["log.format", "\"xml\"", "\"pretty\"", "\"json\""][..],
            ),
            (
                "[gateway.telegram]\nmode = \"push\"\n",
                &["gateway.telegram.mode", "\"push\"", "\"polling\"", "\"webhook\""][..],
            ),
        ] {
            let message = error_of(toml, &[]);
            for needle in needles {
                assert!(message.contains(needle), "{toml}: {needle} missing from: {message}");
            }
            assert!(!message.contains("variant constructor"), "{message}");
        }
        let message = error_of("", &[("QUNGUAN__MODERATION__DRY_RUN", "yes")]);
        assert!(
            message.contains("moderation.dry_run") && message.contains("\"yes\""),
            "{message}"
        );
    }

    #[test]
    fn true_and_false_still_read_from_the_file_and_the_environment() {
        let file = write("[moderation]\ndry_run = true\n[welcome]\nenabled = \"false\"\n");
        let s = Settings::load_with_env(Some(file.path()), env(&[("QUNGUAN__RULES__WATCH", "FALSE")])).expect("valid");
        assert!(s.moderation.dry_run && !s.welcome.enabled && !s.rules.watch);
        let file = write("[messages]\nlocale = \"zh\"\n[log]\nformat = \"JSON\"\n");
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("aliases");
        assert_eq!(s.messages.locale, crate::domain::locale::Locale::ZhCn);
        assert_eq!(s.log.format, crate::config::LogFormat::Json);
    }
}
