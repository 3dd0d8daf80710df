//! Who may use the console and its API, and how that is checked.
//!
//! - **Password**: one shared console password, kept only as its argon2id hash
//!   (`[console] password_hash`, printed by `qunguan console password`). Checking one takes
//!   tens of milliseconds of CPU on purpose, so checks run off the async threads and at most
//!   [`CONCURRENT_CHECKS`] at a time.
//! - **Sessions**: a login gets a random 32-byte token in the `qunguan_session` cookie
//!   (`HttpOnly`, `SameSite=Strict`, `Secure` with `[console] secure_cookie`). The first half
//!   finds the session in memory; the second half is compared in constant time, so the map
//!   lookup's timing tells nothing about a secret. Sessions live in memory (a restart logs
//!   everyone out), expire after `[console] session_ttl` on the daemon's clock, and are at
//!   most `[limits] console_sessions` (default [`MAX_SESSIONS`]): a login beyond that
//!   replaces the session closest to expiry.
//! - **CSRF**: each session has its own random token. Every state-changing request made with
//!   the cookie must carry it (form field `csrf_token`, or header `X-CSRF-Token`), compared in
//!   constant time; the pages put it in every form. `SameSite=Strict` already keeps other
//!   sites' requests from carrying the cookie; the token also covers older browsers.
//! - **API token**: `Authorization: Bearer <[console] api_token>`, compared in constant time.
//!   A bearer request carries no cookie, so it needs no CSRF token.
//! - **Login rate limit**: per client address, at most `[console] login_failures` failed
//!   logins per `[console] login_window`; after that attempts get 429 without the password
//!   being checked. The table holds at most `[limits] console_login_addresses` addresses
//!   (default [`MAX_TRACKED_ADDRESSES`]; when full, those outside the window go first, then
//!   the address whose last failure is oldest). The address is the TCP peer:
//!   behind a reverse proxy every client shares the proxy's, so the limit then applies to
//!   all of them together — the safe direction.
//!
//! Secrets never reach a log line: not the password, not a token, not a hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::config::ConsoleSettings;
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::metrics::{LoginResult, Metrics};

/// The session cookie's name.
pub const COOKIE: &str = "qunguan_session";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The most sessions kept at once, by default (`[limits] console_sessions`).
pub const MAX_SESSIONS: usize = 256;
/// The most client addresses the login rate limit tracks at once, by default (`[limits]
/// console_login_addresses`).
pub const MAX_TRACKED_ADDRESSES: usize = 4096;
/// Password checks running at once (each takes tens of ms of CPU and 19 MiB of memory).
pub const CONCURRENT_CHECKS: usize = 2;
/// The longest name an operator may give at login (it goes into the audit log).
pub const MAX_NAME_CHARS: usize = 40;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("argon2: {0}")]
pub struct HashError(String);

/// The argon2id hash (PHC string, default parameters: 19 MiB, 2 passes) of `password`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError(format!("no randomness for the salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (argon2's own comparison is constant
/// time). A hash that does not parse matches nothing; configuration validation refuses one.
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// `n` random bytes as lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without randomness no token is safe to hand out; a token nobody can present is
        // the safe failure (the login then does not work, and the log says why).
        tracing::error!(error = %e, "console: the system has no randomness; login impossible");
        return String::new();
    }
    hex::encode(bytes)
}

/// Constant-time equality of two strings (their lengths are not secret).
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// An open session.
#[derive(Clone, Debug)]
struct Session {
    /// The second half of the cookie token.
    secret: String,
    csrf: String,
    /// The name given at login.
    name: String,
    expires_ms: i64,
    /// A message for the next page (an undo's outcome …).
    flash: Option<String>,
}

/// A request's authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A console session.
    Session {
        /// Its id (the cookie token's first half).
        id: String,
        /// Its CSRF token.
        csrf: String,
        /// The name given at login.
        name: String,
    },
    /// The API token.
    Token,
}

impl Caller {
    /// The name the audit log records.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Session { name, .. } => name,
            Self::Token => "api",
        }
    }
}

/// Failed logins of one address.
#[derive(Clone, Debug, Default)]
struct Failures {
    /// Their times, unix ms, oldest first; only those inside the window are kept.
    at_ms: Vec<i64>,
}

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum Login {
    /// Logged in: the cookie token.
    Ok(String),
    /// Wrong password.
    Wrong,
    /// Too many failures from this address; try again after this long.
    Limited(Duration),
    /// The console has no password (it is off).
    Off,
}

