//! Integration tests: the real daemon over loopback HTTP, a real sled database in a temp dir,
//! and a fake gateway speaking the real protocol. One test binary (links once).

mod accounts;
mod architecture;
mod bans;
mod bounds;
mod commands;
mod config_docs;
mod console;
mod demo;
mod docs_paths;
mod durability;
mod engagement;
mod filter_cli;
mod flood;
mod gate;
mod inactivity;
mod join_requests;
mod learning;
mod lifecycle;
mod logs;
mod moderation;
mod operator_cli;
mod ops;
mod outbox;
mod readme;
mod robust;
mod rules_reload;
mod schedule;
mod strikes;
mod support;
mod telegram;
mod webhook;
mod welcome;
