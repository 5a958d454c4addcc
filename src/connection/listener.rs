//! Listener mode: a bound socket and one acceptor thread that takes clients through the
//! handshake, connect and publish/play request, checks what they ask for, and hands each accepted
//! one over as a [`Connection`] running the server side of the session.
//!
//! Clients still setting up cost no thread: the acceptor polls the listening socket and every
//! pending client with one mio `Poll`, each client with its own `ServerSession`. Each is held at
//! most `setup_timeout`, and at most [`MAX_PENDING`] are held at once (the oldest is closed
//! first), so idle or slow sockets cannot keep a real client out.
//!
//! The same port serves RTMPT: a client whose first byte is an HTTP method letter (RTMP's is 3)
//! goes to the gateway (`gateway.rs`), and each tunnel session it opens comes back to the
//! acceptor as a client of its own, so its setup and serving are a TCP client's.

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CAT, Connection, ConnectionError};

mod acceptor;
mod gateway;
#[cfg(test)]
mod tests;

/// Clients in setup held at once; a new one beyond this closes the oldest.
pub const MAX_PENDING: usize = 512;

/// Which clients a listener takes: rtmpsrc takes publishers, rtmpsink serves players.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenRole {
    Publishers,
    Players,
}

/// `rtmps://` listening: the certificate chain and its key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsOptions {
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
}

/// What happened to a client, for the element's messages. `stream` is the name the client
/// asked for, query included: print it through `redact_query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientNotice {
    Connected {
        addr: SocketAddr,
        app: String,
        stream: String,
    },
    Refused {
        addr: SocketAddr,
        app: Option<String>,
        stream: Option<String>,
        reason: String,
    },
    Disconnected {
        addr: SocketAddr,
        stream: String,
        reason: Option<String>,
    },
}

