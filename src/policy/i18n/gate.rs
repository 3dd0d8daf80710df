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
