//! The listener's RTMPT gateway: HTTP connections whose first byte was a method letter, and
//! the tunnel sessions their requests are routed to, all on the acceptor's `Poll`.
//!
//! Each tunnel session is one end of a local socket pair; the other end goes to the acceptor
//! as a new client, so the session's RTMP side (handshake, connect, publish/play, then the
//! serve thread) is exactly a TCP client's. The gateway moves bytes between the two: a `send`
//! body is written to the session's socket, and every reply carries what the session wrote
//! since the last one. An `idle` with nothing to return is held for up to [`IDLE_HOLD`] (the
//! reply goes as soon as the session writes something), so polling clients neither spin nor
//! wait a full polling interval for data. A `send` is held while the session has not taken
//! the bytes of earlier ones (bounded memory; the client waits for the reply before sending
//! more). A session whose RTMP side closed answers its last bytes, then is forgotten: further
//! requests get 404, which clients take as a closed connection.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, IoSlice, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

use crate::connection::CAT;
use crate::connection::pump::Pump;
use crate::connection::transport::{Transport, send_no_signal};
use crate::protocol::rtmpt::server::{SessionEntry, close_reply, error_reply, gone_reply};
use crate::protocol::rtmpt::{
    Command, HttpError, Request, RequestReader, ServerLimits, SessionTable,
};

/// How long an `idle` with nothing to return waits for the session to write something.
pub(super) const IDLE_HOLD: Duration = Duration::from_millis(40);
/// A keep-alive HTTP connection without a request for this long is closed.
const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP connections held at once; a new one beyond this closes the oldest.
const MAX_HTTP_CONNECTIONS: usize = 1024;
/// Bytes read from one connection per wake-up before the others get their turn.
const READ_BUDGET: usize = 256 * 1024;

/// What the acceptor lends the gateway while it works.
pub(super) struct Ctx<'a> {
    pub registry: &'a Registry,
    pub next_token: &'a mut usize,
    /// Sessions opened: their RTMP ends, for the acceptor to take as clients from `addr`.
    pub opened: &'a mut Vec<(UnixStream, SocketAddr)>,
    pub log_id: &'a gst::glib::GString,
}

/// A request waiting for data (idle) or for the session to take bytes (send).
struct Held {
    session: String,
    keep_alive: bool,
    /// Idle: answer by then even if empty. Send: no deadline.
    until: Option<Instant>,
}

struct HttpConnection {
    transport: Transport,
    addr: SocketAddr,
    pump: Pump,
    reader: RequestReader,
    held: Option<Held>,
    /// An error or `Connection: close` was answered: close once it is written.
    closing: bool,
    /// TLS's close_notify is queued after the last reply.
    close_notified: bool,
    last_request: Instant,
}

/// The RTMP side of a tunnel session.
struct TunnelEnd {
    local: UnixStream,
    token: usize,
    readable: bool,
    writable: bool,
    /// `send` bytes the session has not taken yet.
    to_server: BytesMut,
    /// The session closed its end: what it wrote is all there is.
    closed: bool,
    /// The HTTP connection whose request waits on this session.
    held_by: Option<usize>,
}

pub(super) struct Gateway {
    limits: ServerLimits,
    http: BTreeMap<usize, HttpConnection>,
    sessions: SessionTable<TunnelEnd>,
    /// Local socket tokens to their session ids.
    locals: HashMap<usize, String>,
    started: Instant,
    scratch: Vec<u8>,
}

