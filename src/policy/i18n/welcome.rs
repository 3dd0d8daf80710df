//! Greeting new members and answering join requests: the built-in welcome, the name list of
//! a batched welcome, the default reason of a rejected request.

use crate::domain::locale::Locale;

/// The built-in welcome template.
#[must_use]
pub fn default_welcome_template(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "{at} 欢迎加入本群！请先阅读群规：\n{rules}",
        Locale::En => "{at} Welcome! Please read the group rules first:\n{rules}",
    }
}

/// Joins the names of a batched welcome's members (`{name}`).
#[must_use]
pub fn name_list(locale: Locale, names: &[&str]) -> String {
    match locale {
        Locale::ZhCn => names.join("、"),
        Locale::En => names.join(", "),
    }
}

/// The reason shown to an applicant whose join request was rejected for blocked words, when
/// `reject_reason` is not configured.
#[must_use]
pub fn default_reject_reason(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "申请内容包含违规内容",
        Locale::En => "the request contains blocked content",
    }
}