/// Sessions, the login rate limit and the API token of one daemon.
pub struct Auth {
    settings: ConsoleSettings,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// The sessions' size and capacity (`console_sessions` on `/metrics`).
    sessions_bound: Arc<Bound>,
    /// The rate limit table's size and capacity (`console_login_addresses`).
    failures_bound: Arc<Bound>,
    checks: Semaphore,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("console", &!self.settings.password_hash.is_empty())
            .field("api_token", &!self.settings.api_token.is_empty())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Auth {
    /// The console's authentication, on the daemon's clock.
    #[must_use]
    pub fn new(settings: ConsoleSettings, clock: SharedClock, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            clock,
            metrics,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            sessions_bound: Bound::new("console_sessions", MAX_SESSIONS),
            failures_bound: Bound::new("console_login_addresses", MAX_TRACKED_ADDRESSES),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    /// This authentication keeping at most `sessions` sessions and tracking failed logins of
    /// at most `addresses` client addresses (`[limits]`).
    #[must_use]
    pub fn with_limits(self, sessions: usize, addresses: usize) -> Self {
        self.sessions_bound.set_capacity(sessions.max(1));
        self.failures_bound.set_capacity(addresses.max(1));
        self
    }

    /// The sizes of the sessions and of the rate limit table (for `/metrics`).
    #[must_use]
    pub fn bounds(&self) -> [Arc<Bound>; 2] {
        [Arc::clone(&self.sessions_bound), Arc::clone(&self.failures_bound)]
    }

    /// Publishes the sizes of both tables.
    fn gauges(&self, sessions: usize, tracked: usize) {
        self.sessions_bound.set_len(sessions);
        self.failures_bound.set_len(tracked);
        self.metrics.console_gauges(sessions, tracked);
    }

    /// Whether the console pages are on (a password hash is configured).
    #[must_use]
    pub fn console_on(&self) -> bool {
        !self.settings.password_hash.is_empty()
    }

    /// Whether anything can authenticate a request (password or API token). Without either,
    /// the admin listener is on loopback (validation guarantees it) and the pages that
    /// predate the console (`/stats/<group>`) stay open as before.
    #[must_use]
    pub fn any(&self) -> bool {
        self.settings.has_auth()
    }

    /// Whether the session cookie is marked `Secure`.
    #[must_use]
    pub fn secure_cookie(&self) -> bool {
        self.settings.secure_cookie
    }

    /// The session lifetime.
    #[must_use]
    pub fn session_ttl(&self) -> Duration {
        self.settings.session_ttl.get()
    }

    /// Tries to log in from `address` with `password`; `name` is recorded with the session.
    pub async fn login(&self, address: IpAddr, password: &str, name: &str) -> Login {
        if !self.console_on() {
            return Login::Off;
        }
        if let Some(wait) = self.limited(address) {
            self.metrics.console_login(LoginResult::Limited);
            tracing::warn!(%address, "console: login refused, too many failed attempts");
            return Login::Limited(wait);
        }
        let ok = match self.checks.acquire().await {
            Ok(_permit) => {
                let (password, hash) = (password.to_owned(), self.settings.password_hash.expose().to_owned());
                tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                    .await
                    .unwrap_or(false)
            }
            Err(_) => false,
        };
        if !ok {
            self.fail(address);
            self.metrics.console_login(LoginResult::Failed);
            tracing::warn!(%address, "console: wrong password");
            return Login::Wrong;
        }
        self.metrics.console_login(LoginResult::Ok);
        lock(&self.failures).remove(&address);
        let name = session_name(name);
        let token = self.open_session(&name);
        tracing::info!(%address, name, "console: logged in");
        Login::Ok(token)
    }

    /// How long `address` must wait, if it has failed too often.
    fn limited(&self, address: IpAddr) -> Option<Duration> {
        let now_ms = self.clock.now().as_millisecond();
        let window = millis(self.settings.login_window.get());
        let mut failures = lock(&self.failures);
        let entry = failures.get_mut(&address)?;
        entry.at_ms.retain(|&t| now_ms.saturating_sub(t) < window);
        let limit = usize::try_from(self.settings.login_failures).unwrap_or(usize::MAX);
        if entry.at_ms.len() < limit {
            return None;
        }
        let oldest = entry.at_ms.first().copied().unwrap_or(now_ms);
        let wait = oldest.saturating_add(window).saturating_sub(now_ms).max(1000);
        Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
    }

    fn fail(&self, address: IpAddr) {
        let now_ms = self.clock.now().as_millisecond();
        let window = millis(self.settings.login_window.get());
        let capacity = self.failures_bound.capacity();
        let mut failures = lock(&self.failures);
        if !failures.contains_key(&address) && failures.len() >= capacity {
            failures.retain(|_, f| f.at_ms.last().is_some_and(|&t| now_ms.saturating_sub(t) < window));
            while failures.len() >= capacity {
                let stalest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.at_ms.last().copied().unwrap_or(i64::MIN))
                    .map(|(a, _)| *a);
                let Some(a) = stalest else { break };
                failures.remove(&a);
                self.failures_bound.evict(1);
            }
        }
        let entry = failures.entry(address).or_default();
        entry.at_ms.retain(|&t| now_ms.saturating_sub(t) < window);
        entry.at_ms.push(now_ms);
        // Only the newest `limit` failures matter for the window.
        let limit = usize::try_from(self.settings.login_failures).unwrap_or(usize::MAX);
        let excess = entry.at_ms.len().saturating_sub(limit);
        entry.at_ms.drain(..excess);
        let tracked = failures.len();
        drop(failures);
        self.gauges(lock(&self.sessions).len(), tracked);
    }

    fn open_session(&self, name: &str) -> String {
        let now_ms = self.clock.now().as_millisecond();
        let (id, secret) = (random_hex(16), random_hex(16));
        let session = Session {
            secret: secret.clone(),
            csrf: random_hex(16),
            name: name.to_owned(),
            expires_ms: now_ms.saturating_add(millis(self.settings.session_ttl.get())),
            flash: None,
        };
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires_ms > now_ms);
        while sessions.len() >= self.sessions_bound.capacity() {
            let soonest = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(id, _)| id.clone());
            let Some(old) = soonest else { break };
            sessions.remove(&old);
            self.sessions_bound.evict(1);
        }
        sessions.insert(id.clone(), session);
        let count = sessions.len();
        drop(sessions);
        self.gauges(count, lock(&self.failures).len());
        format!("{id}{secret}")
    }

    /// The session the request's cookie names, if it is open and unexpired.
    #[must_use]
    pub fn session(&self, headers: &HeaderMap) -> Option<Caller> {
        let token = cookie(headers, COOKIE)?;
        let (id, secret) = (token.get(..32)?, token.get(32..)?);
        let now_ms = self.clock.now().as_millisecond();
        let mut sessions = lock(&self.sessions);
        let session = sessions.get(id)?;
        if !same(&session.secret, secret) {
            return None;
        }
        if session.expires_ms <= now_ms {
            sessions.remove(id);
            return None;
        }
        Some(Caller::Session {
            id: id.to_owned(),
            csrf: session.csrf.clone(),
            name: session.name.clone(),
        })
    }

    /// The caller of an API request: the bearer token if one is sent (a wrong one is an
    /// error, never a fallback to the cookie), else the session. `Err` says why not.
    pub fn api_caller(&self, headers: &HeaderMap) -> Result<Caller, &'static str> {
        if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or("the Authorization header must be `Bearer <token>`")?;
            let expected = self.settings.api_token.expose();
            if expected.is_empty() {
                return Err("no API token is configured ([console] api_token)");
            }
            return if same(token, expected) {
                Ok(Caller::Token)
            } else {
                Err("wrong API token")
            };
        }
        self.session(headers)
            .ok_or("log in to the console, or send Authorization: Bearer <[console] api_token>")
    }

    /// Whether a state-changing request by `caller` carries the right CSRF token (`given`,
    /// from the form field or the header). Bearer callers need none.
    #[must_use]
    pub fn csrf_ok(caller: &Caller, given: Option<&str>) -> bool {
        match caller {
            Caller::Token => true,
            Caller::Session { csrf, .. } => given.is_some_and(|g| same(g, csrf)),
        }
    }

    /// Ends the session of `caller`.
    pub fn logout(&self, caller: &Caller) {
        if let Caller::Session { id, name, .. } = caller {
            let mut sessions = lock(&self.sessions);
            sessions.remove(id);
            let count = sessions.len();
            drop(sessions);
            self.gauges(count, lock(&self.failures).len());
            tracing::info!(name, "console: logged out");
        }
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, caller: &Caller, message: String) {
        if let Caller::Session { id, .. } = caller
            && let Some(s) = lock(&self.sessions).get_mut(id)
        {
            s.flash = Some(message);
        }
    }

    /// Takes the message left for this page, if any.
    #[must_use]
    pub fn take_flash(&self, caller: &Caller) -> Option<String> {
        match caller {
            Caller::Session { id, .. } => lock(&self.sessions).get_mut(id).and_then(|s| s.flash.take()),
            Caller::Token => None,
        }
    }

    /// The `Set-Cookie` value that opens a session with `token`.
    #[must_use]
    pub fn session_cookie(&self, token: &str) -> String {
        format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.settings.session_ttl.as_secs(),
            if self.settings.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    #[must_use]
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.settings.secure_cookie { "; Secure" } else { "" }
        )
    }
}

