//! Member tiers (core, active, lurking, dormant) and the alert to admins when too many members
//! have gone quiet.
//!
//! A group's members are those the inactivity tracker knows (`store::members`: everyone who
//! spoke or joined since tracking began), without owners and admins (by the role they were
//! last seen with), super users, the group's `exempt` members and members who opted out
//! (`/退出积分`). Each is placed by [`crate::policy::engagement::tier`] from their silence (the
//! tracker's last message or join) and their active days (the engagement record's day set):
//! core on ≥ `core_days` of the last 7 days, active at least weekly, lurking from
//! `lurking_after`, dormant from `dormant_after`.
//!
//! [`Engagement::alert_sweep`] (every `[engagement] check_every`) counts each group's tiers,
//! keeps the day's counts (eight days, for the trend `/stats` shows), and when the share of
//! members silent for `alert_silent_for` passes `alert_percent` it posts one alert in the
//! group mentioning the admins it knows. The alert and the day it was sent are one
//! transaction ([`crate::store::Store::commit_alert`]), so a group gets at most one alert per day, across
//! restarts too.

use std::sync::Arc;

use jiff::Timestamp;

use super::Engagement;
use crate::domain::action::Action;
use crate::domain::engagement::Tier;
use crate::domain::event::GroupId;
use crate::policy::engagement::{self, TierRules};
use crate::policy::i18n;
use crate::service::inactivity::Inactivity;
use crate::store::StoreError;

/// One group's tiers now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierCounts {
    /// Members per tier, in [`Tier::ALL`] order.
    pub counts: [usize; 4],
    /// Members silent for `alert_silent_for` or more.
    pub silent: usize,
    /// The admins known to the tracker (id, name), for the alert's mentions.
    pub admins: Vec<(i64, String)>,
}

impl TierCounts {
    /// Members counted in all.
    #[must_use]
    pub fn members(&self) -> usize {
        self.counts.iter().sum()
    }
}

impl Engagement {
    fn tier_rules(&self) -> TierRules {
        let e = &self.settings.engagement;
        TierRules {
            core_days: e.core_days,
            lurking_days: crate::config::EngagementSettings::days(e.lurking_after),
            dormant_days: crate::config::EngagementSettings::days(e.dormant_after),
        }
    }

