//! Gateway adapters: events in (webhooks), actions out (HTTP API clients).
//!
//! Each platform lives in its own module and is the only code that knows its wire format:
//! [`onebot`] for QQ through OneBot v11 gateways (NapCat, LLOneBot, Lagrange.OneBot,
//! go-cqhttp), [`telegram`] for the Telegram Bot API. [`Gateways`] routes a neutral
//! [`Action`] to the client of its group's platform and tells the pipeline what each platform
//! can do. Both can be enabled at once: groups are keyed by platform (`qq:…`, `tg:…`).
//! A [`DirectClient`] replaces every platform (the printer of `qunguan demo`).

pub mod onebot;
pub mod telegram;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::domain::account::AccountId;
use crate::domain::action::Action;
use crate::domain::clock::{SharedClock, SystemClock};
use crate::domain::event::{GroupId, Platform, Role};

/// Why a gateway call failed, classified so the outbox knows whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No gateway of this platform is configured.
    #[error("no {0:?} gateway is configured")]
    NotConfigured(Platform),
    /// The call did not finish in time. The action may or may not have happened. Holds the
    /// call (`POST <url>`, any token redacted).
    #[error("{0}: no answer in time")]
    Timeout(String),
    /// The connection failed: refused, reset, DNS, TLS … Holds the call (`POST <url>`, any
    /// token redacted) and the cause, e.g. `POST http://127.0.0.1:3000/send_group_msg:
    /// connection refused (tcp connect error: Connection refused (os error 111))`.
    #[error("{0}")]
    Transport(String),
    /// The gateway answered with a non-success HTTP status.
    #[error("the gateway answered HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Start of the response body, for the log.
        body: String,
    },
    /// The gateway understood the call and refused it (no permission, member not found …).
    #[error("the gateway refused the call (retcode {retcode}): {message}")]
    Refused {
        /// The gateway's return code.
        retcode: i64,
        /// The gateway's explanation.
        message: String,
    },
    /// The gateway answered `failed` for a reason that may pass (the QQ account reconnecting
    /// or risk-controlled, a handler error): tried again later, like a 5xx. See
    /// [`onebot::retcode`].
    #[error("the gateway could not carry out the call now (retcode {retcode}): {message}")]
    Failed {
        /// The gateway's return code.
        retcode: i64,
        /// The gateway's explanation.
        message: String,
    },
    /// The platform asks to slow down.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// The answer could not be understood.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
    /// The call panicked inside qunguan (a bug: please report it with the log line). The
    /// action may or may not have happened; tried again later, like a timeout.
    #[error("the call failed inside qunguan (a bug, please report it): {0}")]
    Panicked(String),
    /// Several accounts are configured and none of them is known to keep the group (or the
    /// one named is not configured): the action is not sent through a guess.
    #[error("{} keeps group {group}; no gateway to send through", .account.map_or_else(|| "no configured account".to_owned(), |a| format!("account {a}, which is not configured,")))]
    Unrouted {
        /// The group of the action.
        group: GroupId,
        /// The account it was routed to, if any.
        account: Option<AccountId>,
    },
}

impl GatewayError {
    /// True when trying again later may succeed (timeouts, connection errors, 5xx, rate
    /// limits); false when the same call will fail again (refusals, 4xx, not configured).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_)
            | Self::Transport(_)
            | Self::RateLimited(_)
            | Self::Protocol(_)
            | Self::Panicked(_)
            | Self::Failed { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::NotConfigured(_) | Self::Refused { .. } | Self::Unrouted { .. } => false,
        }
    }

    /// The delay the platform asked for, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(d) => Some(*d),
            _ => None,
        }
    }
}

