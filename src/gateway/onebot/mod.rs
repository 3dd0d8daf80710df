//! OneBot v11 (QQ): HTTP-POST events in, HTTP API actions out.
//!
//! Spec: botuniverse/onebot-11. Tested against the behaviour of NapCat, LLOneBot,
//! Lagrange.OneBot and go-cqhttp, whose quirks shape a few choices here: every action goes
//! through the HTTP API (NapCat and Lagrange ignore "quick operation" replies), `duration` is
//! always sent with `set_group_ban` (NapCat and Lagrange default it to 0 = unmute), and success
//! is only `"status": "ok"`.

mod client;
mod event;
pub(crate) mod message;
pub(crate) mod retcode;
pub mod signature;
pub(crate) mod webhook;
mod wire;

pub use client::OneBotClient;
pub use event::{ParseError, parse_event};
