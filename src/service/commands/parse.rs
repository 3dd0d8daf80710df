//! Reading a command from a group message.
//!
//! A command is a message whose text starts with `/` (or the full-width `／` Chinese input
//! methods produce) followed by a name from [`NAMES`]. The member it concerns is the first
//! real mention in the message (`@user`), or else a user id written as the first argument.
//! A Telegram-style `/warn@botname` is the same command. A name that is not in the table is
//! not a command, so ordinary messages starting with `/` pass through untouched. `/spam` and
//! `/notspam` concern the message they reply to (the platform's quote).

use crate::domain::duration::HumanDuration;
use crate::domain::event::{GroupMessage, Segment, UserRef};
use crate::domain::locale::Locale;
pub use crate::policy::calendar::TimeProblem;

/// A command and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/warn @user [reason]`: a manual strike that walks the ladder.
    Warn {
        /// The member.
        target: i64,
        /// Why (may be empty).
        reason: String,
    },
    /// `/strikes @user`: the member's active strikes.
    Strikes {
        /// The member.
        target: i64,
    },
    /// `/pardon @user [all]`: takes back the newest strike, or all.
    Pardon {
        /// The member.
        target: i64,
        /// Every strike.
        all: bool,
    },
    /// `/mute @user 10m`.
    Mute {
        /// The member.
        target: i64,
        /// For how long.
        duration: HumanDuration,
    },
    /// `/unmute @user`.
    Unmute {
        /// The member.
        target: i64,
    },
    /// `/kick @user`.
    Kick {
        /// The member.
        target: i64,
    },
    /// `/reload`: re-reads the rules folder.
    Reload,
    /// `/rules`: posts the group rules (anyone may ask).
    Rules,
    /// `/why <case>`: explains an audit case.
    Why {
        /// The case number.
        case: u64,
    },
    /// `/inactive [7d]`: lists members silent that long (潜水).
    Inactive {
        /// How long (7 days when not given).
        silent_for: HumanDuration,
    },
    /// `/stats`: the group's health over the last week.
    Stats,
    /// `/schedule …`: the group's scheduled posts.
    Schedule(ScheduleCommand),
    /// `/spam` as a reply to a member's message: recall it, a strike, remember it as spam.
    Spam {
        /// The message replied to.
        message_id: i64,
    },
    /// `/notspam` as a reply to a member's message or to the bot's warning, or
    /// `/notspam <case>`: undo the case's strike, remember the message as ordinary.
    NotSpam(NotSpamTarget),
    /// `/review`: messages of trusted members the model alone would have acted on.
    Review,
    /// `/签到` (`/打卡`, `/checkin`): the day's check-in (anyone).
    CheckIn,
    /// `/积分 [@user]` (`/points`): a member's points and rank; another member's for admins.
    Points {
        /// The member asked about (`None`: the sender).
        target: Option<i64>,
    },
    /// `/加分 @user N 原因` / `/扣分 @user N 原因`: an audited change of points.
    AdjustPoints {
        /// The member.
        target: i64,
        /// The change (negative for `/扣分`).
        delta: i64,
        /// Why (may be empty).
        reason: String,
    },
    /// `/排行 [月]` (`/top [month]`): this week's (or month's) leaderboard (anyone).
    Top {
        /// The month's board instead of the week's.
        month: bool,
    },
    /// `/退出积分` (`/optout`): off the boards and alerts, or back on (anyone).
    OptOut,
    /// `/问答 …` (`/faq`): the group's keyword answers.
    Faq(FaqCommand),
    /// `/gban @user [reason]` (`/全局拉黑`): bans the member in every group of the instance
    /// (super users only).
    GlobalBan {
        /// The member.
        target: BanTarget,
        /// Why (may be empty).
        reason: String,
    },
    /// `/ungban <id>` (`/解除拉黑`): lifts an instance-wide ban (super users only).
    GlobalUnban {
        /// The member.
        user: UserRef,
    },
}

/// Whom a `/gban` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanTarget {
    /// A member of this group, by mention.
    Mentioned(i64),
    /// A member by id (`qq:123`, `tg:456`; a bare number is of the group's platform), who
    /// may or may not be in this group.
    Id(UserRef),
    /// The author of the message it replies to.
    Reply(i64),
}

/// What a `/notspam` (`/误判`) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotSpamTarget {
    /// The message it replies to: a member's message, or the bot's warning about one.
    Reply(i64),
    /// An audit case, by number.
    Case(u64),
}

/// What `/问答` (`/faq`) is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaqCommand {
    /// `/问答 add 关键词 回答`.
    Add {
        /// The keyword (one word).
        keyword: String,
        /// The answer (line breaks kept).
        answer: String,
    },
    /// `/问答 list` (or a bare `/问答`).
    List,
    /// `/问答 del <number>`.
    Del {
        /// Its number, as `list` shows it (`#3`).
        number: u64,
    },
}

