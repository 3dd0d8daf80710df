//! Pure decisions: no tokio, no store, no gateway, no clock — every input is an argument.
//!
//! - [`normalize`] sees through evasions (`加 微-信`, `Ｖ信`, `①③⑧`, traditional characters);
//! - [`filter`] is the compiled message filter (phrases, contact detectors, the decision);
//! - [`model`] is its learned second stage (logistic regression over character n-grams);
//! - `flood` counts messages and repeats per member;
//! - [`ladder`] walks a member up the strike ladder;
//! - `group` resolves each group's ladder, window, exemptions, dry run and flood limits;
//! - `verdict` is THE place a violation is decided: strikes, rung and measure, for the
//!   pipeline and for `/warn` alike;
//! - `i18n` holds the texts members and admins see (zh-CN, en);
//! - [`neardup`] finds near-duplicates of spam admins marked (masked MinHash, LSH bands);
//! - `trust` tells a new member from a trusted one;
//! - `calendar` and `stats_report` are the pure halves of scheduling and group stats.
//!
//! `policy` imports only [`crate::domain`].

pub(crate) mod bans;
pub(crate) mod calendar;
pub(crate) mod engagement;
pub mod filter;
pub(crate) mod flood;
pub(crate) mod gate;
pub(crate) mod group;
pub(crate) mod i18n;
pub mod ladder;
pub mod model;
pub mod neardup;
pub mod normalize;
pub(crate) mod stats_report;
pub(crate) mod trust;
pub(crate) mod verdict;
