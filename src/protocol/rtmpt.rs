//! RTMPT: the RTMP byte stream carried in HTTP/1.1 POSTs, as bytes (no sockets, no clock).
//!
//! The exchange, as Flash Player, FFmpeg (`rtmphttp.c`), librtmp and Red5 speak it:
//! - `POST /open/1` (one byte of body): the reply body is the session id (Red5 and we end it
//!   with `\n`; librtmp drops the last byte, FFmpeg strips white space).
//! - `POST /send/<id>/<seq>` carries RTMP bytes the client has queued; `POST /idle/<id>/<seq>`
//!   (one byte of body) polls when it has none; `POST /close/<id>/<seq>` ends the session.
//!   `seq` counts the requests of a session from 0.
//! - Every reply other than open's is `200 OK`, `Content-Type: application/x-fcs`, a body of
//!   one polling-interval byte and then the RTMP bytes the server has for the client. The byte
//!   asks the client to slow its idle polling down (Red5 sends 1 while data flows, then 3, 5,
//!   9, 17, 33 as replies stay empty).
//! - An unknown session gets `404`: the client treats it as a closed connection.
//!
//! [`client`] builds the client's requests and reads the replies (one request in flight,
//! outgoing bytes batched into one `send`); [`server`] parses requests (with httparse), keeps
//! the sessions (ids from the caller's random bytes, idle ones expired, buffers bounded) and
//! builds replies. Malformed HTTP is an [`HttpError`] with its status code, never a panic.

pub mod client;
mod http;
pub mod server;
#[cfg(test)]
mod tests;

pub use client::{TunnelClient, TunnelClientConfig, TunnelError};
pub use http::HttpError;
pub use server::{Command, Request, RequestReader, ServerLimits, SessionTable};

/// The content type of every RTMPT request and reply.
pub const CONTENT_TYPE: &str = "application/x-fcs";
