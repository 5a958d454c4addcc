//! What the client and server sides share: request paths and the reply heads.

use bytes::{BufMut, Bytes, BytesMut};

/// An HTTP request we refuse, with the status to answer (the connection is closed after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {reason}")]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

impl HttpError {
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
}

/// The reason phrase of the statuses we send.
pub(super) fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A reply head. librtmp reads `Content-Length:` with that exact spelling, and needs
/// `HTTP/1.1 200 ` at the start of a good reply.
pub(super) fn reply_head(status: u16, body_len: usize, keep_alive: bool) -> BytesMut {
    let connection = if keep_alive { "Keep-Alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {body_len}\r\n\
         Cache-Control: no-cache\r\nConnection: {connection}\r\nServer: gstrtmp\r\n\r\n",
        status_text(status),
        super::CONTENT_TYPE,
    );
    let mut out = BytesMut::with_capacity(head.len() + body_len);
    out.put_slice(head.as_bytes());
    out
}

/// A whole reply: head and body in one buffer.
pub(super) fn reply(status: u16, body: &[u8], keep_alive: bool) -> Bytes {
    let mut out = reply_head(status, body.len(), keep_alive);
    out.put_slice(body);
    out.freeze()
}