/// Classifies a failed HTTP call for the log: `call` is `POST <url>` with any token already
/// redacted, and the cause is named the way an operator searches for it — connection
/// refused, name not resolved, TLS, reset — followed by the error chain (each cause once).
pub(crate) fn http_failure(call: &str, err: &reqwest::Error) -> GatewayError {
    if err.is_timeout() {
        return GatewayError::Timeout(call.to_owned());
    }
    let mut chain: Vec<String> = Vec::new();
    let mut refused = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        let text = cause.to_string();
        // Wrappers repeat their inner error's text; say each cause once.
        if !chain.iter().any(|c| c.contains(&text)) {
            chain.retain(|c| !text.contains(c.as_str()));
            chain.push(text);
        }
        source = cause.source();
    }
    let detail = chain.join(": ");
    let lower = detail.to_lowercase();
    let kind = if refused || lower.contains("connection refused") {
        "connection refused"
    } else if lower.contains("dns") || lower.contains("failed to lookup") {
        "name not resolved"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        "TLS error"
    } else if lower.contains("reset") || lower.contains("broken pipe") {
        "connection reset"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    if detail.is_empty() {
        GatewayError::Transport(format!("{call}: {kind}"))
    } else {
        GatewayError::Transport(format!("{call}: {kind} ({detail})"))
    }
}

/// Why a webhook refused a request, attached to its 4xx response (an axum response extension)
/// instead of logged by the handler: the listener counts every refusal and logs them at a
/// bounded rate, so a flood of bad requests cannot flood the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// What a successful call returned that the bot may need later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The id of a message the bot sent.
    pub message_id: Option<i64>,
}

/// What the platform says about a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's name, when the platform told it.
    pub name: Option<String>,
    /// How many members it has.
    pub member_count: u64,
}

/// The future a [`DirectClient`] returns.
pub type Call<'a> = Pin<Box<dyn Future<Output = Result<Delivery, GatewayError>> + Send + 'a>>;

/// A client that carries out every action itself, whatever the platform: `qunguan demo`
/// prints them.
pub trait DirectClient: Send + Sync + std::fmt::Debug + 'static {
    /// Carries out `action`.
    fn execute<'a>(&'a self, action: &'a Action) -> Call<'a>;
}

/// The clients of one platform, keyed by account.
///
/// OneBot accounts listed in `[[gateway.onebot.accounts]]` and every Telegram bot are keyed
/// by their own id; the single `[gateway.onebot]` section is the client for `any` account.
#[derive(Debug)]
struct Clients<C> {
    by_account: BTreeMap<i64, Arc<C>>,
    any: Option<Arc<C>>,
}

impl<C> Default for Clients<C> {
    fn default() -> Self {
        Self {
            by_account: BTreeMap::new(),
            any: None,
        }
    }
}

impl<C> Clone for Clients<C> {
    fn clone(&self) -> Self {
        Self {
            by_account: self.by_account.clone(),
            any: self.any.clone(),
        }
    }
}

impl<C> Clients<C> {
    /// The client of `account`. Without an account, or with one this platform does not list
    /// (a bot whose token was replaced since the group was last seen), the platform's only
    /// gateway: the client for any account, or the one listed client. Never another listed
    /// account's gateway when several are listed.
    fn pick(&self, account: Option<i64>) -> Option<&Arc<C>> {
        account
            .and_then(|id| self.by_account.get(&id))
            .or(self.any.as_ref())
            .or_else(|| match self.by_account.len() {
                1 => self.by_account.values().next(),
                _ => None,
            })
    }

    fn is_empty(&self) -> bool {
        self.any.is_none() && self.by_account.is_empty()
    }

    fn all(&self) -> impl Iterator<Item = &Arc<C>> {
        self.any.iter().chain(self.by_account.values())
    }
}

/// The configured gateway clients, per platform and account.
///
/// Invariant: an action goes out through the client of the account it is routed to
/// ([`Gateways::execute`]), and never through another listed account's gateway; an action
/// whose account is unknown while several accounts are listed is refused
/// ([`GatewayError::Unrouted`]) rather than sent through a guess.
#[derive(Clone, Debug, Default)]
pub struct Gateways {
    onebot: Clients<onebot::OneBotClient>,
    telegram: Clients<telegram::TelegramClient>,
    /// When set, every action goes here instead (`qunguan demo`).
    demo: Option<Arc<dyn DirectClient>>,
}

impl Gateways {
    /// Builds the clients of every enabled gateway, on the system clock.
    pub fn from_settings(settings: &Settings) -> Result<Self, GatewayError> {
        Self::with_clock(settings, Arc::new(SystemClock))
    }

