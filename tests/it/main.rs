//! Integration tests: the real daemon over loopback HTTP, a real sled database in a temp dir,
//! and a fake gateway speaking the real protocol. One test binary (links once).

mod filter_cli;
mod lifecycle;
mod moderation;
mod rules_reload;
mod support;
mod telegram;
mod webhook;
mod welcome;
