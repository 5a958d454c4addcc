//! The server side of RTMPT: requests parsed from an HTTP connection's bytes, the tunnel
//! sessions they are routed to, and the replies.
//!
//! Memory is bounded per connection and per session: a request head at most
//! [`ServerLimits::max_head`], a body at most [`ServerLimits::max_request_body`] (refused with
//! 413 before it is read), bytes waiting for the client at most
//! [`ServerLimits::max_to_client`] (the caller stops taking bytes from the RTMP side when
//! [`SessionEntry::room_to_client`] is 0), and at most [`ServerLimits::max_sessions`] sessions.

use std::collections::HashMap;
use std::fmt::Write as _;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::http::{self, HttpError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Request line and headers.
    pub max_head: usize,
    /// One `send` body: FFmpeg batches what it wrote while waiting for the previous reply.
    pub max_request_body: usize,
    /// RTMP bytes in one reply; the rest waits for the next request.
    pub max_reply_body: usize,
    /// RTMP bytes held for the client between its requests.
    pub max_to_client: usize,
    pub max_sessions: usize,
    /// A session without a request for this long is closed.
    pub idle_timeout_ms: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_head: 8 * 1024,
            max_request_body: 1024 * 1024,
            max_reply_body: 256 * 1024,
            max_to_client: 1024 * 1024,
            max_sessions: 1024,
            idle_timeout_ms: 20_000,
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Open,
    Send { session: String, seq: u64 },
    Idle { session: String, seq: u64 },
    Close { session: String, seq: u64 },
}

