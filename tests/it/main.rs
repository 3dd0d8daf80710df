//! Integration tests: the real daemon over loopback HTTP, a real sled database in a temp dir,
//! and a fake gateway speaking the real protocol. One test binary (links once).

mod lifecycle;
mod moderation;
mod support;
mod telegram;
mod webhook;
mod welcome;