/// What `/schedule` (`/定时`) is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleCommand {
    /// `/schedule add 07:30 <text>`: post `text` every day at `at` (`[schedule] timezone`).
    Add {
        /// The daily time, `HH:MM` as written.
        at: String,
        /// What to post (line breaks kept).
        text: String,
    },
    /// `/schedule list` (or a bare `/schedule`): this group's posts, file and admin ones.
    List,
    /// `/schedule del <number>`: removes a post added in the group.
    Del {
        /// Its number, as `list` shows it (`#3`).
        number: u64,
    },
}

/// The commands, for usage texts and the alias table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    /// `/warn`
    Warn,
    /// `/strikes`
    Strikes,
    /// `/pardon`
    Pardon,
    /// `/mute`
    Mute,
    /// `/unmute`
    Unmute,
    /// `/kick`
    Kick,
    /// `/reload`
    Reload,
    /// `/rules`
    Rules,
    /// `/why`
    Why,
    /// `/schedule`
    Schedule,
    /// `/inactive`
    Inactive,
    /// `/stats`
    Stats,
    /// `/spam`
    Spam,
    /// `/notspam`
    NotSpam,
    /// `/review`
    Review,
    /// `/签到`
    CheckIn,
    /// `/积分`
    Points,
    /// `/加分`
    AddPoints,
    /// `/扣分`
    TakePoints,
    /// `/排行`
    Top,
    /// `/退出积分`
    OptOut,
    /// `/问答`
    Faq,
    /// `/gban`
    GlobalBan,
    /// `/ungban`
    GlobalUnban,
}

/// Every command word and its aliases. Matching ignores ASCII case.
pub const NAMES: &[(&str, Name)] = &[
    ("warn", Name::Warn),
    ("警告", Name::Warn),
    ("strikes", Name::Strikes),
    ("记录", Name::Strikes),
    ("pardon", Name::Pardon),
    ("赦免", Name::Pardon),
    ("mute", Name::Mute),
    ("禁言", Name::Mute),
    ("unmute", Name::Unmute),
    ("解禁", Name::Unmute),
    ("kick", Name::Kick),
    ("踢出", Name::Kick),
    ("reload", Name::Reload),
    ("重载", Name::Reload),
    ("rules", Name::Rules),
    ("规则", Name::Rules),
    ("why", Name::Why),
    ("原因", Name::Why),
    ("schedule", Name::Schedule),
    ("定时", Name::Schedule),
    ("inactive", Name::Inactive),
    ("潜水", Name::Inactive),
    ("stats", Name::Stats),
    ("统计", Name::Stats),
    ("spam", Name::Spam),
    ("广告", Name::Spam),
    ("垃圾", Name::Spam),
    ("notspam", Name::NotSpam),
    ("误判", Name::NotSpam),
    ("review", Name::Review),
    ("复核", Name::Review),
    ("签到", Name::CheckIn),
    ("打卡", Name::CheckIn),
    ("checkin", Name::CheckIn),
    ("积分", Name::Points),
    ("points", Name::Points),
    ("加分", Name::AddPoints),
    ("addpoints", Name::AddPoints),
    ("扣分", Name::TakePoints),
    ("deductpoints", Name::TakePoints),
    ("排行", Name::Top),
    ("top", Name::Top),
    ("退出积分", Name::OptOut),
    ("optout", Name::OptOut),
    ("问答", Name::Faq),
    ("faq", Name::Faq),
    ("gban", Name::GlobalBan),
    ("全局拉黑", Name::GlobalBan),
    ("ungban", Name::GlobalUnban),
    ("解除拉黑", Name::GlobalUnban),
];

/// The sub-commands of `/schedule` and their aliases.
const SCHEDULE_ADD: &[&str] = &["add", "添加"];
const SCHEDULE_LIST: &[&str] = &["list", "列表"];
const SCHEDULE_DEL: &[&str] = &["del", "delete", "rm", "删除"];

