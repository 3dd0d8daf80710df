//! Scheduled posts: operators' daily rhythm (早报 at 07:30, 晚安 at 21:00 …), sent exactly once
//! per occurrence in the group's time zone.
//!
//! - [`calendar`]: when a post is due (daily time or cron pattern, IANA zone, DST-correct);
//! - [`posts`]: `rules/schedule.toml`, parsed into validated posts with the rules snapshot;
//! - [`task`]: the background task that fires due posts through the outbox, exactly once.
//!
//! Posts admins add in the group (`/schedule add`) are stored by [`crate::store::schedule`]
//! and handled by the same task.

pub mod calendar;
pub mod posts;
pub mod task;

pub use task::{Scheduler, jitter_offset};
