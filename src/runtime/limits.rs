//! Process limits: the open-file limit, raised at start.
//!
//! Every connection, every sled file and every outgoing gateway call takes a file descriptor.
//! Many systems start services with a soft limit of 1024, which a few hundred idle connections
//! and a busy outbox can use up; then `accept` fails and even `/healthz` goes unanswered. The
//! soft limit may be raised up to the hard limit without privileges, so the daemon does that
//! first thing. The systemd unit in `docs/deploy.md` also sets `LimitNOFILE`.

/// What became of the open-file limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard limit. Returns what it found and did.
#[cfg(unix)]
#[allow(clippy::useless_conversion)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_open_files() -> std::io::Result<FileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass, which lives for the call.
    #[allow(unsafe_code)]
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass, which lives for the call.
        #[allow(unsafe_code)]
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) };
        if set != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(FileLimit {
        before: u64::from(before),
        now: u64::from(limit.rlim_cur),
        hard: u64::from(limit.rlim_max),
    })
}

/// Not on this platform.
#[cfg(not(unix))]
pub fn raise_open_files() -> std::io::Result<FileLimit> {
    Err(std::io::Error::other("not supported on this platform"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = raise_open_files().expect("getrlimit/setrlimit");
        assert_eq!(limit.now, limit.hard);
        assert!(limit.now >= limit.before);
    }
}
