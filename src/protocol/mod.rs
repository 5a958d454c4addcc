//! The RTMP protocol core, shared by both elements.
//!
//! Sans-IO: nothing here touches a socket, a clock or GStreamer. Bytes and a
//! time value go in; events and bytes to send come out. This keeps every part
//! testable with byte vectors and lets the connection layer choose how to do
//! I/O (plain TCP, TLS, tunnelling).
//!
//! - [`amf0`] / [`amf3`]: the value encodings used by commands and metadata.
//! - [`handshake`]: C0/C1/C2 against S0/S1/S2, simple and HMAC-SHA256 digest, client and server
//!   side.
//! - [`chunk`]: splitting messages into chunks and reassembling them.
//! - [`message`]: typed protocol control, user control, command and media messages.
//! - [`session`]: the client and server state machines (connect, publish, play, status) on one
//!   message-stream core.
//! - [`redact`]: stream keys and tokens out of anything printed.

pub mod amf0;
pub mod amf3;
pub mod auth;
pub mod chunk;
pub mod command;
pub mod handshake;
pub mod message;
#[cfg(test)]
mod proptests;
pub mod redact;
pub mod rtmpt;
pub mod session;
#[cfg(test)]
pub mod testdata_nginx_vod;
