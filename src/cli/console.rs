//! `qunguan console password`: read a password on stdin, print its argon2id hash for
//! `[console] password_hash`.
//!
//! The password is read as one line (a trailing newline is not part of it), so both an
//! interactive prompt and `printf '%s' "$PASSWORD" | qunguan console password` work. The hash
//! goes to stdout alone, the prompt to stderr, so the output can be captured into a file or a
//! variable as it is.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{Context, bail};

use crate::runtime::console::auth;

/// The shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 8;
/// The longest line read (a password, not a file someone piped in by mistake).
const MAX_PASSWORD_BYTES: usize = 1024;

pub(crate) fn password() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Console password (shown as you type; end with Enter): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.len() > MAX_PASSWORD_BYTES {
        bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters long (type it, or pipe it in: \
             printf '%s' \"$PASSWORD\" | qunguan console password)"
        );
    }
    let hash = auth::hash_password(password).context("cannot hash the password")?;
    println!("{hash}");
    if std::io::stdout().is_terminal() {
        eprintln!("Put this line in the configuration:\n  [console]\n  password_hash = \"{hash}\"");
    }
    Ok(())
}