impl Name {
    /// How the command is written, for usage answers, in the admins' language (the Chinese
    /// text also names the Chinese alias).
    #[must_use]
    pub fn usage(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::ZhCn, Self::Warn) => "/warn @成员 [原因]  (/警告)",
            (Locale::ZhCn, Self::Strikes) => "/strikes @成员  (/记录)",
            (Locale::ZhCn, Self::Pardon) => "/pardon @成员 [all]  (/赦免 @成员 [全部])",
            (Locale::ZhCn, Self::Mute) => "/mute @成员 10m  (/禁言 @成员 10分钟)",
            (Locale::ZhCn, Self::Unmute) => "/unmute @成员  (/解禁)",
            (Locale::ZhCn, Self::Kick) => "/kick @成员  (/踢出)",
            (Locale::ZhCn, Self::Reload) => "/reload  (/重载)",
            (Locale::ZhCn, Self::Rules) => "/rules  (/规则)",
            (Locale::ZhCn, Self::Why) => "/why <案件号>  (/原因 12)",
            (Locale::ZhCn, Self::Schedule) => "/schedule add 07:30 <内容> | list | del <编号>  (/定时 添加|列表|删除)",
            (Locale::ZhCn, Self::Inactive) => "/inactive [7d]  (/潜水 7天)",
            (Locale::ZhCn, Self::Stats) => "/stats  (/统计)",
            (Locale::ZhCn, Self::Spam) => "回复一条消息：/spam  (/广告 /垃圾)",
            (Locale::ZhCn, Self::NotSpam) => "回复一条消息或警告：/notspam，或 /notspam <案件号>  (/误判)",
            (Locale::ZhCn, Self::Review) => "/review  (/复核)",
            (Locale::ZhCn, Self::CheckIn) => "/签到  (/打卡, /checkin)",
            (Locale::ZhCn, Self::Points) => "/积分 [@成员]  (/points)",
            (Locale::ZhCn, Self::AddPoints) => "/加分 @成员 10 [原因]  (/addpoints)",
            (Locale::ZhCn, Self::TakePoints) => "/扣分 @成员 10 [原因]  (/deductpoints)",
            (Locale::ZhCn, Self::Top) => "/排行 [月]  (/top [month])",
            (Locale::ZhCn, Self::OptOut) => "/退出积分  (/optout)",
            (Locale::ZhCn, Self::Faq) => "/问答 add 关键词 回答 | list | del <编号>  (/faq)",
            (Locale::ZhCn, Self::GlobalBan) => {
                "/gban @成员 [原因]，或 /gban qq:号码，或回复一条消息：/gban  (/全局拉黑)"
            }
            (Locale::ZhCn, Self::GlobalUnban) => "/ungban qq:号码  (/解除拉黑)",
            (Locale::En, Self::Warn) => "/warn @member [reason]",
            (Locale::En, Self::Strikes) => "/strikes @member",
            (Locale::En, Self::Pardon) => "/pardon @member [all]",
            (Locale::En, Self::Mute) => "/mute @member 10m",
            (Locale::En, Self::Unmute) => "/unmute @member",
            (Locale::En, Self::Kick) => "/kick @member",
            (Locale::En, Self::Reload) => "/reload",
            (Locale::En, Self::Rules) => "/rules",
            (Locale::En, Self::Why) => "/why <case number>",
            (Locale::En, Self::Schedule) => "/schedule add 07:30 <text> | list | del <number>",
            (Locale::En, Self::Inactive) => "/inactive [7d]",
            (Locale::En, Self::Stats) => "/stats",
            (Locale::En, Self::Spam) => "reply to a message with /spam",
            (Locale::En, Self::NotSpam) => {
                "reply to a message or to the warning with /notspam, or /notspam <case number>"
            }
            (Locale::En, Self::Review) => "/review",
            (Locale::En, Self::CheckIn) => "/checkin",
            (Locale::En, Self::Points) => "/points [@member]",
            (Locale::En, Self::AddPoints) => "/addpoints @member 10 [reason]",
            (Locale::En, Self::TakePoints) => "/deductpoints @member 10 [reason]",
            (Locale::En, Self::Top) => "/top [month]",
            (Locale::En, Self::OptOut) => "/optout",
            (Locale::En, Self::Faq) => "/faq add <keyword> <answer> | list | del <number>",
            (Locale::En, Self::GlobalBan) => "/gban @member [reason], /gban qq:<id>, or reply to a message with /gban",
            (Locale::En, Self::GlobalUnban) => "/ungban qq:<id>",
        }
    }
}

impl Name {
    /// The engagement commands (off with `[engagement] enabled = false`).
    #[must_use]
    pub fn is_engagement(self) -> bool {
        matches!(
            self,
            Self::CheckIn | Self::Points | Self::AddPoints | Self::TakePoints | Self::Top | Self::OptOut | Self::Faq
        )
    }
}

/// The sub-commands of `/问答` and their aliases.
const FAQ_ADD: &[&str] = &["add", "添加"];
const FAQ_LIST: &[&str] = &["list", "列表"];
const FAQ_DEL: &[&str] = &["del", "delete", "rm", "删除"];

/// `/inactive` without an argument lists members silent this long.
pub const DEFAULT_INACTIVE: HumanDuration = HumanDuration::from_secs(7 * 86_400);

/// What a message is, command-wise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An ordinary message.
    NotACommand,
    /// A well-formed command.
    Command(Command),
    /// A known command with missing or bad arguments.
    Usage(Name),
    /// A known command with an argument that is wrong in a way worth saying exactly.
    Invalid(Name, Problem),
}

/// What is wrong with a command's argument, beyond "see the usage".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Where the member should be, there is text that is neither a mention nor a user id
    /// (`@小明` typed by hand, which is not a real mention, or a misplaced reason).
    NotAMember(String),
    /// `/schedule add` with a time that is not `HH:MM` on a 24-hour clock.
    BadTime {
        /// The time as written.
        at: String,
        /// What is wrong with it.
        why: TimeProblem,
    },
}

