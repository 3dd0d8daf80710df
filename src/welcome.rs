//! Welcoming new members with the group rules.

use crate::action::Action;
use crate::config::Settings;
use crate::event::MemberJoined;
use crate::i18n;

/// The greeting for a member who joined: the configured template (or the built-in one of the
/// configured locale) with `{at}` mentioning them and `{rules}` the group rules text.
#[must_use]
pub fn welcome_action(settings: &Settings, group_rules: &str, joined: &MemberJoined) -> Action {
    let locale = settings.messages.locale;
    let template = if settings.welcome.template.is_empty() {
        i18n::default_welcome_template(locale)
    } else {
        settings.welcome.template.as_str()
    };
    let name = joined.name.clone().unwrap_or_default();
    let group = joined.group.to_string();
    let message = i18n::render(
        template,
        Some((joined.user_id, &name)),
        &[("name", &name), ("rules", group_rules), ("group", &group)],
    );
    Action::Send {
        group: joined.group,
        message,
        reply_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Part;
    use crate::event::GroupId;

    #[test]
    fn the_welcome_mentions_the_member_and_carries_the_rules() {
        let joined = MemberJoined {
            group: GroupId::qq(5),
            user_id: 42,
            name: None,
            time: 0,
        };
        let Action::Send { message, group, .. } = welcome_action(&Settings::default(), "1. 不许打广告", &joined)
        else {
            panic!("a welcome is a message")
        };
        assert_eq!(group, GroupId::qq(5));
        assert!(matches!(message.parts[0], Part::Mention { user_id: 42, .. }));
        assert!(message.plain_text().contains("1. 不许打广告"));
    }
}
