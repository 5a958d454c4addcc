//! The client side of RTMPT: the requests to send and the replies read back, one request in
//! flight at a time as FFmpeg and librtmp keep it.
//!
//! The caller queues the RTMP bytes its session writes ([`TunnelClient::queue`]), sends what
//! [`TunnelClient::poll_request`] returns, feeds what the server answers
//! ([`TunnelClient::handle_input`]) and hands [`TunnelClient::take_received`] to its session.
//! Everything queued while a request is in flight goes out in one `send` once its reply is in.
//! With nothing to send, an `idle` polls the server: at once after a reply that carried data,
//! otherwise after the polling interval the server asked for (its byte × 10 ms, at least
//! [`MIN_IDLE_DELAY_MS`], at most [`MAX_IDLE_DELAY_MS`]; FFmpeg waits a fixed 50 ms, librtmp
//! not at all).

use bytes::{Buf, Bytes, BytesMut};

/// Shortest wait before an idle poll after an empty reply.
pub const MIN_IDLE_DELAY_MS: u64 = 10;
/// Longest wait, whatever the server's byte says (a player must see data soon).
pub const MAX_IDLE_DELAY_MS: u64 = 500;
/// Longest reply head we read.
const MAX_REPLY_HEAD: usize = 16 * 1024;
/// Longest session id we take from an open reply.
const MAX_ID_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelClientConfig {
    /// The `Host` header: `host[:port]` of the RTMPT server.
    pub host: String,
    /// Put before each path: empty for the server itself, `http://host:port` through an HTTP
    /// proxy (absolute-form request targets).
    pub target_prefix: String,
    /// A `Proxy-Authorization` value (`Basic ...`), for a proxy that asks for one.
    pub proxy_authorization: Option<String>,
    /// RTMP bytes in one `send` at most.
    pub max_batch: usize,
}

impl TunnelClientConfig {
    pub fn direct(host: &str, port: u16) -> Self {
        TunnelClientConfig {
            host: host_header(host, port),
            target_prefix: String::new(),
            proxy_authorization: None,
            max_batch: 256 * 1024,
        }
    }
}

/// `host:port`, with brackets for an IPv6 address.
pub fn host_header(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    #[error("the RTMPT server does not know our session (HTTP 404)")]
    SessionGone,
    #[error("the RTMPT server (or a proxy) answered HTTP {0}")]
    Status(u16),
    #[error("malformed RTMPT reply: {0}")]
    Malformed(&'static str),
    #[error("the RTMPT server sent bytes nobody asked for")]
    Unsolicited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Send,
    Idle,
    Close,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Send => "send",
            Kind::Idle => "idle",
            Kind::Close => "close",
        }
    }
}

/// The reply being read.
#[derive(Debug)]
enum Reply {
    Head(BytesMut),
    Body { left: usize, first: bool },
}

#[derive(Debug)]
pub struct TunnelClient {
    config: TunnelClientConfig,
    session: Option<String>,
    seq: u64,
    outgoing: BytesMut,
    in_flight: Option<Kind>,
    reply: Reply,
    open_body: Vec<u8>,
    /// The current reply carried RTMP bytes.
    reply_had_data: bool,
    /// The server's last polling-interval byte.
    polling: u8,
    /// When the next idle may go (ms, the caller's clock); None: at once.
    idle_at: Option<u64>,
    received: BytesMut,
    open_sent: bool,
    closing: bool,
    closed: bool,
    /// The last reply said `Connection: close`: the next request needs a new connection.
    reconnect: bool,
    requests: u64,
}

impl TunnelClient {
    pub fn new(config: TunnelClientConfig) -> Self {
        TunnelClient {
            config,
            session: None,
            seq: 0,
            outgoing: BytesMut::new(),
            in_flight: None,
            reply: Reply::Head(BytesMut::new()),
            open_body: Vec::new(),
            reply_had_data: false,
            polling: 1,
            idle_at: None,
            received: BytesMut::new(),
            open_sent: false,
            closing: false,
            closed: false,
            reconnect: false,
            requests: 0,
        }
    }

