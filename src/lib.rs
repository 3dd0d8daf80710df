//! # qunguan (群管) — a moderation daemon for chat groups
//!
//! qunguan receives every event of the groups it keeps from a chat gateway's webhook (or, for
//! Telegram, by long polling), decides what to do, stores the decision durably, and acts
//! through the gateway's HTTP API.
//!
//! ## Layers
//!
//! The crate is eight top-level modules, and every import points down this list:
//!
//! | module      | what it holds                                                        | imports                       |
//! |-------------|----------------------------------------------------------------------|-------------------------------|
//! | [`domain`]  | the vocabulary: events, actions, audit cases, strikes, effects, clock | nothing                       |
//! | [`policy`]  | pure decisions: normalize, filter, flood, ladder, verdict, texts      | `domain`                      |
//! | [`config`]  | settings, the rules folder, validation                               | `domain`, `policy`            |
//! | [`store`]   | the only sled user: one unit-of-work `commit`                         | `domain`, `config`            |
//! | [`gateway`] | wire formats and API clients of OneBot v11 and the Telegram Bot API   | `domain`, `config`            |
//! | [`service`] | orchestration: pipeline, commands, welcome, inactivity, engagement, scheduler, stats, outbox | all above (only `service::outbox` imports `gateway`) |
//! | [`runtime`] | wiring, servers, admin listener, control socket, shutdown, telemetry | all but `cli`                 |
//! | [`cli`]     | one file per subcommand                                              | all                           |
//!
//! `tests/it/architecture.rs` reads every `crate::` path under `src/` and fails on an import
//! that points up, on a cycle between the top-level modules, on sled outside `store`, and on
//! a `main.rs` longer than 100 lines.
//!
//! ## One violation, three places
//!
//! ```text
//!  gateway webhook ──▶ gateway::onebot (verify, parse) ──┐
//!  Bot API webhook / getUpdates ──▶ gateway::telegram ───┴─▶ domain::sink::EventSink
//!                                                            │   (domain::event::Event)
//!                                                            ▼
//!   service::pipeline ── commands │ policy::filter → policy::flood
//!                                 │
//!                                 ▼   DECIDED: policy::verdict::decide (ladder + what the
//!                                 │   platform can do), for the filter, flood and /warn alike
//!   store::Store::commit: seen key + strikes + audit case + outbox items, ONE atomic unit
//!                                 │   DURABLE: service::outbox::OutboxHandle::publish
//!                                 ▼   (flush, then wake the worker; the webhook answers 204)
//!   service::outbox worker (groups concurrently, each in order) ──▶ gateway clients ──▶ API
//!                                 ▲   SENT: the only caller of the gateway clients
//!   scheduler, welcome greeter, inactivity sweep, /stats ──┘ (each through OutboxHandle)
//! ```
//!
//! - a violation is **decided** in `policy::verdict`;
//! - it becomes **durable** in [`store::Store::commit`], published by
//!   `service::outbox::OutboxHandle`;
//! - it **leaves** for the gateway from `service::outbox`, the only service code that
//!   names a gateway client.
//!
//! The binary (`src/main.rs`) parses the command line and calls [`cli::dispatch`].
//!
//! These docs are written for the people who work on qunguan, so they name private items
//! too: read them with `cargo doc --document-private-items --open` (CI builds them that way
//! with warnings denied, so a link that breaks fails the build).
#![deny(missing_docs)]
// The crate is an application: its public items' docs link the private items they are
// built from, and the docs are read with --document-private-items (above).
#![allow(rustdoc::private_intra_doc_links)]

pub mod cli;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod policy;
pub mod runtime;
pub mod service;
pub mod store;