impl Command {
    /// The command's name.
    #[must_use]
    pub fn name(&self) -> Name {
        match self {
            Self::Warn { .. } => Name::Warn,
            Self::Strikes { .. } => Name::Strikes,
            Self::Pardon { .. } => Name::Pardon,
            Self::Mute { .. } => Name::Mute,
            Self::Unmute { .. } => Name::Unmute,
            Self::Kick { .. } => Name::Kick,
            Self::Reload => Name::Reload,
            Self::Rules => Name::Rules,
            Self::Why { .. } => Name::Why,
            Self::Inactive { .. } => Name::Inactive,
            Self::Stats => Name::Stats,
            Self::Schedule(_) => Name::Schedule,
            Self::Spam { .. } => Name::Spam,
            Self::NotSpam(_) => Name::NotSpam,
            Self::Review => Name::Review,
            Self::CheckIn => Name::CheckIn,
            Self::Points { .. } => Name::Points,
            Self::AdjustPoints { delta, .. } if *delta < 0 => Name::TakePoints,
            Self::AdjustPoints { .. } => Name::AddPoints,
            Self::Top { .. } => Name::Top,
            Self::OptOut => Name::OptOut,
            Self::Faq(_) => Name::Faq,
            Self::GlobalBan { .. } => Name::GlobalBan,
            Self::GlobalUnban { .. } => Name::GlobalUnban,
        }
    }

    /// Commands anyone may run; the rest are for owners, admins and super users.
    #[must_use]
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Self::Rules | Self::CheckIn | Self::Points { target: None } | Self::Top { .. } | Self::OptOut
        )
    }
}