    /// The tiers of `group` at `now`. Reads the store: call off the async threads.
    pub fn tiers(&self, inactivity: &Inactivity, group: GroupId, now: Timestamp) -> Result<TierCounts, StoreError> {
        inactivity.flush()?;
        self.flush(now)?;
        let today = self.period(now).day;
        let now_ms = now.as_millisecond();
        let rules = self.tier_rules();
        let silent_ms = i64::try_from(self.settings.engagement.alert_silent_for.get().as_millis()).unwrap_or(i64::MAX);
        let records: std::collections::HashMap<i64, crate::domain::engagement::MemberPoints> =
            self.store.group_points(group)?.into_iter().collect();
        let policy = self.policies.group(group);
        let mut out = TierCounts::default();
        for (user, activity) in self.store.group_activity(group)?.members {
            if activity.role.is_moderator() {
                out.admins.push((user, activity.name.clone()));
                continue;
            }
            if self.policies.is_super_user(group.platform, user) || policy.is_exempt(user) {
                continue;
            }
            let record = records.get(&user);
            if record.is_some_and(|r| r.optout) {
                continue;
            }
            let silent = now_ms.saturating_sub(activity.last_ms);
            let silent_days = u32::try_from(silent / 86_400_000).unwrap_or(u32::MAX);
            let active_days = record.map_or(0, |r| r.active_days(today, 7));
            let tier = engagement::tier(rules, silent_days, active_days);
            out.counts[Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0)] += 1;
            if silent >= silent_ms {
                out.silent += 1;
            }
        }
        Ok(out)
    }

    /// The tiers line of `/stats`: counts now and the change since the counts kept 7 days ago
    /// (or the oldest kept).
    pub fn tiers_line(&self, inactivity: &Inactivity, group: GroupId, now: Timestamp) -> Result<String, StoreError> {
        let rows = self.tier_rows(inactivity, group, now)?;
        Ok(self.tiers_text(&rows))
    }

    /// The tiers line of `/stats` for `rows` ([`Self::tier_rows`]), in the operator's
    /// `[engagement] tiers_template` or the built-in text.
    #[must_use]
    pub fn tiers_text(&self, rows: &[(Tier, usize, Option<i64>)]) -> String {
        i18n::tiers_line(self.locale(), &self.settings.engagement.tiers_template, rows)
    }

    /// Each tier's count now and its change since the counts kept 7 days ago (or the oldest
    /// kept; `None` when none are).
    pub fn tier_rows(
        &self,
        inactivity: &Inactivity,
        group: GroupId,
        now: Timestamp,
    ) -> Result<Vec<(Tier, usize, Option<i64>)>, StoreError> {
        let counts = self.tiers(inactivity, group, now)?;
        let today = self.period(now).day;
        let kept = self.store.tier_history(group)?;
        let before = kept
            .iter()
            .filter(|(day, _)| *day < today)
            .min_by_key(|(day, _)| (today - 7 - day).abs());
        let rows: Vec<(Tier, usize, Option<i64>)> = Tier::ALL
            .iter()
            .enumerate()
            .map(|(i, tier)| {
                let n = counts.counts[i];
                let change = before
                    .map(|(_, old)| i64::try_from(n).unwrap_or(i64::MAX) - i64::try_from(old[i]).unwrap_or(i64::MAX));
                (*tier, n, change)
            })
            .collect();
        Ok(rows)
    }

    /// Looks at every tracked group: keeps its tier counts of the day and sends the alert
    /// where it is due. Returns how many alerts were sent.
    pub async fn alert_sweep(self: &Arc<Self>, inactivity: &Arc<Inactivity>) -> Result<usize, StoreError> {
        if !self.enabled() {
            return Ok(0);
        }
        let (this, inactivity) = (Arc::clone(self), Arc::clone(inactivity));
        let sent = tokio::task::spawn_blocking(move || this.alert_sweep_blocking(&inactivity))
            .await
            .map_err(|e| StoreError::Join(format!("the tier alert check: {e}")))??;
        if sent > 0 {
            self.outbox.publish().await?;
        }
        Ok(sent)
    }

    fn alert_sweep_blocking(&self, inactivity: &Inactivity) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let today = self.period(now).day;
        let e = &self.settings.engagement;
        let mut sent = 0;
        // Noted activity first, so a group whose first messages are still in memory is seen.
        inactivity.flush()?;
        self.flush(now)?;
        if e.retention.as_secs() > 0 {
            let keep = i32::try_from(e.retention.as_secs() / 86_400).unwrap_or(i32::MAX);
            let removed = self.store.sweep_points(today.saturating_sub(keep))?;
            if removed > 0 {
                tracing::info!(removed, "engagement records past their retention deleted");
            }
        }
        for group in self.store.tracked_groups()? {
            let counts = self.tiers(inactivity, group, now)?;
            self.store.keep_tiers(group, today, counts.counts)?;
            let members = counts.members();
            let threshold = usize::try_from(e.alert_percent).unwrap_or(usize::MAX);
            let due = e.alert_percent > 0
                && members > 0
                && members >= e.alert_min_members
                && counts.silent.saturating_mul(100) > members.saturating_mul(threshold);
            if !due || self.policies.group(group).dry_run {
                continue;
            }
            let admins: Vec<(i64, &str)> = counts.admins.iter().map(|(u, n)| (*u, n.as_str())).collect();
            let days = crate::config::EngagementSettings::days(e.alert_silent_for);
            let message = match e.alert_template.as_str() {
                "" => i18n::tier_alert(self.locale(), &admins, counts.silent, members, days),
                template => i18n::render_mentions(
                    template,
                    &admins,
                    &[
                        ("percent", &(counts.silent * 100 / members).to_string()),
                        ("silent", &counts.silent.to_string()),
                        ("members", &members.to_string()),
                        ("days", &days.to_string()),
                    ],
                ),
            };
            let action = Action::Send {
                group,
                message,
                reply_to: None,
            };
            if self.store.commit_alert(group, today, action, now)? {
                sent += 1;
                self.metrics.engagement_alert();
                tracing::info!(%group, silent = counts.silent, members, "tier alert sent to the admins");
            }
        }
        Ok(sent)
    }
}
