//! The control socket: how `qunguan backup` and `qunguan audit` reach a running daemon.
//!
//! sled allows one process per database, so while the daemon runs the CLI cannot open the
//! data itself. The daemon therefore listens on a Unix socket inside its data directory,
//! `<storage.path>/control.sock`, mode 0600: only someone who can already read the database
//! files can use it, with no port, token or network exposure. The CLI tries the socket first
//! and opens the database directly only when no daemon answers (`restore` refuses while one
//! does).
//!
//! Protocol: the client writes one JSON request line; the daemon answers with one status line
//! (`{"ok":true}` or `{"error":"…"}`) followed by the payload as JSON lines, and closes. An
//! import (`samples_import`) sends its JSON lines after the request line and then closes its
//! writing side; the daemon reads them (at most [`MAX_IMPORT`] bytes) before it answers.
//!
//! | request                                  | payload                         |
//! |------------------------------------------|---------------------------------|
//! | `{"cmd":"backup"}`                       | the backup file, line by line   |
//! | `{"cmd":"audit","group":…,"last":…}`     | one [`crate::domain::audit::AuditEntry`] per line |
//! | `{"cmd":"dead_letters"}`                 | one dead letter per line        |
//! | `{"cmd":"retry_dead_letters"}`           | one line: `{"requeued": n}`; the worker delivers them |
//! | `{"cmd":"stats","group":…,"days":…}`     | one [`StatsDay`] per line, oldest first, every day of the range |
//! | `{"cmd":"samples"}`                      | one [`SampleLine`] per line, in id order |
//! | `{"cmd":"samples_import"}` + JSON lines  | `{"ids":[…]}`: the new samples' ids |
//! | `{"cmd":"samples_remove","ids":[…]}`     | `{"ids":[…]}`: the ids that existed |
//! | `{"cmd":"bans"}`                         | one global ban per line          |
//! | `{"cmd":"bans_add","user":…,"reason":…}` | [`BansChanged`]: new or not, kicks queued |
//! | `{"cmd":"bans_remove","users":[…]}`      | [`BansChanged`]: the bans lifted |
//! | `{"cmd":"bans_import"}` + a ban list     | [`BansChanged`]: how many were new |

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::config::rules::RulesHandle;
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::service::learning::{Learning, SampleLine};
use crate::service::outbox::Settling;
use crate::service::stats::GroupStats;
use crate::store::{DeadLetter, Store, StoreError};

/// The socket's file name inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// How long the daemon waits for a client's request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line accepted.
const MAX_REQUEST: usize = 4096;
/// Largest import accepted after a `samples_import` request line.
pub const MAX_IMPORT: usize = 64 << 20;
/// How long a backup waits for the deliveries in progress to have their outcome on disk.
const BACKUP_SETTLE: Duration = Duration::from_secs(5);
/// How long the daemon waits for an import's lines.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the control socket of the database at `data_dir` lives.
#[must_use]
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// A request to the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// A backup of every tree.
    Backup,
    /// Audit cases.
    Audit {
        /// Only this group's (text form, e.g. `qq:123`).
        group: Option<String>,
        /// Only the newest this many.
        last: Option<usize>,
    },
    /// The dead letters.
    DeadLetters,
    /// Send every dead letter back to the outbox.
    RetryDeadLetters,
    /// A group's daily statistics.
    Stats {
        /// The group (text form, e.g. `qq:123`).
        group: String,
        /// How many days back from today (today included).
        days: u32,
    },
    /// Every learned sample.
    Samples,
    /// Adds the samples in the JSON lines that follow the request line.
    SamplesImport,
    /// Deletes samples.
    SamplesRemove {
        /// Their ids.
        ids: Vec<u64>,
    },
    /// The instance's own global bans.
    Bans,
    /// Bans a member everywhere (`qunguan bans add`).
    BansAdd {
        /// The member, `qq:123` or `tg:456`.
        user: crate::domain::event::UserRef,
        /// Why.
        reason: String,
    },
    /// Lifts bans (`qunguan bans remove`).
    BansRemove {
        /// The members.
        users: Vec<crate::domain::event::UserRef>,
    },
    /// Adds the bans of the ban-list file that follows the request line (`qunguan bans
    /// import`; CSV or JSON lines).
    BansImport,
}

impl Request {
    /// Whether a body follows the request line (the imports).
    #[must_use]
    pub fn has_body(&self) -> bool {
        matches!(self, Self::SamplesImport | Self::BansImport)
    }
}