impl Gateway {
    /// `idle_timeout`: a session without a request for this long is closed.
    pub fn new(idle_timeout: Duration) -> Self {
        let limits = ServerLimits {
            idle_timeout_ms: idle_timeout.as_millis() as u64,
            ..ServerLimits::default()
        };
        Gateway {
            limits,
            http: BTreeMap::new(),
            sessions: SessionTable::new(limits),
            locals: HashMap::new(),
            started: Instant::now(),
            scratch: vec![0u8; 64 * 1024],
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn owns(&self, token: usize) -> bool {
        self.http.contains_key(&token) || self.locals.contains_key(&token)
    }

    /// Tunnel sessions open now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Notes readiness for one of our tokens.
    pub fn note(&mut self, token: usize, readable: bool, writable: bool) {
        if let Some(conn) = self.http.get_mut(&token) {
            conn.pump.readable |= readable;
            conn.pump.writable |= writable;
        } else if let Some(id) = self.locals.get(&token)
            && let Some(entry) = self.sessions.get_mut(id)
        {
            entry.data.readable |= readable;
            entry.data.writable |= writable;
        }
    }

    /// Takes over an HTTP connection (registered under `token`) with the bytes read from it.
    pub fn add_http(
        &mut self,
        ctx: &mut Ctx<'_>,
        token: usize,
        transport: Transport,
        addr: SocketAddr,
        first_bytes: &[u8],
    ) {
        if self.http.len() >= MAX_HTTP_CONNECTIONS
            && let Some(&oldest) = self.http.keys().next()
        {
            self.drop_http(ctx, oldest);
        }
        let mut reader = RequestReader::new(self.limits);
        reader.feed(first_bytes);
        let mut pump = Pump::new();
        pump.readable = true;
        pump.writable = true;
        gst::debug!(CAT, id = ctx.log_id, "RTMPT connection from {addr}");
        self.http.insert(
            token,
            HttpConnection {
                transport,
                addr,
                pump,
                reader,
                held: None,
                closing: false,
                close_notified: false,
                last_request: Instant::now(),
            },
        );
        self.service(ctx, token);
    }

    /// Drives whatever `token` is: an HTTP connection, or a session's local socket.
    /// True when it should be driven again without waiting (read budget used up).
    pub fn service(&mut self, ctx: &mut Ctx<'_>, token: usize) -> bool {
        if let Some(id) = self.locals.get(&token).cloned() {
            self.service_local(ctx, &id);
            return false;
        }
        self.service_http(ctx, token)
    }

    fn service_local(&mut self, ctx: &mut Ctx<'_>, id: &str) {
        let Some(entry) = self.sessions.get_mut(id) else {
            return;
        };
        flush_to_server(entry);
        pull_from_server(entry, &mut self.scratch);
        let Some(waiting) = entry.data.held_by else {
            return;
        };
        let idle = self
            .http
            .get(&waiting)
            .and_then(|c| c.held.as_ref())
            .is_some_and(|h| h.until.is_some());
        let ready = entry.data.closed
            || match idle {
                true => entry.has_data_for_client(),
                false => entry.data.to_server.len() < self.limits.max_request_body,
            };
        if ready {
            self.answer_held(ctx, waiting);
        }
    }

    fn service_http(&mut self, ctx: &mut Ctx<'_>, token: usize) -> bool {
        let mut budget = READ_BUDGET;
        loop {
            let Some(conn) = self.http.get_mut(&token) else {
                return false;
            };
            if let Err(err) = conn.pump.write(&mut conn.transport) {
                gst::debug!(
                    CAT,
                    id = ctx.log_id,
                    "RTMPT client {} gone: {err}",
                    conn.addr
                );
                self.drop_http(ctx, token);
                return false;
            }
            let written = !conn.pump.is_waiting_to_write(&conn.transport);
            if conn.closing {
                if written && !std::mem::replace(&mut conn.close_notified, true) {
                    conn.transport.send_close_notify();
                    continue;
                }
                if written {
                    let _ = conn.transport.tcp().shutdown(std::net::Shutdown::Write);
                    self.drop_http(ctx, token);
                }
                return false;
            }
            // One request at a time per connection: replies go in order.
            if conn.held.is_some() || !written {
                return false;
            }
            match conn.reader.next_request() {
                Ok(Some(request)) => {
                    conn.last_request = Instant::now();
                    self.handle(ctx, token, request);
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    gst::debug!(CAT, id = ctx.log_id, "RTMPT client {}: {error}", conn.addr);
                    conn.pump.pending.push_back(error_reply(error));
                    conn.closing = true;
                    continue;
                }
            }
            if !conn.pump.readable {
                return false;
            }
            if budget == 0 {
                return true;
            }
            let room = conn.reader.room().min(self.scratch.len());
            match conn.transport.read(&mut self.scratch[..room]) {
                Ok(0) => {
                    self.drop_http(ctx, token);
                    return false;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    conn.reader.feed(&self.scratch[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => conn.pump.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_http(ctx, token);
                    return false;
                }
            }
        }
    }

    fn handle(&mut self, ctx: &mut Ctx<'_>, token: usize, request: Request) {
        let now = self.now_ms();
        let keep_alive = request.keep_alive;
        let session = match &request.command {
            Command::Open => {
                self.open(ctx, token, keep_alive);
                return;
            }
            Command::Close { session, .. } => {
                self.close_session(ctx, session);
                self.reply(token, vec![close_reply(keep_alive)], keep_alive);
                return;
            }
            Command::Send { session, .. } | Command::Idle { session, .. } => session.clone(),
        };
        let Some(entry) = self.sessions.get_mut(&session) else {
            self.reply(token, vec![gone_reply(keep_alive)], keep_alive);
            return;
        };
        entry.touch(now);
        if entry.data.closed && !entry.has_data_for_client() {
            // Its RTMP side closed and every byte was delivered: the client learns it is gone
            // (as a TCP client would see the close). Until now the session's socket stayed
            // open, so that side waited for the client to hang up, as it does over TCP.
            self.close_session(ctx, &session);
            self.reply(token, vec![gone_reply(keep_alive)], keep_alive);
            return;
        }
        if let Some(other) = entry.data.held_by.take() {
            // A second request for the session (another connection): the first one answers.
            entry.data.held_by = Some(other);
            self.answer_held(ctx, other);
        }
        let Some(entry) = self.sessions.get_mut(&session) else {
            self.reply(token, vec![gone_reply(keep_alive)], keep_alive);
            return;
        };
        let idle = matches!(request.command, Command::Idle { .. });
        if !idle {
            entry.data.to_server.extend_from_slice(&request.body);
            flush_to_server(entry);
        }
        pull_from_server(entry, &mut self.scratch);
        let hold = if idle {
            (!entry.has_data_for_client() && !entry.data.closed)
                .then(|| Some(Instant::now() + IDLE_HOLD))
        } else {
            (entry.data.to_server.len() >= self.limits.max_request_body && !entry.data.closed)
                .then_some(None)
        };
        // One held request per session: a second one (another connection) is answered now.
        match hold.filter(|_| entry.data.held_by.is_none()) {
            Some(until) => {
                entry.data.held_by = Some(token);
                if let Some(conn) = self.http.get_mut(&token) {
                    conn.held = Some(Held {
                        session,
                        keep_alive,
                        until,
                    });
                }
            }
            None => self.answer(token, &session, keep_alive),
        }
    }

    fn open(&mut self, ctx: &mut Ctx<'_>, token: usize, keep_alive: bool) {
        let Some(addr) = self.http.get(&token).map(|c| c.addr) else {
            return;
        };
        let mut random = [0u8; 16];
        if getrandom::fill(&mut random).is_err() {
            self.refuse(token, HttpError::new(503, "no randomness for a session id"));
            return;
        }
        let (session_end, mut local) = match UnixStream::pair() {
            Ok(pair) => pair,
            Err(_) => {
                self.refuse(token, HttpError::new(503, "cannot make a session socket"));
                return;
            }
        };
        let local_token = *ctx.next_token;
        *ctx.next_token += 1;
        if ctx
            .registry
            .register(
                &mut local,
                Token(local_token),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.refuse(token, HttpError::new(503, "cannot poll a session socket"));
            return;
        }
        let end = TunnelEnd {
            local,
            token: local_token,
            readable: true,
            writable: true,
            to_server: BytesMut::new(),
            closed: false,
            held_by: None,
        };
        match self.sessions.open(self.now_ms(), &random, end, keep_alive) {
            Ok((id, reply)) => {
                gst::debug!(CAT, id = ctx.log_id, "RTMPT session opened for {addr}");
                self.locals.insert(local_token, id);
                ctx.opened.push((session_end, addr));
                self.reply(token, vec![reply], keep_alive);
            }
            Err(error) => {
                // The table is full: the session's socket pair closes unused.
                self.refuse(token, error);
            }
        }
    }

    /// Answers a request for `session` now with what the session wrote.
    fn answer(&mut self, token: usize, session: &str, keep_alive: bool) {
        let Some(entry) = self.sessions.get_mut(session) else {
            self.reply(token, vec![gone_reply(keep_alive)], keep_alive);
            return;
        };
        entry.data.held_by = None;
        let parts = entry.reply(keep_alive);
        self.reply(token, parts.to_vec(), keep_alive);
    }

    fn answer_held(&mut self, ctx: &mut Ctx<'_>, token: usize) {
        let Some(held) = self.http.get_mut(&token).and_then(|c| c.held.take()) else {
            return;
        };
        self.answer(token, &held.session, held.keep_alive);
        self.service_http(ctx, token);
    }

    fn reply(&mut self, token: usize, parts: Vec<bytes::Bytes>, keep_alive: bool) {
        if let Some(conn) = self.http.get_mut(&token) {
            conn.pump.pending.extend(parts);
            conn.closing |= !keep_alive;
        }
    }

    fn refuse(&mut self, token: usize, error: HttpError) {
        if let Some(conn) = self.http.get_mut(&token) {
            conn.pump.pending.push_back(error_reply(error));
            conn.closing = true;
        }
    }

    /// Forgets a session; its RTMP side sees its connection close.
    fn close_session(&mut self, ctx: &mut Ctx<'_>, session: &str) {
        if let Some(mut entry) = self.sessions.remove(session) {
            self.locals.remove(&entry.data.token);
            let _ = ctx.registry.deregister(&mut entry.data.local);
            if let Some(waiting) = entry.data.held_by
                && let Some(conn) = self.http.get_mut(&waiting)
                && let Some(held) = conn.held.take()
            {
                conn.pump.pending.push_back(gone_reply(held.keep_alive));
                conn.closing |= !held.keep_alive;
            }
        }
    }

    fn drop_http(&mut self, ctx: &mut Ctx<'_>, token: usize) {
        if let Some(mut conn) = self.http.remove(&token) {
            let _ = ctx.registry.deregister(conn.transport.tcp());
            if let Some(held) = conn.held
                && let Some(entry) = self.sessions.get_mut(&held.session)
            {
                entry.data.held_by = None;
            }
        }
    }

    /// Held idles whose time is up, sessions without requests, silent connections.
    pub fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = Instant::now();
        let due: Vec<usize> = self
            .http
            .iter()
            .filter(|(_, c)| {
                c.held
                    .as_ref()
                    .and_then(|h| h.until)
                    .is_some_and(|u| u <= now)
            })
            .map(|(&t, _)| t)
            .collect();
        for token in due {
            self.answer_held(ctx, token);
        }
        let now_ms = self.now_ms();
        if self.sessions.next_expiry().is_some_and(|at| at <= now_ms) {
            for (_, mut entry) in self.sessions.expire(now_ms) {
                gst::debug!(
                    CAT,
                    id = ctx.log_id,
                    "RTMPT session without requests: closed"
                );
                self.locals.remove(&entry.data.token);
                let _ = ctx.registry.deregister(&mut entry.data.local);
            }
        }
        let silent: Vec<usize> = self
            .http
            .iter()
            .filter(|(_, c)| c.held.is_none() && now - c.last_request >= HTTP_IDLE_TIMEOUT)
            .map(|(&t, _)| t)
            .collect();
        for token in silent {
            self.drop_http(ctx, token);
        }
    }

    /// When [`tick`](Self::tick) has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let held = self
            .http
            .values()
            .filter_map(|c| c.held.as_ref().and_then(|h| h.until))
            .min();
        let expiry = self
            .sessions
            .next_expiry()
            .map(|ms| self.started + Duration::from_millis(ms));
        let silent = self
            .http
            .values()
            .filter(|c| c.held.is_none())
            .map(|c| c.last_request + HTTP_IDLE_TIMEOUT)
            .min();
        [held, expiry, silent].into_iter().flatten().min()
    }
}

/// Writes `send` bytes the session has not taken yet.
fn flush_to_server(entry: &mut SessionEntry<TunnelEnd>) {
    let end = &mut entry.data;
    while end.writable && !end.to_server.is_empty() && !end.closed {
        match send_no_signal(&end.local, &[IoSlice::new(&end.to_server)]) {
            Ok(n) => {
                let _ = end.to_server.split_to(n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => end.writable = false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                end.closed = true;
                end.to_server.clear();
            }
        }
    }
}

/// Reads what the session wrote, while the client's buffer has room.
fn pull_from_server(entry: &mut SessionEntry<TunnelEnd>, scratch: &mut [u8]) {
    while entry.data.readable && entry.room_to_client() > 0 {
        let room = entry.room_to_client().min(scratch.len());
        match entry.data.local.read(&mut scratch[..room]) {
            Ok(0) => {
                entry.data.readable = false;
                entry.data.closed = true;
            }
            Ok(n) => {
                entry.push_to_client(&scratch[..n]);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => entry.data.readable = false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                entry.data.readable = false;
                entry.data.closed = true;
            }
        }
    }
}