/// Where to listen and what to accept.
#[derive(Clone)]
pub struct ListenOptions {
    /// Where to bind (0.0.0.0, ::, 127.0.0.1; port 0 picks a free one).
    pub host: String,
    pub port: u16,
    /// What a client must ask for (the stream without query).
    pub app: String,
    pub stream: String,
    /// An extra key check: see [`key_matches`].
    pub stream_key: Option<String>,
    pub role: ListenRole,
    /// Accepted connections alive at once (players); publishers: one publishing at a time.
    pub max_clients: usize,
    /// Handshake + connect + publish/play request, per client.
    pub setup_timeout: Duration,
    pub tls: Option<ServerTlsOptions>,
    /// Per accepted connection (a player's queue).
    pub max_outgoing_bytes: usize,
    pub max_incoming_bytes: usize,
    pub log_id: gst::glib::GString,
    /// Called from the listener's threads.
    pub notify: Arc<dyn Fn(ClientNotice) + Send + Sync>,
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("app", &self.app)
            .field("stream", &self.stream)
            .field(
                "stream_key",
                &self.stream_key.as_ref().map(|_| "<redacted>"),
            )
            .field("role", &self.role)
            .field("max_clients", &self.max_clients)
            .field("setup_timeout", &self.setup_timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Clients accepted and refused since binding, accepted connections alive now, and clients
/// still setting up (handshake to publish/play).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    pub accepted: u64,
    pub refused: u64,
    pub current: u64,
    pub pending: u64,
    /// RTMPT tunnel sessions open now.
    pub tunnels: u64,
}

/// A client whose publish or play was accepted.
pub struct Accepted {
    pub addr: SocketAddr,
    /// The stream name it asked for, query included.
    pub stream: String,
    pub connection: Connection,
}

/// A bound listener; dropping it closes the socket and every pending client, and ends the
/// accepted RTMPT clients too (their tunnels run on the listener's thread).
pub struct Listener {
    shared: Arc<ListenShared>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// What the acceptor thread, the accepted connections' guards and `accept` share.
pub(super) struct ListenShared {
    inner: Mutex<ListenInner>,
    changed: Condvar,
}

#[derive(Default)]
struct ListenInner {
    /// Accepted clients not yet taken by `accept`.
    ready: VecDeque<Accepted>,
    flushing: bool,
    /// The listener is being dropped, or its thread ended.
    shutdown: bool,
    stats: ListenerStats,
    /// Accepted publishers that have not unpublished (at most one may publish).
    publishing: usize,
}

impl ListenShared {
    fn lock(&self) -> MutexGuard<'_, ListenInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Listener {
    /// Binds now: an address in use, or unreadable TLS files, fail here.
    pub fn bind(mut options: ListenOptions) -> Result<Listener, ConnectionError> {
        options.max_clients = options.max_clients.max(1);
        let tls = match &options.tls {
            None => None,
            Some(files) => Some(
                super::transport::server_config(&files.certificate_file, &files.key_file)
                    .map_err(ConnectionError::ServerTls)?,
            ),
        };
        let addr = resolve(&options.host, options.port)?;
        let bind_error = |e: std::io::Error| ConnectionError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        };
        let socket = mio::net::TcpListener::bind(addr).map_err(bind_error)?;
        let local_addr = socket.local_addr().map_err(bind_error)?;
        let poll = mio::Poll::new().map_err(|e| ConnectionError::Io(e.to_string()))?;
        let waker = Arc::new(
            mio::Waker::new(poll.registry(), acceptor::WAKER)
                .map_err(|e| ConnectionError::Io(e.to_string()))?,
        );
        let shared = Arc::new(ListenShared {
            inner: Mutex::new(ListenInner::default()),
            changed: Condvar::new(),
        });
        gst::info!(CAT, id = &options.log_id, "listening on {local_addr}");
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rtmp-listen".into())
            .spawn(move || acceptor::run(poll, socket, thread_shared, options, tls))
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        Ok(Listener {
            shared,
            waker,
            thread: Some(thread),
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next client whose publish/play was accepted; `Ok(None)` when `timeout` passes;
    /// `Err(Flushing)` while flushing or after shutdown.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Option<Accepted>, ConnectionError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.shared.lock();
        loop {
            if inner.flushing || inner.shutdown {
                return Err(ConnectionError::Flushing);
            }
            if let Some(accepted) = inner.ready.pop_front() {
                return Ok(Some(accepted));
            }
            inner = match deadline {
                None => self
                    .shared
                    .changed
                    .wait(inner)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline
                        .checked_duration_since(Instant::now())
                        .filter(|d| !d.is_zero())
                    else {
                        return Ok(None);
                    };
                    self.shared
                        .changed
                        .wait_timeout(inner, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// While flushing, `accept` returns `Flushing` at once; clients keep being accepted.
    pub fn set_flushing(&self, flushing: bool) {
        self.shared.lock().flushing = flushing;
        self.shared.changed.notify_all();
    }

    pub fn stats(&self) -> ListenerStats {
        self.shared.lock().stats
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Accepted clients nobody took: their connections end (and say so) here.
        let ready = std::mem::take(&mut self.shared.lock().ready);
        drop(ready);
    }
}

/// The bind address: an IP literal as is, a name through the resolver (first address).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConnectionError> {
    let resolve_error = |reason: String| ConnectionError::Resolve {
        host: host.to_owned(),
        reason,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| resolve_error(e.to_string()))?
        .next()
        .ok_or_else(|| resolve_error("no addresses".into()))
}

/// Held by an accepted client's I/O thread: counts it as current (and as publishing) until it
/// ends, then tells the element it left.
pub(super) struct ClientGuard {
    shared: Arc<ListenShared>,
    notify: Arc<dyn Fn(ClientNotice) + Send + Sync>,
    addr: SocketAddr,
    stream: String,
    publishing: bool,
    finished: bool,
}

impl ClientGuard {
    /// Counts a client accepted now (the caller holds the lock and posts `Connected`).
    fn new(
        shared: Arc<ListenShared>,
        inner: &mut ListenInner,
        notify: Arc<dyn Fn(ClientNotice) + Send + Sync>,
        addr: SocketAddr,
        stream: String,
        publishing: bool,
    ) -> Self {
        inner.stats.accepted += 1;
        inner.stats.current += 1;
        if publishing {
            inner.publishing += 1;
        }
        ClientGuard {
            shared,
            notify,
            addr,
            stream,
            publishing,
            finished: false,
        }
    }

    /// The publisher unpublished: another may publish while this socket is still open.
    pub(super) fn release_publishing(&mut self) {
        if std::mem::take(&mut self.publishing) {
            let mut inner = self.shared.lock();
            inner.publishing = inner.publishing.saturating_sub(1);
        }
    }

    /// The client is gone, for `reason` (`None`: it left cleanly).
    pub(super) fn finish(&mut self, reason: Option<String>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.release_publishing();
        {
            let mut inner = self.shared.lock();
            inner.stats.current = inner.stats.current.saturating_sub(1);
        }
        (self.notify)(ClientNotice::Disconnected {
            addr: self.addr,
            stream: self.stream.clone(),
            reason,
        });
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.finish(Some("connection dropped".into()));
    }
}

/// Why a client's request is refused, if it is; see [`check_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamCheck {
    Ok,
    WrongStream,
    WrongKey,
}

/// Whether a client's application matches (its query, if any, is not part of the name; a
/// trailing `/` as some clients send is ignored).
pub(super) fn app_matches(expected: &str, requested: &str) -> bool {
    let base = requested.split_once('?').map_or(requested, |(a, _)| a);
    base.trim_end_matches('/') == expected.trim_end_matches('/')
}

/// Checks a publish/play request's stream name (with its query) against what the listener
/// expects.
///
/// The name before `?` must be the location's stream. With a `stream-key`, the key must also
/// be presented, in one of two ways:
/// - as the value of any query parameter of the stream name or of the application
///   (`cam?key=K`, `cam?token=K`, or app `live?key=K`), as nginx-rtmp's on_publish checks and
///   OBS's "stream key" field (`cam?key=K`) send it;
/// - or as the stream name itself (`K`): OBS users often paste only the key, so a name equal to
///   the key is accepted in place of the location's stream.
pub(super) fn check_stream(
    options: &ListenOptions,
    app: Option<&str>,
    requested: &str,
) -> StreamCheck {
    let (base, query) = requested.split_once('?').unwrap_or((requested, ""));
    let Some(key) = options.stream_key.as_deref() else {
        return match base == options.stream {
            true => StreamCheck::Ok,
            false => StreamCheck::WrongStream,
        };
    };
    if base == key {
        return StreamCheck::Ok;
    }
    if base != options.stream {
        return StreamCheck::WrongStream;
    }
    let app_query = app.and_then(|a| a.split_once('?')).map_or("", |(_, q)| q);
    let presented = [query, app_query]
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|param| param.split_once('=').map(|(_, value)| value))
        .any(|value| constant_time_eq(value.as_bytes(), key.as_bytes()));
    match presented {
        true => StreamCheck::Ok,
        false => StreamCheck::WrongKey,
    }
}

/// Compares without returning early, so timing does not tell how much of a key was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