/// The answer to `bans_add`, `bans_remove` and `bans_import`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BansChanged {
    /// Members not banned before (`bans_add`, `bans_import`).
    pub new: usize,
    /// Kicks queued (`bans_add`).
    pub kicks: usize,
    /// Members whose ban was lifted (`bans_remove`).
    pub lifted: Vec<crate::domain::event::UserRef>,
}

/// The answer to `samples_import` and `samples_remove`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleIds {
    /// The ids imported, or removed.
    pub ids: Vec<u64>,
}

/// One day of a group's statistics, as sent over the socket and printed by `qunguan stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsDay {
    /// The date, `yyyy-mm-dd`, in `[stats] timezone`.
    pub date: String,
    /// Its counts.
    #[serde(flatten)]
    pub stats: crate::domain::stats::DayStats,
}

/// The longest range `qunguan stats --days` accepts.
pub const MAX_STATS_DAYS: u32 = 3660;

/// A group's statistics for the `days` days up to today (every day, zeros included): the
/// stored days plus the counts `stats` holds in memory (a running daemon's not yet written;
/// none for the CLI reading the database directly).
pub fn stats_days(
    store: &Store,
    stats: &GroupStats,
    group: GroupId,
    days: u32,
    now: jiff::Timestamp,
) -> Result<Vec<StatsDay>, StoreError> {
    let days = days.clamp(1, MAX_STATS_DAYS);
    let today = stats.date_of(now);
    let from = today
        .checked_sub(jiff::Span::new().days(i64::from(days) - 1))
        .unwrap_or(today);
    let stored = stats.days(store, group, from, today)?;
    Ok(crate::service::stats::every_day(from, today, stored)
        .into_iter()
        .map(|(date, mut stats)| {
            stats.active_members = stats.active_members.max(stats.members.len() as u64);
            stats.members.clear();
            StatsDay {
                date: date.to_string(),
                stats,
            }
        })
        .collect())
}

#[derive(Serialize, Deserialize)]
struct Status {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// How many dead letters went back to the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requeued {
    /// Their number.
    pub requeued: usize,
}

/// A dead letter with its sequence number, as sent over the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberedDeadLetter {
    /// The outbox sequence number it had.
    pub seq: u64,
    /// The letter.
    pub letter: DeadLetter,
}

/// The daemon's side: a bound socket.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    stats: Option<Arc<GroupStats>>,
    learning: Option<(Arc<Learning>, RulesHandle)>,
    bans: Option<Arc<crate::service::bans::Bans>>,
    deliveries: Option<Arc<Settling>>,
}

/// What a request is answered from besides the store.
#[derive(Clone)]
struct Live {
    stats: Option<Arc<GroupStats>>,
    learning: Option<(Arc<Learning>, RulesHandle)>,
    bans: Option<Arc<crate::service::bans::Bans>>,
    deliveries: Option<Arc<Settling>>,
}