    /// Builds the clients of every enabled gateway, one per account; `clock` dates what needs
    /// an absolute time (the end of a Telegram mute).
    pub fn with_clock(settings: &Settings, clock: SharedClock) -> Result<Self, GatewayError> {
        let mut onebot = Clients::default();
        if settings.gateway.onebot.enabled {
            for account in settings.gateway.onebot.accounts() {
                let client = Arc::new(onebot::OneBotClient::new(&account.settings)?);
                match account.self_id {
                    Some(id) => {
                        onebot.by_account.insert(id, client);
                    }
                    None => onebot.any = Some(client),
                }
            }
        }
        let mut telegram = Clients::default();
        if settings.gateway.telegram.enabled {
            for bot in settings.gateway.telegram.bots() {
                let client = Arc::new(telegram::TelegramClient::new(&bot.settings, Arc::clone(&clock))?);
                telegram.by_account.insert(client.bot_id(), client);
            }
        }
        Ok(Self {
            onebot,
            telegram,
            demo: None,
        })
    }

    /// Gateways that deliver every action to the demo client (which prints it). The demo group
    /// is a QQ group, so capabilities are QQ's.
    #[must_use]
    pub fn demo(client: Arc<dyn DirectClient>) -> Self {
        Self {
            demo: Some(client),
            ..Self::default()
        }
    }

    /// The client of the Telegram bot `bot_id`, when it is configured.
    #[must_use]
    pub fn telegram_bot(&self, bot_id: i64) -> Option<Arc<telegram::TelegramClient>> {
        self.telegram.by_account.get(&bot_id).cloned()
    }

    /// The accounts listed for `platform` (empty for the single-account OneBot form, which
    /// answers for any account).
    #[must_use]
    pub fn accounts(&self, platform: Platform) -> Vec<AccountId> {
        let ids: Vec<i64> = match platform {
            Platform::Qq => self.onebot.by_account.keys().copied().collect(),
            Platform::Telegram => self.telegram.by_account.keys().copied().collect(),
        };
        ids.into_iter().map(|id| AccountId { platform, id }).collect()
    }

    /// Carries out `action` on its group's platform, through `via`'s gateway (the account
    /// that keeps the group; `None` when none is known, which only a platform with one
    /// gateway can serve).
    pub async fn execute(&self, via: Option<AccountId>, action: &Action) -> Result<Delivery, GatewayError> {
        if let Some(demo) = &self.demo {
            return demo.execute(action).await;
        }
        let group = action.group();
        let account = via.filter(|a| a.platform == group.platform).map(|a| a.id);
        match group.platform {
            Platform::Qq => self.onebot_for(group, account)?.execute(action).await,
            Platform::Telegram => self.telegram_for(group, account)?.execute(action).await,
        }
    }

    fn onebot_for(&self, group: GroupId, account: Option<i64>) -> Result<&Arc<onebot::OneBotClient>, GatewayError> {
        match self.onebot.pick(account) {
            Some(client) => Ok(client),
            None if self.onebot.is_empty() => Err(GatewayError::NotConfigured(Platform::Qq)),
            None => Err(GatewayError::Unrouted {
                group,
                account: account.map(AccountId::qq),
            }),
        }
    }

    fn telegram_for(
        &self,
        group: GroupId,
        account: Option<i64>,
    ) -> Result<&Arc<telegram::TelegramClient>, GatewayError> {
        match self.telegram.pick(account) {
            Some(client) => Ok(client),
            None if self.telegram.is_empty() => Err(GatewayError::NotConfigured(Platform::Telegram)),
            None => Err(GatewayError::Unrouted {
                group,
                account: account.map(AccountId::telegram),
            }),
        }
    }

    /// The platforms whose gateway is configured (the demo's printer counts as QQ).
    #[must_use]
    pub fn platforms(&self) -> Vec<Platform> {
        let mut out = Vec::new();
        if !self.onebot.is_empty() || self.demo.is_some() {
            out.push(Platform::Qq);
        }
        if !self.telegram.is_empty() {
            out.push(Platform::Telegram);
        }
        out
    }

