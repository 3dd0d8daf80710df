//! Scheduled posts: operators' daily rhythm (早报 at 07:30, 晚安 at 21:00 …), sent exactly once
//! per occurrence in the group's time zone.

pub mod calendar;
pub mod posts;
