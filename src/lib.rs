//! # qunguan (群管) — a moderation daemon for chat groups
//!
//! qunguan receives every event of the groups it keeps from a chat gateway's webhook (or, for
//! Telegram, by long polling), decides what to do, stores the decision durably, and acts
//! through the gateway's HTTP API.
//!
//! ## Data flow
//!
//! ```text
//!  gateway webhook ──▶ gateway::onebot (verify, parse) ──┐
//!  Bot API webhook / getUpdates ──▶ gateway::telegram ───┴─▶ event::Event (platform-neutral)
//!                                                            │
//!                                                            ▼
//!   pipeline ── commands │ normalize → filter (rules/) → flood ── ladder (strikes) ── welcome
//!                                                            │
//!   store: seen-key + strikes + audit case + outbox items, ONE transaction, flushed
//!                                                            │  (webhook answers 204 here)
//!                                                            ▼
//!        outbox worker (groups concurrently, each in order) ──▶ gateway::Gateways ──▶ API
//!                                                            ▲
//!   scheduler (rules/schedule.toml, /schedule) ──────────────┤ occurrence + posts, ONE transaction
//!   welcome greeter (stored join batches) ───────────────────┘ batch removal + welcome, ONE transaction
//! ```
//!
//! - [`gateway`] — adapters, one per protocol (OneBot v11 for QQ, the Telegram Bot API):
//!   webhook handlers (and Telegram's polling loop) that turn wire events into
//!   [`event::Event`]s, and API clients that turn [`action::Action`]s into calls.
//! - [`event`] / [`action`] — the neutral model; nothing past the adapters sees wire JSON.
//! - [`rules`] / [`normalize`] / [`filter`] — the rules folder (loaded, hot-reloaded), the
//!   normalizer that sees through evasions (`加 微-信`, `Ｖ信`, `①③⑧`, traditional
//!   characters), and the compiled message filter (phrases, contact detectors, the decision).
//! - [`flood`] — anti-flood: too many messages, or the same text again, from one member.
//! - [`ladder`] — the strike ladder, a pure function of history, violation, time and policy;
//!   [`policy`] resolves each group's ladder, window, exemptions, dry run and flood limits.
//! - [`commands`] — admin commands in the group (`/warn`, `/why`, `/schedule` …).
//! - [`scheduler`] — scheduled posts: calendar (cron + IANA zones), `schedule.toml`, and the
//!   task that fires each occurrence exactly once.
//! - [`welcome`] — greeting new members in batches; join requests are screened in the
//!   pipeline with [`policy`]'s per-group answers.
//! - [`pipeline`] — ties the stages together for one event.
//! - [`store`] — the only code that touches sled: strikes, seen keys, audit log, outbox, dead
//!   letters, backups and migrations.
//! - [`outbox`] — delivers stored actions: groups concurrently, each in order, with backoff,
//!   age limits and a send governor.
//! - [`app`] — wiring, background tasks and the one place shutdown is handled; `control` is
//!   the Unix socket through which the CLI's `backup` and `audit` reach a running daemon.
//! - [`demo`] — `qunguan demo`: the same app on a manual clock, fed from stdin, delivering
//!   to [`gateway::demo`], a gateway client that prints what the bot does.
//!   the Unix socket through which the CLI's `backup`, `audit` and `stats` reach a running
//!   daemon.
//! - Beside the flow, the operators' view: [`metrics`] (counters the stages bump, Prometheus
//!   text), [`stats`] (group health per day: counted in memory, written in batches; `/stats`
//!   and the page), and [`admin`], the admin listener serving `/metrics`, `/healthz`,
//!   `/readyz` and `/stats/<group>`.
//!
//! Beside the flow: [`config`], [`clock`] (injectable time), [`i18n`] (zh-CN/en group
//! texts), [`inactivity`] (潜水: last activity per member, reminders, optional
//! removal), [`server`], [`shutdown`], [`telemetry`].
#![deny(missing_docs)]

pub mod action;
pub mod admin;
pub mod app;
pub mod clock;
pub mod commands;
pub mod config;
#[cfg(unix)]
pub mod control;
pub mod demo;
pub mod event;
pub mod filter;
pub mod flood;
pub mod gateway;
pub mod i18n;
pub mod inactivity;
pub mod ladder;
pub mod metrics;
pub mod normalize;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod rules;
pub mod scheduler;
pub mod server;
pub mod shutdown;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod welcome;