    /// Asks every gateway of `platform` a harmless question (OneBot `get_status`, Telegram
    /// `getMe`) to see whether it answers; bounded by each client's timeout. The first
    /// failure is the answer (its text names the gateway's URL).
    pub async fn probe(&self, platform: Platform) -> Result<(), GatewayError> {
        if self.demo.is_some() {
            return Ok(());
        }
        match platform {
            Platform::Qq => {
                if self.onebot.is_empty() {
                    return Err(GatewayError::NotConfigured(Platform::Qq));
                }
                for client in self.onebot.all() {
                    client.call("get_status", &serde_json::json!({})).await?;
                }
            }
            Platform::Telegram => {
                if self.telegram.is_empty() {
                    return Err(GatewayError::NotConfigured(Platform::Telegram));
                }
                for client in self.telegram.all() {
                    client.get_me().await?;
                }
            }
        }
        Ok(())
    }

    /// Asks the platform about a group (its name and member count), through `via`: a
    /// read-only query made directly, not through the outbox, and never on the webhook path
    /// (`/stats` and the stats page make it from their own task).
    pub async fn group_info(&self, group: GroupId, via: Option<AccountId>) -> Result<GroupInfo, GatewayError> {
        let account = via.filter(|a| a.platform == group.platform).map(|a| a.id);
        match group.platform {
            Platform::Qq => self.onebot_for(group, account)?.group_info(group.id).await,
            Platform::Telegram => self.telegram_for(group, account)?.group_info(group.id).await,
        }
    }

    /// The role `account` holds in `group`, asked of that account's own gateway (OneBot
    /// `get_group_member_info` of itself, Telegram `getChatAdministrators`).
    pub async fn own_role(&self, account: AccountId, group: GroupId) -> Result<Role, GatewayError> {
        match group.platform {
            Platform::Qq => {
                self.onebot_for(group, Some(account.id))?
                    .member_role(group.id, account.id)
                    .await
            }
            Platform::Telegram => {
                let admins = self
                    .telegram_for(group, Some(account.id))?
                    .chat_administrators(group.id)
                    .await?;
                Ok(admins
                    .iter()
                    .find(|m| m.user.id == account.id)
                    .map_or(Role::Member, |m| {
                        if m.status == "creator" {
                            Role::Owner
                        } else {
                            Role::Admin
                        }
                    }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Capabilities;

    #[test]
    fn an_account_is_served_by_its_own_client_and_never_by_another_listed_one() {
        let listed = Clients {
            by_account: BTreeMap::from([(1, Arc::new("one")), (2, Arc::new("two"))]),
            any: None,
        };
        assert_eq!(listed.pick(Some(2)).map(|c| **c), Some("two"));
        assert_eq!(listed.pick(Some(3)).map(|c| **c), None, "not listed: no guess");
        assert_eq!(listed.pick(None).map(|c| **c), None, "unknown: no guess");
        let single = Clients {
            by_account: BTreeMap::from([(1, Arc::new("one"))]),
            any: None,
        };
        assert_eq!(single.pick(Some(9)).map(|c| **c), Some("one"), "the only gateway");
        let any = Clients::<&str> {
            by_account: BTreeMap::new(),
            any: Some(Arc::new("any")),
        };
        assert_eq!(any.pick(Some(9)).map(|c| **c), Some("any"));
        assert_eq!(any.pick(None).map(|c| **c), Some("any"));
    }

    #[test]
    fn telegram_basic_groups_cannot_mute() {
        for (group, mute) in [
            (GroupId::telegram(-1_001_876_543_210), true),
            (GroupId::telegram(-4_012_345_678), false),
            (GroupId::qq(726_300_112), true),
        ] {
            assert_eq!(Capabilities::of(group).mute, mute, "{group}");
        }
        assert_eq!(
            Capabilities::of_platform(Platform::Telegram).max_mute_secs,
            366 * 86_400
        );
        assert_eq!(
            Capabilities::of_platform(Platform::Telegram).sends_per_minute_per_group,
            20
        );
        assert_eq!(Capabilities::of_platform(Platform::Telegram).sends_per_second_total, 30);
    }
}