    /// Queues RTMP bytes for the server.
    pub fn queue(&mut self, data: &[u8]) {
        self.outgoing.extend_from_slice(data);
    }

    /// RTMP bytes queued and not yet in a request.
    pub fn queued(&self) -> usize {
        self.outgoing.len()
    }

    /// Sends what is queued, then `/close`.
    pub fn close(&mut self) {
        self.closing = true;
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    pub fn is_open(&self) -> bool {
        self.session.is_some() && !self.closed
    }

    /// The close request was answered.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The server asked to close the HTTP connection after its last reply: connect again
    /// before sending the next request. Reading it clears it.
    pub fn take_reconnect(&mut self) -> bool {
        std::mem::take(&mut self.reconnect)
    }

    /// The next request (head, body) if one may go now.
    pub fn poll_request(&mut self, now_ms: u64) -> Option<[Bytes; 2]> {
        if self.closed || self.in_flight.is_some() {
            return None;
        }
        let Some(session) = self.session.clone() else {
            if self.open_sent {
                return None;
            }
            self.open_sent = true;
            return Some(self.request(Kind::Open, "/open/1".into(), Bytes::from_static(&[0])));
        };
        let (kind, body) = if !self.outgoing.is_empty() {
            let n = self.outgoing.len().min(self.config.max_batch.max(1));
            (Kind::Send, self.outgoing.split_to(n).freeze())
        } else if self.closing {
            (Kind::Close, Bytes::from_static(&[0]))
        } else if self.idle_at.is_none_or(|at| now_ms >= at) {
            (Kind::Idle, Bytes::from_static(&[0]))
        } else {
            return None;
        };
        let path = format!("/{}/{session}/{}", kind.name(), self.seq);
        self.seq += 1;
        Some(self.request(kind, path, body))
    }

    /// Whether [`poll_request`](Self::poll_request) has a request to give at `now_ms`.
    pub fn request_ready(&self, now_ms: u64) -> bool {
        if self.closed || self.in_flight.is_some() {
            return false;
        }
        match &self.session {
            None => !self.open_sent,
            Some(_) => {
                !self.outgoing.is_empty()
                    || self.closing
                    || self.idle_at.is_none_or(|at| now_ms >= at)
            }
        }
    }

    /// When an idle poll is due (ms), if the client is waiting for nothing else.
    pub fn next_poll_at(&self) -> Option<u64> {
        let waiting = self.session.is_some()
            && self.in_flight.is_none()
            && self.outgoing.is_empty()
            && !self.closing
            && !self.closed;
        match waiting {
            true => Some(self.idle_at.unwrap_or(0)),
            false => None,
        }
    }

    fn request(&mut self, kind: Kind, path: String, body: Bytes) -> [Bytes; 2] {
        self.in_flight = Some(kind);
        self.reply = Reply::Head(BytesMut::new());
        self.reply_had_data = false;
        self.requests += 1;
        let authorization = match &self.config.proxy_authorization {
            Some(value) => format!("Proxy-Authorization: {value}\r\n"),
            None => String::new(),
        };
        let head = format!(
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: Shockwave Flash\r\n\
             Connection: Keep-Alive\r\nCache-Control: no-cache\r\nContent-Type: {}\r\n\
             Content-Length: {}\r\n{authorization}\r\n",
            self.config.target_prefix,
            self.config.host,
            super::CONTENT_TYPE,
            body.len(),
        );
        [Bytes::from(head), body]
    }

    /// Reads reply bytes; RTMP bytes go to [`take_received`](Self::take_received).
    pub fn handle_input(&mut self, mut data: &[u8], now_ms: u64) -> Result<(), TunnelError> {
        while !data.is_empty() {
            let Some(kind) = self.in_flight else {
                return Err(TunnelError::Unsolicited);
            };
            match &mut self.reply {
                Reply::Head(head) => {
                    // Take bytes up to the end of the head only: the rest is body.
                    let before = head.len();
                    head.extend_from_slice(data);
                    let mut headers = [httparse::EMPTY_HEADER; 32];
                    let mut response = httparse::Response::new(&mut headers);
                    let head_len = match response.parse(head) {
                        Ok(httparse::Status::Complete(len)) => len,
                        Ok(httparse::Status::Partial) if head.len() > MAX_REPLY_HEAD => {
                            return Err(TunnelError::Malformed("reply head too large"));
                        }
                        Ok(httparse::Status::Partial) => return Ok(()),
                        Err(_) => return Err(TunnelError::Malformed("not an HTTP reply")),
                    };
                    let status = response.code.unwrap_or(0);
                    let (length, close) = reply_headers(response.headers)?;
                    match status {
                        200 => {}
                        404 if kind != Kind::Open => return Err(TunnelError::SessionGone),
                        other => return Err(TunnelError::Status(other)),
                    }
                    let length = length.ok_or(TunnelError::Malformed("no Content-Length"))?;
                    self.reconnect = close;
                    data = &data[head_len.saturating_sub(before).min(data.len())..];
                    self.reply = Reply::Body {
                        left: length,
                        first: true,
                    };
                }
                Reply::Body { left, first } => {
                    let n = data.len().min(*left);
                    let mut body = &data[..n];
                    data = &data[n..];
                    *left -= n;
                    if kind == Kind::Open {
                        if self.open_body.len() + body.len() > MAX_ID_LEN + 2 {
                            return Err(TunnelError::Malformed("session id too long"));
                        }
                        self.open_body.extend_from_slice(body);
                    } else if !body.is_empty() {
                        if *first {
                            self.polling = body[0];
                            body.advance(1);
                            *first = false;
                        }
                        if !body.is_empty() {
                            self.reply_had_data = true;
                            self.received.extend_from_slice(body);
                        }
                    }
                }
            }
            if let Reply::Body { left: 0, .. } = self.reply {
                self.finish_reply(kind, now_ms)?;
            }
        }
        // A reply with an empty body ends as soon as its head does.
        if let (Some(kind), Reply::Body { left: 0, .. }) = (self.in_flight, &self.reply) {
            self.finish_reply(kind, now_ms)?;
        }
        Ok(())
    }

    fn finish_reply(&mut self, kind: Kind, now_ms: u64) -> Result<(), TunnelError> {
        self.in_flight = None;
        self.reply = Reply::Head(BytesMut::new());
        match kind {
            Kind::Open => {
                let id = std::str::from_utf8(&self.open_body)
                    .map_err(|_| TunnelError::Malformed("session id is not text"))?
                    .trim();
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
                    return Err(TunnelError::Malformed("bad session id"));
                }
                self.session = Some(id.to_owned());
                self.idle_at = None;
            }
            Kind::Close => self.closed = true,
            Kind::Send | Kind::Idle => {
                self.idle_at = match self.reply_had_data {
                    true => None,
                    false => Some(now_ms + idle_delay(self.polling)),
                };
            }
        }
        Ok(())
    }

    /// RTMP bytes the server sent, for the session.
    pub fn take_received(&mut self) -> BytesMut {
        self.received.split()
    }

    pub fn received_len(&self) -> usize {
        self.received.len()
    }
}

/// How long to wait before an idle poll after an empty reply with polling byte `byte`.
pub fn idle_delay(byte: u8) -> u64 {
    (byte as u64 * 10).clamp(MIN_IDLE_DELAY_MS, MAX_IDLE_DELAY_MS)
}

/// Content-Length and whether the server closes the connection after the reply.
fn reply_headers(headers: &[httparse::Header<'_>]) -> Result<(Option<usize>, bool), TunnelError> {
    let mut length = None;
    let mut close = false;
    for header in headers {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| TunnelError::Malformed("bad Content-Length"))?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(TunnelError::Malformed("chunked replies are not supported"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok((length, close))
}
