//! The vocabulary every other layer speaks: events in, actions out, the audit record, strikes
//! and the effects a decision produces, labelled samples and trust, durations, locales and the
//! clock.
//!
//! `domain` imports nothing from the rest of the crate. Its types carry no behaviour beyond
//! what follows from their definition (parsing a [`event::GroupId`], the mute limits of a
//! platform, [`action::Capabilities::of`] a group); decisions live in the policy layer above.

pub mod action;
pub mod activity;
pub mod audit;
pub mod ban;
pub mod bounds;
pub mod clock;
pub mod duration;
pub mod effects;
pub mod engagement;
pub mod event;
pub mod learning;
pub mod locale;
pub mod logfield;
pub mod metrics;
pub mod rule;
pub mod sink;
pub mod stats;
pub mod strike;
pub mod text;
