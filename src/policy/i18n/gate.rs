//! The gate at the door (入群验证): the question posted to a newcomer.

use crate::domain::locale::Locale;

/// The built-in prompt: `{at}` mentions the newcomer, `{question}` is the question,
/// `{timeout}` how long they have.
#[must_use]
pub fn default_gate_prompt(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => {
            "{at} 欢迎！为确认你不是机器人，请在 {timeout} 内在群里直接回复答案：\n{question}\n超时未答对将被移出本群。"
        }
        Locale::En => {
            "{at} Welcome! To show you are not a bot, reply in the group within {timeout} with the answer to:\n{question}\nMembers who do not answer in time are removed."
        }
    }
}

/// The built-in prompt to a newcomer muted on QQ, who cannot post in the group and answers
/// by private message to the bot instead: `{at}`, `{question}`, `{timeout}` as above, `{bot}`
/// the bot's QQ number (a temporary session opens from the group's member list, or from the
/// bot's name on this message).
#[must_use]
pub fn default_gate_private_prompt(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => {
            "{at} 欢迎！为确认你不是机器人，请在 {timeout} 内私聊本机器人（QQ {bot}，点这条消息的发送者即可发起临时会话）回复答案：\n{question}\n你在答对前处于禁言中；超时未答对将被移出本群。"
        }
        Locale::En => {
            "{at} Welcome! To show you are not a bot, send the answer within {timeout} as a private message to this bot (QQ {bot}; tap the sender of this message to start a temporary chat):\n{question}\nYou are muted until you answer; members who do not answer in time are removed."
        }
    }
}

/// The built-in prompt with a button (Telegram): `{at}`, `{timeout}` as above.
#[must_use]
pub fn default_gate_button_prompt(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "{at} 欢迎！请在 {timeout} 内点击下方按钮，证明你不是机器人。\n超时未点击将被移出本群。",
        Locale::En => {
            "{at} Welcome! Press the button below within {timeout} to show you are not a bot.\nMembers who do not press it in time are removed."
        }
    }
}

/// The label of the gate's button.
#[must_use]
pub fn gate_button(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "我不是机器人",
        Locale::En => "I am not a robot",
    }
}

/// The line added under a built-in prompt when wrong answers are limited (`[verify]
/// max_tries`): how many remove the newcomer.
#[must_use]
pub fn gate_tries_note(locale: Locale, max_tries: u32) -> String {
    match locale {
        Locale::ZhCn => format!("\n答错 {max_tries} 次也将被移出本群。"),
        Locale::En => format!("\n{max_tries} wrong answers remove you too."),
    }
}

/// The reason of the audit case of a newcomer removed at the gate: no right answer in time
/// (`tries = None`), or `tries` wrong answers.
#[must_use]
pub fn gate_removal_reason(locale: Locale, tries: Option<u32>) -> String {
    match (locale, tries) {
        (Locale::ZhCn, None) => "入群验证超时未答对".to_owned(),
        (Locale::ZhCn, Some(n)) => format!("入群验证答错 {n} 次"),
        (Locale::En, None) => "no right answer to the join question in time".to_owned(),
        (Locale::En, Some(n)) => format!("{n} wrong answers to the join question"),
    }
}

/// The built-in notice for a newcomer who pressed their own button and is let in.
#[must_use]
pub fn default_gate_button_passed(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "验证通过，欢迎入群！",
        Locale::En => "Verified. Welcome!",
    }
}

/// The built-in notice for a member who pressed a newcomer's button that is not theirs.
#[must_use]
pub fn default_gate_button_not_yours(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "这个按钮是给新成员验证用的，不是给你的。",
        Locale::En => "This button is for a newcomer's check, not for you.",
    }
}

/// The built-in notice for a press of a button whose gate has ended.
#[must_use]
pub fn default_gate_button_expired(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "这个验证已经结束了。",
        Locale::En => "This check has already ended.",
    }
}