impl ControlServer {
    /// Binds `<data_dir>/control.sock`, replacing a stale socket file left by a crash (the
    /// database lock already guarantees no other daemon uses this directory).
    pub fn bind(data_dir: &Path) -> std::io::Result<Self> {
        let path = socket_path(data_dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&path)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self {
            listener,
            path,
            stats: None,
            learning: None,
            bans: None,
            deliveries: None,
        })
    }

    /// Answers `samples_import` and `samples_remove` through the daemon's learning, so what
    /// is learned changes at once (normalized with the live rules).
    #[must_use]
    pub fn with_learning(mut self, learning: Arc<Learning>, rules: RulesHandle) -> Self {
        self.learning = Some((learning, rules));
        self
    }

    /// Answers the `bans*` requests through the daemon's ban list, so a change holds at once.
    #[must_use]
    pub fn with_bans(mut self, bans: Arc<crate::service::bans::Bans>) -> Self {
        self.bans = Some(bans);
        self
    }

    /// Takes a backup once the outbox worker's deliveries so far have their outcome on disk
    /// (at most [`BACKUP_SETTLE`]), so a message the gateway already delivered is not in the
    /// backup as still to send.
    #[must_use]
    pub fn with_deliveries(mut self, deliveries: Arc<Settling>) -> Self {
        self.deliveries = Some(deliveries);
        self
    }

    /// Answers `stats` requests with the daemon's live counts (not yet written) included.
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<GroupStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The socket's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves requests until `cancel` fires, then removes the socket file.
    pub async fn run(self, store: Store, clock: SharedClock, cancel: CancellationToken) {
        let tasks = tokio_util::task::TaskTracker::new();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (store, clock) = (store.clone(), clock.clone());
                        let live = Live {
                            stats: self.stats.clone(),
                            learning: self.learning.clone(),
                            bans: self.bans.clone(),
                            deliveries: self.deliveries.clone(),
                        };
                        tasks.spawn(async move {
                            if let Err(e) = serve(stream, store, clock, live).await {
                                tracing::warn!(error = %e, "control socket: request failed");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        tasks.close();
        tasks.wait().await;
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(stream: UnixStream, store: Store, clock: SharedClock, live: Live) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request line in time"))??;
    if read == 0 {
        // Connected and closed without a request: the CLI checking whether a daemon runs.
        return Ok(());
    }
    let request: Request = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => return write_error(&mut write, &format!("bad request: {e}")).await,
    };
    tracing::info!(
        request = %serde_json::to_string(&request).unwrap_or_default(),
        "control socket: request"
    );
    let mut body = Vec::new();
    if request.has_body() {
        reader.set_limit(MAX_IMPORT as u64 + 1);
        tokio::time::timeout(IMPORT_TIMEOUT, reader.read_to_end(&mut body))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the import did not end in time"))??;
        if body.len() > MAX_IMPORT {
            return write_error(&mut write, &format!("the import is larger than {MAX_IMPORT} bytes")).await;
        }
    }
    if let (Request::Backup, Some(deliveries)) = (&request, &live.deliveries)
        && !deliveries.settled(BACKUP_SETTLE).await
    {
        tracing::warn!(
            unsettled = deliveries.unsettled(),
            "backup: deliveries still without a recorded outcome; a daemon restored from this backup may send them again"
        );
    }
    // The store is synchronous; build the answer off the async threads.
    let payload = tokio::task::spawn_blocking(move || answer(&store, &clock, &live, &request, &body))
        .await
        .map_err(std::io::Error::other)?;
    match payload {
        Ok(bytes) => {
            write.write_all(&status_line(None)).await?;
            write.write_all(&bytes).await?;
            write.shutdown().await
        }
        Err(e) => write_error(&mut write, &e.to_string()).await,
    }
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the import was not applied: {0}")]
    Import(#[from] crate::service::learning::ImportError),
    #[error(transparent)]
    Bans(#[from] crate::service::bans::BanError),
    #[error("{0}")]
    Other(String),
}

fn answer(
    store: &Store,
    clock: &SharedClock,
    live: &Live,
    request: &Request,
    body: &[u8],
) -> Result<Vec<u8>, AnswerError> {
    let stats = live.stats.as_deref();
    let mut out = Vec::new();
    match request {
        Request::Backup => {
            store.backup(&mut out, clock.now())?;
        }
        Request::Audit { group, last } => {
            let group = group
                .as_deref()
                .map(str::parse::<GroupId>)
                .transpose()
                .map_err(|e| StoreError::Decode {
                    what: "group",
                    reason: e.to_string(),
                })?;
            for entry in store.cases(group, *last)? {
                json_line(&mut out, &entry);
            }
        }
        Request::DeadLetters => {
            for (seq, letter) in store.outbox().dead_letters()? {
                json_line(&mut out, &NumberedDeadLetter { seq, letter });
            }
        }
        Request::RetryDeadLetters => {
            let requeued = store.requeue_dead_letters(clock.now())?;
            // Durable before the answer; the flush also lets the worker take them.
            store.flush_blocking()?;
            tracing::info!(requeued, "dead letters sent back to the outbox");
            json_line(&mut out, &Requeued { requeued });
        }
        Request::Stats { group, days } => {
            let group = group.parse::<GroupId>().map_err(|e| StoreError::Decode {
                what: "group",
                reason: e.to_string(),
            })?;
            let Some(stats) = stats else {
                return Err(StoreError::Invalid("this daemon keeps no statistics").into());
            };
            for day in stats_days(store, stats, group, *days, clock.now())? {
                json_line(&mut out, &day);
            }
        }
        Request::Samples => {
            for (id, sample) in store.samples()? {
                json_line(&mut out, &SampleLine::of(id, &sample));
            }
        }
        Request::SamplesImport | Request::SamplesRemove { .. } => {
            let Some((learning, rules)) = &live.learning else {
                return Err(AnswerError::Other("this daemon does not learn samples".into()));
            };
            let rules = rules.load_full();
            let ids = if let Request::SamplesRemove { ids } = request {
                learning.remove(ids, &rules, clock.now())?
            } else {
                let text = std::str::from_utf8(body)
                    .map_err(|e| AnswerError::Other(format!("the import is not UTF-8: {e}")))?;
                let samples =
                    crate::service::learning::parse_import(text, &rules.filter, clock.now().as_millisecond())?;
                learning.import(&samples, &rules, clock.now())?
            };
            json_line(&mut out, &SampleIds { ids });
        }
        Request::Bans | Request::BansAdd { .. } | Request::BansRemove { .. } | Request::BansImport => {
            let Some(bans) = &live.bans else {
                return Err(AnswerError::Other("this daemon keeps no ban list".into()));
            };
            match request {
                Request::BansAdd { user, reason } => {
                    let ban = crate::domain::ban::Ban {
                        user: *user,
                        reason: reason.clone(),
                        at_ms: clock.now().as_millisecond(),
                        by: "cli".into(),
                    };
                    let (new, kicks) = bans.add(&ban, clock.now())?;
                    store.flush_blocking()?;
                    let new = usize::from(new);
                    json_line(
                        &mut out,
                        &BansChanged {
                            new,
                            kicks,
                            lifted: Vec::new(),
                        },
                    );
                }
                Request::BansRemove { users } => {
                    let lifted = bans.remove(users, clock.now())?;
                    store.flush_blocking()?;
                    json_line(
                        &mut out,
                        &BansChanged {
                            lifted,
                            ..BansChanged::default()
                        },
                    );
                }
                Request::BansImport => {
                    let text = std::str::from_utf8(body)
                        .map_err(|e| AnswerError::Other(format!("the import is not UTF-8: {e}")))?;
                    let list = crate::policy::bans::parse(text, bans.max_entries())
                        .map_err(|e| AnswerError::Other(format!("nothing was imported: {e}")))?;
                    let new = bans.import(&list)?;
                    store.flush_blocking()?;
                    json_line(
                        &mut out,
                        &BansChanged {
                            new,
                            ..BansChanged::default()
                        },
                    );
                }
                _ => {
                    for ban in bans.list()? {
                        json_line(&mut out, &ban);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn json_line<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Our own plain structs always serialise.
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

fn status_line(error: Option<&str>) -> Vec<u8> {
    let status = Status {
        ok: error.is_none(),
        error: error.map(str::to_owned),
    };
    let mut line = serde_json::to_vec(&status).unwrap_or_default();
    line.push(b'\n');
    line
}

async fn write_error(write: &mut tokio::net::unix::OwnedWriteHalf, error: &str) -> std::io::Result<()> {
    write.write_all(&status_line(Some(error))).await?;
    write.shutdown().await
}

/// Why the CLI could not get an answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens on the socket.
    #[error("no daemon answers on {0}")]
    NotRunning(PathBuf),
    /// Talking to it failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The daemon refused the request.
    #[error("the daemon answered: {0}")]
    Refused(String),
}

/// The CLI's side: sends `request` to the daemon of `data_dir` and returns the payload
/// reader, or [`ClientError::NotRunning`] when no daemon listens.
pub fn request(data_dir: &Path, request: &Request) -> Result<impl BufRead, ClientError> {
    request_with(data_dir, request, &[])
}

/// [`request`] with a body after the request line (`samples_import`): sent, then the writing
/// side is closed so the daemon knows it ended.
pub fn request_with(data_dir: &Path, request: &Request, body: &[u8]) -> Result<impl BufRead, ClientError> {
    let path = socket_path(data_dir);
    let io = |source| ClientError::Io {
        path: path.clone(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning(path));
        }
        Err(e) => return Err(io(e)),
    };
    let mut line = serde_json::to_vec(request).map_err(|e| io(e.into()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    if !body.is_empty() {
        stream.write_all(body).map_err(io)?;
    }
    if request.has_body() {
        stream.shutdown(std::net::Shutdown::Write).map_err(io)?;
    }
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(io)?;
    let status: Status = serde_json::from_str(status.trim())
        .map_err(|e| ClientError::Refused(format!("an unreadable status line ({e})")))?;
    if let Some(error) = status.error {
        return Err(ClientError::Refused(error));
    }
    if !status.ok {
        return Err(ClientError::Refused("no status".into()));
    }
    Ok(reader)
}

/// True when a daemon answers on the control socket of `data_dir`.
#[must_use]
pub fn daemon_running(data_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(data_dir)).is_ok()
}

/// Decodes payload lines of type `T`.
pub fn read_lines<T: serde::de::DeserializeOwned>(reader: impl BufRead) -> Result<Vec<T>, ClientError> {
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|source| ClientError::Io {
            path: PathBuf::from("control socket"),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| ClientError::Refused(format!("an unreadable line ({e})")))?);
    }
    Ok(out)
}