/// The name a login gave, as the session, the audit log and the log line keep it: trimmed,
/// without control characters, at most [`MAX_NAME_CHARS`]; `console` when empty.
fn session_name(given: &str) -> String {
    let name: String = given
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    if name.is_empty() { "console".to_owned() } else { name }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::domain::clock::ManualClock;
    use crate::domain::duration::HumanDuration;
    use axum::http::HeaderValue;

    fn auth(clock: &Arc<ManualClock>) -> Auth {
        let settings = ConsoleSettings {
            password_hash: Secret::new(hash_password("correct horse").expect("hash")),
            api_token: Secret::new("0123456789abcdef-token"),
            login_failures: 2,
            login_window: HumanDuration::from_secs(60),
            ..ConsoleSettings::default()
        };
        Auth::new(settings, Arc::clone(clock) as SharedClock, Arc::default())
    }

    fn with_cookie(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = format!("other=1; {COOKIE}={token}");
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&value).expect("header"),
        );
        h
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_their_password() {
        let hash = hash_password("s3cret-pass").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify_password("s3cret-pass", &hash));
        assert!(!verify_password("s3cret-pasS", &hash));
        assert!(!verify_password("s3cret-pass", "not a hash"));
        assert_ne!(hash, hash_password("s3cret-pass").expect("hash"), "salted");
    }

    #[tokio::test]
    async fn sessions_expire_and_failures_are_limited_per_address() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).expect("ts"));
        let auth = auth(&clock);
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.3".parse().expect("ip");
        assert!(matches!(auth.login(a, "nope", "").await, Login::Wrong));
        assert!(matches!(auth.login(a, "nope", "").await, Login::Wrong));
        // The limit holds even for the right password, and only for that address.
        assert!(matches!(auth.login(a, "correct horse", "").await, Login::Limited(_)));
        let Login::Ok(token) = auth.login(b, "correct horse", "小王").await else {
            panic!("another address logs in");
        };
        let caller = auth.session(&with_cookie(&token)).expect("session");
        assert_eq!(caller.name(), "小王");
        // A forged secret with a real id is refused.
        let forged = format!("{}{}", &token[..32], "0".repeat(32));
        assert!(auth.session(&with_cookie(&forged)).is_none());
        clock.advance(Duration::from_secs(61));
        assert!(matches!(auth.login(a, "correct horse", "").await, Login::Ok(_)));
        clock.advance(Duration::from_secs(12 * 3600));
        assert!(
            auth.session(&with_cookie(&token)).is_none(),
            "expired after session_ttl"
        );
    }

    #[tokio::test]
    async fn sessions_and_tracked_addresses_stay_within_their_limits() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).expect("ts"));
        let auth = auth(&clock).with_limits(2, 3);
        let [sessions, addresses] = auth.bounds();
        let mut tokens = Vec::new();
        for n in 0..3u64 {
            let Login::Ok(token) = auth.login(IpAddr::from([127, 0, 1, 1]), "correct horse", "op").await else {
                panic!("logs in");
            };
            tokens.push(token);
            clock.advance(Duration::from_secs(n + 1));
        }
        assert_eq!((sessions.len(), sessions.capacity(), sessions.evicted()), (2, 2, 1));
        assert!(
            auth.session(&with_cookie(&tokens[0])).is_none(),
            "the session closest to expiry made room"
        );
        assert!(auth.session(&with_cookie(&tokens[2])).is_some());
        for last in 1..=5u8 {
            assert!(matches!(
                auth.login(IpAddr::from([10, 0, 0, last]), "nope", "").await,
                Login::Wrong
            ));
        }
        assert_eq!((addresses.len(), addresses.capacity(), addresses.evicted()), (3, 3, 2));
    }

    #[test]
    fn login_names_are_cut_before_anything_keeps_or_logs_them() {
        assert_eq!(session_name("  小王\n "), "小王");
        assert_eq!(session_name(" \t"), "console");
        assert_eq!(session_name(&"名".repeat(10_000)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn csrf_and_bearer_checks() {
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).expect("ts"));
        let auth = auth(&clock);
        let caller = Caller::Session {
            id: "x".into(),
            csrf: "abc".into(),
            name: "n".into(),
        };
        assert!(Auth::csrf_ok(&caller, Some("abc")));
        assert!(!Auth::csrf_ok(&caller, Some("abd")));
        assert!(!Auth::csrf_ok(&caller, None));
        assert!(Auth::csrf_ok(&Caller::Token, None));
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef-token"),
        );
        assert_eq!(auth.api_caller(&h), Ok(Caller::Token));
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef-tokeN"),
        );
        assert_eq!(auth.api_caller(&h), Err("wrong API token"));
        assert!(auth.api_caller(&HeaderMap::new()).is_err());
    }
}