impl Command {
    pub fn session(&self) -> Option<&str> {
        match self {
            Command::Open => None,
            Command::Send { session, .. }
            | Command::Idle { session, .. }
            | Command::Close { session, .. } => Some(session),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    pub body: Bytes,
    /// The client keeps the connection for its next request (HTTP/1.1 unless `close`).
    pub keep_alive: bool,
}

/// A request whose head was read, waiting for its body.
#[derive(Debug, Clone)]
struct Head {
    command: Command,
    keep_alive: bool,
    head_len: usize,
    body_len: usize,
}

/// Requests from one HTTP connection's bytes, in order (pipelined ones too).
#[derive(Debug)]
pub struct RequestReader {
    limits: ServerLimits,
    buf: BytesMut,
    head: Option<Head>,
}

/// Longest session id we accept in a path (ours are 32 characters).
const MAX_ID_LEN: usize = 64;

impl RequestReader {
    pub fn new(limits: ServerLimits) -> Self {
        RequestReader {
            limits,
            buf: BytesMut::new(),
            head: None,
        }
    }

    /// How many more bytes the reader takes now: the caller reads no more from the socket
    /// (a client sending faster than it is served waits in TCP, not in memory).
    pub fn room(&self) -> usize {
        let limit = match &self.head {
            Some(head) => head.head_len + head.body_len,
            None => self.limits.max_head + 1,
        };
        limit.saturating_sub(self.buf.len())
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes fed and not yet part of a returned request.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete request; `Ok(None)` while more bytes are needed. After an error the
    /// connection is to be answered with its status and closed.
    pub fn next_request(&mut self) -> Result<Option<Request>, HttpError> {
        if self.head.is_none() {
            match self.parse_head()? {
                Some(head) => self.head = Some(head),
                None => return Ok(None),
            }
        }
        let Some(head) = &self.head else {
            return Ok(None);
        };
        if self.buf.len() < head.head_len + head.body_len {
            return Ok(None);
        }
        let head = self.head.take().ok_or(HttpError::new(500, "lost head"))?;
        self.buf.advance(head.head_len);
        let body = self.buf.split_to(head.body_len).freeze();
        Ok(Some(Request {
            command: head.command,
            body,
            keep_alive: head.keep_alive,
        }))
    }

    fn parse_head(&self) -> Result<Option<Head>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let head_len = match request.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) if len > self.limits.max_head => {
                return Err(HttpError::new(431, "request head too large"));
            }
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() > self.limits.max_head => {
                return Err(HttpError::new(431, "request head too large"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::new(431, "too many headers"));
            }
            Err(_) => return Err(HttpError::new(400, "malformed HTTP request")),
        };
        if request.method != Some("POST") {
            return Err(HttpError::new(405, "RTMPT takes POST requests only"));
        }
        let command = parse_path(request.path.unwrap_or(""))?;
        let mut content_length = None;
        let mut keep_alive = request.version == Some(1);
        for header in request.headers.iter() {
            let value = std::str::from_utf8(header.value)
                .map_err(|_| HttpError::new(400, "header value is not text"))?
                .trim();
            if header.name.eq_ignore_ascii_case("content-length") {
                let length: usize = value
                    .parse()
                    .map_err(|_| HttpError::new(400, "bad Content-Length"))?;
                if content_length.is_some_and(|l| l != length) {
                    return Err(HttpError::new(400, "conflicting Content-Length"));
                }
                content_length = Some(length);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(HttpError::new(501, "chunked requests are not supported"));
            } else if header.name.eq_ignore_ascii_case("connection") {
                if value.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if value.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        let body_len = content_length.ok_or(HttpError::new(411, "Content-Length required"))?;
        if body_len > self.limits.max_request_body {
            return Err(HttpError::new(413, "request body too large"));
        }
        Ok(Some(Head {
            command,
            keep_alive,
            head_len,
            body_len,
        }))
    }
}

/// `/open/1`, `/<send|idle|close>/<id>/<seq>`; an absolute URI (from a proxy) is reduced to
/// its path first.
fn parse_path(target: &str) -> Result<Command, HttpError> {
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let not_found = HttpError::new(404, "no such RTMPT command");
    let mut parts = path.strip_prefix('/').ok_or(not_found)?.split('/');
    let command = parts.next().unwrap_or("");
    if command == "open" {
        return match (parts.next(), parts.next()) {
            (Some(_), None) => Ok(Command::Open),
            _ => Err(not_found),
        };
    }
    let (Some(session), Some(seq), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(not_found);
    };
    if session.is_empty()
        || session.len() > MAX_ID_LEN
        || !session.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(HttpError::new(404, "no such session"));
    }
    let seq: u64 = seq
        .parse()
        .map_err(|_| HttpError::new(400, "bad sequence number"))?;
    let session = session.to_owned();
    match command {
        "send" => Ok(Command::Send { session, seq }),
        "idle" => Ok(Command::Idle { session, seq }),
        "close" => Ok(Command::Close { session, seq }),
        _ => Err(not_found),
    }
}

/// The reply to a refused request; the connection closes after it.
pub fn error_reply(error: HttpError) -> Bytes {
    http::reply(error.status, &[], false)
}

/// The reply to a well-formed request for a session that is gone (or never was): 404, on a
/// connection that stays open, so the client's own `/close` still gets its answer there.
pub fn gone_reply(keep_alive: bool) -> Bytes {
    http::reply(404, &[], keep_alive)
}

/// One tunnel session: bytes for the client and its polling state, with the caller's `data`
/// (its end of the RTMP stream).
#[derive(Debug)]
pub struct SessionEntry<T> {
    pub data: T,
    to_client: BytesMut,
    last_request_ms: u64,
    empty_replies: u32,
    max_to_client: usize,
    max_reply_body: usize,
}

impl<T> SessionEntry<T> {
    /// How many more bytes for the client may be buffered now.
    pub fn room_to_client(&self) -> usize {
        self.max_to_client.saturating_sub(self.to_client.len())
    }

    /// Buffers bytes for the client, at most [`room_to_client`](Self::room_to_client) of them;
    /// returns how many were taken.
    pub fn push_to_client(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room_to_client());
        self.to_client.extend_from_slice(&data[..n]);
        n
    }

    pub fn has_data_for_client(&self) -> bool {
        !self.to_client.is_empty()
    }

    /// A request came at `now_ms`.
    pub fn touch(&mut self, now_ms: u64) {
        self.last_request_ms = now_ms;
    }

    /// The polling-interval byte, as Red5 sends it: 1 while data flows, then 3, 5, 9, 17, 33
    /// as replies stay empty (after 10, 20, ... empty ones), so idle clients poll less.
    fn polling_byte(&self) -> u8 {
        let level = (self.empty_replies.saturating_sub(1) / 10).min(5);
        if level == 0 { 1 } else { (1u8 << level) + 1 }
    }

    /// The reply to a send or idle: the polling byte and what is buffered for the client (up
    /// to the reply limit).
    pub fn reply(&mut self, keep_alive: bool) -> [Bytes; 2] {
        let n = self.to_client.len().min(self.max_reply_body);
        if n == 0 {
            self.empty_replies = self.empty_replies.saturating_add(1);
        } else {
            self.empty_replies = 0;
        }
        let mut head = http::reply_head(200, n + 1, keep_alive);
        head.put_u8(self.polling_byte());
        [head.freeze(), self.to_client.split_to(n).freeze()]
    }
}

/// The reply to `/close`: a zero byte, as Red5 answers it.
pub fn close_reply(keep_alive: bool) -> Bytes {
    http::reply(200, &[0], keep_alive)
}

/// The tunnel sessions of one listener, by id.
#[derive(Debug)]
pub struct SessionTable<T> {
    limits: ServerLimits,
    sessions: HashMap<String, SessionEntry<T>>,
}

impl<T> SessionTable<T> {
    pub fn new(limits: ServerLimits) -> Self {
        SessionTable {
            limits,
            sessions: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Opens a session named from `random` (16 bytes from the OS: ids cannot be guessed) and
    /// returns its id with the reply to the open request; 503 when the table is full.
    pub fn open(
        &mut self,
        now_ms: u64,
        random: &[u8; 16],
        data: T,
        keep_alive: bool,
    ) -> Result<(String, Bytes), HttpError> {
        if self.sessions.len() >= self.limits.max_sessions {
            return Err(HttpError::new(503, "too many RTMPT sessions"));
        }
        let mut id = String::with_capacity(32);
        for byte in random {
            let _ = write!(id, "{byte:02x}");
        }
        if self.sessions.contains_key(&id) {
            return Err(HttpError::new(503, "session id collision"));
        }
        self.sessions.insert(
            id.clone(),
            SessionEntry {
                data,
                to_client: BytesMut::new(),
                last_request_ms: now_ms,
                empty_replies: 0,
                max_to_client: self.limits.max_to_client,
                max_reply_body: self.limits.max_reply_body,
            },
        );
        let body = format!("{id}\n");
        Ok((id, http::reply(200, body.as_bytes(), keep_alive)))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut SessionEntry<T>> {
        self.sessions.get_mut(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<SessionEntry<T>> {
        self.sessions.remove(id)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut SessionEntry<T>)> {
        self.sessions.iter_mut()
    }

    /// Removes and returns the sessions without a request for the idle timeout.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(String, SessionEntry<T>)> {
        let timeout = self.limits.idle_timeout_ms;
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.last_request_ms) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.sessions.remove(&id).map(|s| (id, s)))
            .collect()
    }

    /// When the next session expires (ms), if any is open.
    pub fn next_expiry(&self) -> Option<u64> {
        self.sessions
            .values()
            .map(|s| {
                s.last_request_ms
                    .saturating_add(self.limits.idle_timeout_ms)
            })
            .min()
    }
}