/// Reads `msg` as a command. `self_id` (the bot) is never taken as the target.
#[must_use]
pub fn parse(msg: &GroupMessage, self_id: i64) -> Parsed {
    let text = msg.text.trim_start();
    let Some(rest) = text.strip_prefix('/').or_else(|| text.strip_prefix('／')) else {
        return Parsed::NotACommand;
    };
    let (word, args) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, a)| (w, a.trim()));
    let raw_args = args;
    // `/warn@qunguan_bot` on Telegram.
    let word = word.split_once('@').map_or(word, |(w, _)| w);
    let Some(name) = NAMES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(word))
        .map(|(_, name)| *name)
    else {
        return Parsed::NotACommand;
    };
    let mut args: Vec<&str> = args.split_whitespace().collect();
    let no_args = args.is_empty();
    let mentioned = msg.mentions().into_iter().find(|&id| id != self_id);
    // `Err(None)`: no member given (usage); `Err(Some(word))`: `word` is not a member.
    let mut target = || -> Result<i64, Option<Problem>> {
        if let Some(id) = mentioned {
            return Ok(id);
        }
        let first = *args.first().ok_or(None)?;
        let Ok(id) = first.trim_start_matches(['@', '＠']).parse::<i64>() else {
            return Err(Some(Problem::NotAMember(first.to_owned())));
        };
        args.remove(0);
        if id == self_id { Err(None) } else { Ok(id) }
    };
    let command: Result<Command, Option<Problem>> = match name {
        Name::Warn => target().map(|target| Command::Warn {
            target,
            reason: args.join(" "),
        }),
        Name::Strikes => target().map(|target| Command::Strikes { target }),
        Name::Pardon => target().map(|target| Command::Pardon {
            target,
            all: args
                .iter()
                .any(|a| a.eq_ignore_ascii_case("all") || *a == "全部" || *a == "所有"),
        }),
        Name::Mute => target().and_then(|target| {
            let duration = args.iter().find_map(|a| a.parse::<HumanDuration>().ok()).ok_or(None)?;
            if duration.as_secs() == 0 {
                return Err(None);
            }
            Ok(Command::Mute { target, duration })
        }),
        Name::Unmute => target().map(|target| Command::Unmute { target }),
        Name::Kick => target().map(|target| Command::Kick { target }),
        Name::Reload => Ok(Command::Reload),
        Name::Rules => Ok(Command::Rules),
        Name::Stats => Ok(Command::Stats),
        Name::Why => args
            .first()
            .and_then(|a| a.trim_start_matches(['#', '＃']).parse().ok())
            .map(|case| Command::Why { case })
            .ok_or(None),
        Name::Schedule => parse_schedule(raw_args).map(Command::Schedule),
        Name::Spam => replied(msg).map(|message_id| Command::Spam { message_id }).ok_or(None),
        Name::NotSpam => match args.first() {
            Some(a) => a
                .trim_start_matches(['#', '＃'])
                .parse()
                .ok()
                .map(|case| Command::NotSpam(NotSpamTarget::Case(case))),
            None => replied(msg).map(|id| Command::NotSpam(NotSpamTarget::Reply(id))),
        }
        .ok_or(None),
        Name::Review => Ok(Command::Review),
        Name::CheckIn => Ok(Command::CheckIn),
        Name::OptOut => Ok(Command::OptOut),
        Name::Points => {
            if mentioned.is_none() && no_args {
                Ok(Command::Points { target: None })
            } else {
                target().map(|target| Command::Points { target: Some(target) })
            }
        }
        Name::AddPoints | Name::TakePoints => target().and_then(|target| {
            let amount: i64 = args
                .first()
                .and_then(|a| a.trim_start_matches('+').parse::<u32>().ok())
                .filter(|n| *n > 0)
                .ok_or(None)?
                .into();
            Ok(Command::AdjustPoints {
                target,
                delta: if name == Name::TakePoints { -amount } else { amount },
                reason: args[1..].join(" "),
            })
        }),
        Name::Top => match args.first().copied() {
            None | Some("周" | "本周" | "week") => Ok(Command::Top { month: false }),
            Some(a) if a.eq_ignore_ascii_case("week") => Ok(Command::Top { month: false }),
            Some("月" | "本月" | "月榜") => Ok(Command::Top { month: true }),
            Some(a) if a.eq_ignore_ascii_case("month") => Ok(Command::Top { month: true }),
            Some(_) => Err(None),
        },
        Name::Faq => parse_faq(raw_args).map(Command::Faq),
        Name::GlobalBan => {
            let by_id = mentioned
                .is_none()
                .then(|| args.first().and_then(|a| user_id(a, msg)))
                .flatten();
            if by_id.is_some() {
                args.remove(0);
            }
            let target = match (mentioned, by_id, replied(msg)) {
                (Some(id), ..) => Ok(BanTarget::Mentioned(id)),
                (None, Some(user), _) => Ok(BanTarget::Id(user)),
                (None, None, Some(message_id)) => Ok(BanTarget::Reply(message_id)),
                (None, None, None) => Err(args.first().map(|a| Problem::NotAMember((*a).to_owned()))),
            };
            target.and_then(|target| match target {
                BanTarget::Id(user) if user.platform == msg.group.platform && user.id == self_id => Err(None),
                target => Ok(Command::GlobalBan {
                    target,
                    reason: args.join(" "),
                }),
            })
        }
        Name::GlobalUnban => match (mentioned, args.first()) {
            (Some(id), _) => Ok(Command::GlobalUnban {
                user: UserRef {
                    platform: msg.group.platform,
                    id,
                },
            }),
            (None, Some(a)) => user_id(a, msg)
                .map(|user| Command::GlobalUnban { user })
                .ok_or_else(|| Some(Problem::NotAMember((*a).to_owned()))),
            (None, None) => Err(None),
        },
        Name::Inactive => match args.first() {
            None => Ok(Command::Inactive {
                silent_for: DEFAULT_INACTIVE,
            }),
            Some(a) => a
                .parse::<HumanDuration>()
                .ok()
                .filter(|d| d.as_secs() > 0)
                .map(|silent_for| Command::Inactive { silent_for })
                .ok_or(None),
        },
    };
    match command {
        Ok(command) => Parsed::Command(command),
        Err(None) => Parsed::Usage(name),
        Err(Some(problem)) => Parsed::Invalid(name, problem),
    }
}

/// A user written as an argument: `qq:123`, `tg:456`, or a bare number (`@123` too), which is
/// a member of the platform `msg` was sent on.
fn user_id(word: &str, msg: &GroupMessage) -> Option<UserRef> {
    let word = word.trim_start_matches(['@', '＠']);
    if word.contains(':') {
        return word.parse().ok();
    }
    word.parse().ok().map(|id| UserRef {
        platform: msg.group.platform,
        id,
    })
}

/// The message `msg` replies to (quotes), if any.
fn replied(msg: &GroupMessage) -> Option<i64> {
    msg.segments.iter().find_map(|s| match s {
        Segment::Reply { message_id } => Some(*message_id),
        _ => None,
    })
}

/// Reads `/问答`'s arguments: the keyword of `add` is its first word, the answer everything
/// after it, as written.
fn parse_faq(args: &str) -> Result<FaqCommand, Option<Problem>> {
    let (sub, rest) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(s, r)| (s, r.trim()));
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(sub));
    if sub.is_empty() || is(FAQ_LIST) {
        return if rest.is_empty() {
            Ok(FaqCommand::List)
        } else {
            Err(None)
        };
    }
    if is(FAQ_ADD) {
        let (keyword, answer) = rest.split_once(char::is_whitespace).ok_or(None)?;
        let answer = answer.trim();
        if keyword.is_empty() || answer.is_empty() {
            return Err(None);
        }
        return Ok(FaqCommand::Add {
            keyword: keyword.to_owned(),
            answer: answer.to_owned(),
        });
    }
    if is(FAQ_DEL) {
        let number = rest.trim_start_matches(['#', '＃']).parse().map_err(|_| None)?;
        return Ok(FaqCommand::Del { number });
    }
    Err(None)
}

/// Reads `/schedule`'s arguments. The text of `add` is everything after the time, as
/// written (line breaks included), so a multi-line 早报 survives. `Err(None)` asks for the
/// usage; a time that is not one is a [`Problem::BadTime`].
fn parse_schedule(args: &str) -> Result<ScheduleCommand, Option<Problem>> {
    let (sub, rest) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(s, r)| (s, r.trim()));
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(sub));
    if sub.is_empty() || is(SCHEDULE_LIST) {
        return if rest.is_empty() {
            Ok(ScheduleCommand::List)
        } else {
            Err(None)
        };
    }
    if is(SCHEDULE_ADD) {
        let (at, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let (at, text) = (at.replace('：', ":"), text.trim());
        if at.is_empty() {
            return Err(None);
        }
        if let Some(why) = TimeProblem::of(&at) {
            return Err(Some(Problem::BadTime { at, why }));
        }
        crate::policy::calendar::Recurrence::daily(&at, "UTC").map_err(|_| None)?;
        if text.is_empty() {
            return Err(None);
        }
        return Ok(ScheduleCommand::Add {
            at,
            text: text.to_owned(),
        });
    }
    if is(SCHEDULE_DEL) {
        let number = rest.trim_start_matches(['#', '＃']).parse().map_err(|_| None)?;
        return Ok(ScheduleCommand::Del { number });
    }
    Err(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{GroupId, Role, Segment, Sender};

    const BOT: i64 = 999;

    /// A message from segments written as `text` with `@123` for mentions.
    fn message(spec: &str) -> GroupMessage {
        let mut segments = Vec::new();
        for (i, part) in spec.split('§').enumerate() {
            if i % 2 == 1 {
                segments.push(Segment::Mention {
                    user_id: part.parse().ok(),
                });
            } else if !part.is_empty() {
                segments.push(Segment::Text { text: part.into() });
            }
        }
        let text = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        GroupMessage {
            group: GroupId::qq(1),
            message_id: 1,
            sender: Sender {
                user_id: 5,
                name: "admin".into(),
                role: Role::Admin,
            },
            text,
            segments,
            time: 0,
            edited: false,
        }
    }

    fn cmd(c: Command) -> Parsed {
        Parsed::Command(c)
    }

    #[test]
    fn commands_and_aliases_parse_as_specified() {
        let ten_minutes = HumanDuration::from_secs(600);
        // `§id§` is a real mention of `id`.
        let cases: &[(&str, Parsed)] = &[
            (
                "/warn §42§ 刷屏 太多",
                cmd(Command::Warn {
                    target: 42,
                    reason: "刷屏 太多".into(),
                }),
            ),
            (
                "/警告 §42§",
                cmd(Command::Warn {
                    target: 42,
                    reason: String::new(),
                }),
            ),
            (
                "/WARN §42§ spam",
                cmd(Command::Warn {
                    target: 42,
                    reason: "spam".into(),
                }),
            ),
            ("/strikes §42§", cmd(Command::Strikes { target: 42 })),
            ("/记录 §42§", cmd(Command::Strikes { target: 42 })),
            ("/pardon §42§", cmd(Command::Pardon { target: 42, all: false })),
            ("/pardon §42§ all", cmd(Command::Pardon { target: 42, all: true })),
            ("/赦免 §42§ 全部", cmd(Command::Pardon { target: 42, all: true })),
            (
                "/mute §42§ 10m",
                cmd(Command::Mute {
                    target: 42,
                    duration: ten_minutes,
                }),
            ),
            (
                "/禁言 §42§ 10分钟",
                cmd(Command::Mute {
                    target: 42,
                    duration: ten_minutes,
                }),
            ),
            ("/unmute §42§", cmd(Command::Unmute { target: 42 })),
            ("/解禁 §42§", cmd(Command::Unmute { target: 42 })),
            ("/kick §42§", cmd(Command::Kick { target: 42 })),
            ("/踢出 §42§", cmd(Command::Kick { target: 42 })),
            ("/reload", cmd(Command::Reload)),
            ("/重载", cmd(Command::Reload)),
            ("/rules", cmd(Command::Rules)),
            ("/规则", cmd(Command::Rules)),
            ("/stats", cmd(Command::Stats)),
            ("/统计", cmd(Command::Stats)),
            ("/why 12", cmd(Command::Why { case: 12 })),
            ("/why #12", cmd(Command::Why { case: 12 })),
            ("/原因 ＃7", cmd(Command::Why { case: 7 })),
            (
                "/schedule add 07:30 早上好！\n今日早报",
                cmd(Command::Schedule(ScheduleCommand::Add {
                    at: "07:30".into(),
                    text: "早上好！\n今日早报".into(),
                })),
            ),
            (
                "/定时 添加 21：00 晚安",
                cmd(Command::Schedule(ScheduleCommand::Add {
                    at: "21:00".into(),
                    text: "晚安".into(),
                })),
            ),
            ("/schedule", cmd(Command::Schedule(ScheduleCommand::List))),
            ("/schedule list", cmd(Command::Schedule(ScheduleCommand::List))),
            ("/定时 列表", cmd(Command::Schedule(ScheduleCommand::List))),
            (
                "/schedule del 3",
                cmd(Command::Schedule(ScheduleCommand::Del { number: 3 })),
            ),
            (
                "/定时 删除 #4",
                cmd(Command::Schedule(ScheduleCommand::Del { number: 4 })),
            ),
            (
                "/inactive",
                cmd(Command::Inactive {
                    silent_for: DEFAULT_INACTIVE,
                }),
            ),
            (
                "/潜水 30天",
                cmd(Command::Inactive {
                    silent_for: HumanDuration::from_secs(30 * 86_400),
                }),
            ),
            // A user id instead of a mention; full-width slash; Telegram's /cmd@bot.
            (
                "/mute 12345 1h",
                cmd(Command::Mute {
                    target: 12_345,
                    duration: HumanDuration::from_secs(3600),
                }),
            ),
            ("／kick @12345", cmd(Command::Kick { target: 12_345 })),
            ("/kick@qunguan_bot §42§", cmd(Command::Kick { target: 42 })),
            ("/签到", cmd(Command::CheckIn)),
            ("/打卡", cmd(Command::CheckIn)),
            ("/checkin", cmd(Command::CheckIn)),
            ("/积分", cmd(Command::Points { target: None })),
            ("/points §42§", cmd(Command::Points { target: Some(42) })),
            (
                "/加分 §42§ 10 分享教程",
                cmd(Command::AdjustPoints {
                    target: 42,
                    delta: 10,
                    reason: "分享教程".into(),
                }),
            ),
            (
                "/扣分 §42§ 5",
                cmd(Command::AdjustPoints {
                    target: 42,
                    delta: -5,
                    reason: String::new(),
                }),
            ),
            ("/排行", cmd(Command::Top { month: false })),
            ("/排行 月", cmd(Command::Top { month: true })),
            ("/top month", cmd(Command::Top { month: true })),
            ("/退出积分", cmd(Command::OptOut)),
            ("/optout", cmd(Command::OptOut)),
            (
                "/问答 add 怎么进群 先看群公告\n再找管理员",
                cmd(Command::Faq(FaqCommand::Add {
                    keyword: "怎么进群".into(),
                    answer: "先看群公告\n再找管理员".into(),
                })),
            ),
            ("/问答", cmd(Command::Faq(FaqCommand::List))),
            ("/faq del #2", cmd(Command::Faq(FaqCommand::Del { number: 2 }))),
            // The bot mentioned first is not the target.
            ("§999§ /kick §42§", cmd(Command::Kick { target: 42 })),
        ];
        for (spec, expected) in cases {
            assert_eq!(&parse(&message(spec), BOT), expected, "{spec}");
        }
    }

    #[test]
    fn gban_takes_a_mention_an_id_of_either_platform_or_a_reply() {
        let user = |s: &str| s.parse::<UserRef>().expect("user");
        let gban = |target, reason: &str| {
            cmd(Command::GlobalBan {
                target,
                reason: reason.into(),
            })
        };
        assert_eq!(
            parse(&message("/gban §42§ 广告 号"), BOT),
            gban(BanTarget::Mentioned(42), "广告 号")
        );
        assert_eq!(
            parse(&message("/全局拉黑 42"), BOT),
            gban(BanTarget::Id(user("qq:42")), "")
        );
        assert_eq!(
            parse(&message("/gban tg:-7 bot"), BOT),
            gban(BanTarget::Id(user("tg:-7")), "bot")
        );
        let mut reply = message("/gban 刷屏");
        reply.segments.insert(0, Segment::Reply { message_id: 55 });
        assert_eq!(parse(&reply, BOT), gban(BanTarget::Reply(55), "刷屏"));
        assert_eq!(parse(&message("/gban"), BOT), Parsed::Usage(Name::GlobalBan));
        assert_eq!(
            parse(&message("/gban 小明"), BOT),
            Parsed::Invalid(Name::GlobalBan, Problem::NotAMember("小明".into()))
        );
        assert_eq!(
            parse(&message(&format!("/gban {BOT}")), BOT),
            Parsed::Usage(Name::GlobalBan)
        );
        assert_eq!(
            parse(&message("/解除拉黑 qq:42"), BOT),
            cmd(Command::GlobalUnban { user: user("qq:42") })
        );
        assert_eq!(parse(&message("/ungban"), BOT), Parsed::Usage(Name::GlobalUnban));
        assert!(
            !Command::GlobalBan {
                target: BanTarget::Reply(1),
                reason: String::new()
            }
            .is_public()
        );
    }

    #[test]
    fn spam_and_notspam_take_the_message_they_reply_to() {
        let reply = |text: &str, to: i64| {
            let mut m = message(text);
            m.segments.insert(0, Segment::Reply { message_id: to });
            m
        };
        for alias in ["/spam", "/广告", "/垃圾", "/SPAM", "/spam@qunguan_bot"] {
            assert_eq!(
                parse(&reply(alias, -77), BOT),
                cmd(Command::Spam { message_id: -77 }),
                "{alias}"
            );
        }
        // QQ puts a mention of the author beside the quote; it changes nothing.
        let mut quoted = reply(" /spam", 55);
        quoted.segments.insert(1, Segment::Mention { user_id: Some(42) });
        assert_eq!(parse(&quoted, BOT), cmd(Command::Spam { message_id: 55 }));
        assert_eq!(
            parse(&reply("/误判", 9), BOT),
            cmd(Command::NotSpam(NotSpamTarget::Reply(9)))
        );
        assert_eq!(
            parse(&message("/notspam #12"), BOT),
            cmd(Command::NotSpam(NotSpamTarget::Case(12)))
        );
        assert_eq!(
            parse(&reply("/notspam 3", 9), BOT),
            cmd(Command::NotSpam(NotSpamTarget::Case(3))),
            "a case number wins over the quote"
        );
        assert_eq!(parse(&message("/review"), BOT), cmd(Command::Review));
        assert_eq!(parse(&message("/复核"), BOT), cmd(Command::Review));
        assert_eq!(parse(&message("/spam"), BOT), Parsed::Usage(Name::Spam), "no quote");
        assert_eq!(parse(&message("/notspam"), BOT), Parsed::Usage(Name::NotSpam));
        assert_eq!(parse(&message("/notspam abc"), BOT), Parsed::Usage(Name::NotSpam));
    }

    #[test]
    fn missing_arguments_ask_for_usage() {
        for (spec, name) in [
            ("/warn", Name::Warn),
            ("/mute §42§", Name::Mute),
            ("/mute §42§ soon", Name::Mute),
            ("/mute §42§ 0s", Name::Mute),
            ("/why", Name::Why),
            ("/why abc", Name::Why),
            ("/kick §999§", Name::Kick),
            ("/schedule add 07:30", Name::Schedule),
            ("/schedule add", Name::Schedule),
            ("/schedule del", Name::Schedule),
            ("/schedule del morning", Name::Schedule),
            ("/schedule list 2", Name::Schedule),
            ("/schedule frobnicate", Name::Schedule),
            ("/inactive soon", Name::Inactive),
            ("/潜水 0s", Name::Inactive),
            ("/加分 §42§", Name::AddPoints),
            ("/扣分 §42§ 0", Name::TakePoints),
            ("/排行 年", Name::Top),
            ("/问答 add 关键词", Name::Faq),
        ] {
            assert_eq!(parse(&message(spec), BOT), Parsed::Usage(name), "{spec}");
        }
    }

    #[test]
    fn a_member_that_is_not_one_and_a_time_that_is_not_one_are_named() {
        let not_a_member = |word: &str| Problem::NotAMember(word.to_owned());
        let bad_time = |at: &str, why| Problem::BadTime { at: at.to_owned(), why };
        for (spec, name, problem) in [
            ("/mute @unknown 10m", Name::Mute, not_a_member("@unknown")),
            ("/warn nobody", Name::Warn, not_a_member("nobody")),
            ("/kick @小明", Name::Kick, not_a_member("@小明")),
            (
                "/schedule add 25:00 x",
                Name::Schedule,
                bad_time("25:00", TimeProblem::Hour(25)),
            ),
            (
                "/schedule add 07:75 x",
                Name::Schedule,
                bad_time("07:75", TimeProblem::Minute(75)),
            ),
            (
                "/定时 添加 7点半 早安",
                Name::Schedule,
                bad_time("7点半", TimeProblem::Format),
            ),
            (
                "/schedule add 0730 x",
                Name::Schedule,
                bad_time("0730", TimeProblem::Format),
            ),
        ] {
            assert_eq!(parse(&message(spec), BOT), Parsed::Invalid(name, problem), "{spec}");
        }
        // A real mention wins over text before it: this warns 42, for "刷屏".
        assert_eq!(
            parse(&message("/warn 刷屏 §42§"), BOT),
            cmd(Command::Warn {
                target: 42,
                reason: "刷屏".into()
            })
        );
        assert_eq!(TimeProblem::of("7:05"), None);
        assert_eq!(TimeProblem::of("23:59"), None);
    }

    #[test]
    fn other_text_is_not_a_command() {
        for spec in ["hello", "/", "/unknown §42§", "a /warn §42§", "//warn", "/warning §42§"] {
            assert_eq!(parse(&message(spec), BOT), Parsed::NotACommand, "{spec}");
        }
    }
}
