//! One RTMP connection owned by an element: a socket, a [`ClientSession`] and an I/O thread.
//!
//! The I/O thread does all socket work, so acknowledgements and ping answers keep flowing while
//! the streaming thread is busy or blocked. The element talks to it through bounded queues:
//! media to publish goes in with [`Connection::send`], which blocks while the queue is full
//! (back-pressure reaches upstream instead of memory growing); what a played stream delivers
//! comes out of [`Connection::recv`]. Every wait is bounded by a timeout or ends when the element
//! flushes or shuts the connection down, so state changes never hang on the network.
//!
//! `rtmpt[s]://` runs the same loop over a local socket pair: a tunnel thread (`tunnel.rs`)
//! carries its other end in HTTP requests (through a proxy if set), and the listener's gateway
//! (`listener/gateway.rs`) answers them on the port that serves plain RTMP.

mod figures;
mod io;
pub mod listener;
mod pump;
mod read_buffer;
mod receive_window;
mod send_cap;
mod serve;
mod transport;
mod tunnel;

pub use figures::{LinkFigures, TcpFigures, media_between};
pub use listener::{
    Accepted, ClientNotice, ListenOptions, ListenRole, Listener, ListenerStats, ServerTlsOptions,
};
pub use transport::{TlsOptions, TlsValidation};
pub use tunnel::{HttpProxy, TunnelOptions};

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::protocol::chunk::Payload;
use crate::protocol::session::enhanced::PeerCodecs;
use crate::protocol::session::{
    ClientConfig, SessionError, SessionEvent, SessionMode, SessionStats, StopCommands,
};
use crate::uri::Location;

/// Media waiting to be written before `send` blocks, unless an element sets its own bound.
pub const DEFAULT_MAX_OUTGOING_BYTES: usize = 8 * 1024 * 1024;
/// Received media waiting for the element before reading pauses.
pub const DEFAULT_MAX_INCOMING_BYTES: usize = 4 * 1024 * 1024;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtmpconnection",
        gst::DebugColorFlags::empty(),
        Some("RTMP connection I/O"),
    )
});

/// Where to connect and how the session should behave.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    /// Bounds name resolution, TCP connect, handshake and the RTMP connect/publish/play exchange.
    pub timeout: Duration,
    pub session: ClientConfig,
    /// TLS (`rtmps://`, and `rtmpts://` under the HTTP tunnel) when set.
    pub tls: Option<TlsOptions>,
    /// RTMPT (`rtmpt[s]://`): RTMP in HTTP requests to `host:port`, perhaps through a proxy.
    pub tunnel: Option<TunnelOptions>,
    pub stop_commands: StopCommands,
    /// Media waiting to be written may hold at most this many bytes before `send` blocks.
    pub max_outgoing_bytes: usize,
    /// Received media waiting for the element may hold at most this many bytes before reading pauses.
    pub max_incoming_bytes: usize,
    /// Adaptive bitrate: TCP_NOTSENT_LOWAT for the socket (the kernel then keeps at most about
    /// this many unsent bytes, so congestion shows in our queue) and TCP_INFO sampled for
    /// [`Connection::figures`]. `None`: the kernel's defaults, nothing sampled.
    pub send_low_watermark: Option<u32>,
    /// With `send_low_watermark`: the send buffer is sized to about this long at the link's
    /// rate, so that little media waits in flight where it cannot be dropped (see
    /// `send_cap.rs`). `None`: the kernel's autotuning.
    pub in_flight_budget: Option<Duration>,
    /// Names the connection in the debug log (the element's name): two elements in one
    /// process are told apart.
    pub log_id: gst::glib::GString,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConnectionError {
    #[error("could not resolve host '{host}': {reason}")]
    Resolve { host: String, reason: String },
    #[error("connection refused by {0}")]
    Refused(String),
    #[error("could not connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("timed out after {0:?} waiting for the server")]
    Timeout(Duration),
    #[error("{0}")]
    Session(Arc<SessionError>),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("the server took no data for {0:?}: it stopped reading")]
    Stalled(Duration),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("server closed the connection")]
    Closed,
    #[error("server closed the connection {0}")]
    ClosedDuringSetup(&'static str),
    #[error("operation interrupted")]
    Flushing,
    /// Listener mode: the address could not be bound (in use, not local, no permission).
    #[error("could not listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    /// Listener mode: the certificate or key for rtmps:// listening is unusable.
    #[error("TLS certificate/key: {0}")]
    ServerTls(String),
    /// Listener mode: what a client sent broke the protocol (the server session's error).
    #[error("{0}")]
    Client(String),
    /// A bug of ours: the I/O thread panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SessionError> for ConnectionError {
    fn from(err: SessionError) -> Self {
        ConnectionError::Session(Arc::new(err))
    }
}

impl ConnectOptions {
    /// The same options aimed at another server, from a tcUrl (`rtmp[s]://host[:port]/app`):
    /// where Enhanced RTMP's reconnect request sends a publisher.
    pub fn retarget(&self, tc_url: &str) -> Result<ConnectOptions, String> {
        let stream = match &self.session.mode {
            SessionMode::Publish { stream, .. } | SessionMode::Play { stream, .. } => stream,
        };
        let location = Location::parse(&format!("{}/{stream}", tc_url.trim_end_matches('/')))
            .map_err(|e| e.to_string())?;
        let mut options = self.clone();
        options.host = location.host.clone();
        options.port = location.port;
        options.session.app = location.application.clone();
        options.session.tc_url = location.tc_url();
        options.tls = location.scheme.is_tls().then(|| {
            self.tls.clone().unwrap_or(TlsOptions {
                validation: TlsValidation::ALL,
                ca_file: None,
            })
        });
        options.tunnel = match location.scheme.is_tunnel() {
            true => Some(self.tunnel.clone().unwrap_or_default()),
            false => None,
        };
        Ok(options)
    }
}

/// What an element asks the I/O thread to send while publishing. Payloads may be in several
/// parts (e.g. the encoder's memory as is): they reach the socket without being copied.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Audio {
        timestamp: u32,
        payload: Payload,
    },
    Video {
        timestamp: u32,
        payload: Payload,
    },
    /// An AMF0 data message body, e.g. `@setDataFrame onMetaData {...}`.
    Data {
        timestamp: u32,
        payload: Payload,
    },
    ChunkSize(u32),
    /// Playing a recording: move to this many milliseconds.
    Seek(u32),
    /// Playing a recording: pause or resume, at this position in milliseconds.
    Pause {
        pause: bool,
        ms: u32,
    },
    /// Playing: play this stream name on a second stream of the connection (a rendition).
    PlayAnother(String),
    /// Playing: the second stream with this id becomes the played one; the old one is deleted.
    CutOver(u32),
    /// Playing: delete a second stream that is no longer wanted.
    DeleteStream(u32),
    /// A connection started with `defer_play`: play this stream now.
    StartPlay(String),
    /// Playing: ask the server for a `play2` transition.
    Play2(crate::protocol::session::Play2),
}

impl Outgoing {
    fn size(&self) -> usize {
        match self {
            Outgoing::Audio { payload, .. }
            | Outgoing::Video { payload, .. }
            | Outgoing::Data { payload, .. } => payload.len(),
            _ => 0,
        }
    }

    /// The timestamp of a media (or data) message.
    fn media_timestamp(&self) -> Option<u32> {
        match self {
            Outgoing::Audio { timestamp, .. }
            | Outgoing::Video { timestamp, .. }
            | Outgoing::Data { timestamp, .. } => Some(*timestamp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Ready,
    /// The session ended: politely closed, or failed (see `error`).
    Ended,
}

struct Inner {
    phase: Phase,
    error: Option<ConnectionError>,
    outgoing: VecDeque<Outgoing>,
    outgoing_bytes: usize,
    incoming: VecDeque<SessionEvent>,
    incoming_bytes: usize,
    /// Media the I/O thread took from `outgoing` that the kernel has not taken yet.
    unsent_bytes: usize,
    close_requested: bool,
    /// How long the element waits in `close`: a player's last media may take that long to go out.
    close_timeout: Duration,
    /// Set when the element leaves the streaming states: the I/O thread drops the socket.
    shutdown: bool,
    /// Set while the element flushes: waits return `Flushing` at once.
    flushing: bool,
    /// The I/O thread is inside a blocking name lookup.
    resolving: bool,
    /// A publishing server asked us to reconnect (Enhanced RTMP), to this tcUrl when given.
    reconnect_request: Option<Option<String>>,
    /// The server's connect answer came: what it said about Enhanced RTMP (`None` inside for a
    /// legacy server).
    server_codecs: Option<Option<PeerCodecs>>,
    /// The information object of the server's connect answer (fmsVer, capabilities...).
    server_info: Option<crate::protocol::amf0::Amf0Value>,
    stats: SessionStats,
    /// Timestamps of the newest media message queued and of the last one the I/O thread
    /// handed to the session: the media duration waiting on our side.
    newest_queued_ts: Option<u32>,
    last_taken_ts: Option<u32>,
    /// The kernel's figures, sampled by the I/O thread when `send_low_watermark` is set.
    tcp: Option<TcpFigures>,
    /// A receive-window cap for the I/O thread to apply: for media of that many bytes per
    /// second (`None` inside: lift it), see [`Connection::cap_receive_window`].
    window_cap: Option<Option<u32>>,
    /// Wake-ups cost a syscall each (eventfd write, futex wake), so they are made only when
    /// somebody waits for them. Each flag below is set under the mutex in the same critical
    /// section in which its waiter found nothing to do, and read under the mutex by whoever
    /// changes that: a change made before the waiter's check is seen by the check, one made
    /// after sees the flag. The waker clears the flag (one eventfd write per park is enough);
    /// the I/O thread clears both when poll returns. close() and Drop, once per connection,
    /// wake it unconditionally (a wake that comes early ends the next poll at once).
    ///
    /// Set while the I/O thread is about to block in poll, or blocks there, with an empty
    /// outgoing queue it could take media from (publishing, unsent output small): the only
    /// state in which `send` must wake it. Otherwise it either loops without blocking, or
    /// waits for the socket (to write what it holds, or for the session to start), which a
    /// new item does not change.
    io_wants_media: bool,
    /// Set while the I/O thread is about to block in poll, or blocks there, with unread
    /// socket data it leaves alone because `incoming` is full. `recv` wakes it once the
    /// queue is down to half (a batch of reads per wake, not one per event); that point is
    /// always reached, since a consumer waits in `recv` only when the queue is empty.
    io_wants_room: bool,
    /// Threads blocked in `wait_until`: the I/O thread notifies `changed` only when some are.
    /// Counted under the mutex before waiting, uncounted after waking, so a notifier that
    /// changed state under the mutex and saw zero knows every waiter will see the change.
    waiters: usize,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds, `timeout` passes (returns false) or the element flushes/shuts
    /// down. The clock is read only when there is something to wait for.
    fn wait_until<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner>,
        timeout: Option<Duration>,
        mut done: impl FnMut(&Inner) -> bool,
    ) -> Result<(MutexGuard<'a, Inner>, bool), ConnectionError> {
        let mut deadline = None;
        loop {
            if inner.flushing || inner.shutdown {
                return Err(ConnectionError::Flushing);
            }
            if done(&inner) {
                return Ok((inner, true));
            }
            let timeout = match timeout {
                None => None,
                Some(timeout) => {
                    let now = Instant::now();
                    let deadline = *deadline.get_or_insert(now + timeout);
                    if now >= deadline {
                        return Ok((inner, false));
                    }
                    Some(deadline - now)
                }
            };
            inner.waiters += 1;
            inner = match timeout {
                None => self.changed.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(timeout) => {
                    self.changed
                        .wait_timeout(inner, timeout)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            inner.waiters -= 1;
        }
    }

    /// Notifies `changed` if a thread waits on it; `inner` is the guard under which the change
    /// was made.
    fn notify_waiters(&self, inner: MutexGuard<'_, Inner>) {
        let waiting = inner.waiters > 0;
        drop(inner);
        if waiting {
            self.changed.notify_all();
        }
    }
}

/// A running connection. Dropping it shuts the I/O thread down.
pub struct Connection {
    shared: Arc<Shared>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
    max_outgoing_bytes: usize,
    max_incoming_bytes: usize,
    log_id: gst::glib::GString,
}

impl Connection {
    /// Starts connecting in the background; [`wait_ready`](Self::wait_ready) waits for the result.
    pub fn start(mut options: ConnectOptions) -> Result<Connection, ConnectionError> {
        // The I/O thread and `recv` must agree on the bound (0 would stop reading for good).
        options.max_outgoing_bytes = options.max_outgoing_bytes.max(1);
        options.max_incoming_bytes = options.max_incoming_bytes.max(1);
        let limits = (options.max_outgoing_bytes, options.max_incoming_bytes);
        let log_id = options.log_id.clone();
        Self::spawn(Phase::Connecting, limits, log_id, move |poll, shared| {
            io::run(poll, shared, options)
        })
    }

    /// Starts the I/O thread `run` with a fresh poll (its waker registered) and shared state
    /// in `phase`. `limits` are the outgoing and incoming bounds (at least 1).
    fn spawn(
        phase: Phase,
        limits: (usize, usize),
        log_id: gst::glib::GString,
        run: impl FnOnce(mio::Poll, Arc<Shared>) + Send + 'static,
    ) -> Result<Connection, ConnectionError> {
        let (max_outgoing_bytes, max_incoming_bytes) = limits;
        let poll = mio::Poll::new().map_err(|e| ConnectionError::Io(e.to_string()))?;
        let waker = Arc::new(
            mio::Waker::new(poll.registry(), io::WAKER)
                .map_err(|e| ConnectionError::Io(e.to_string()))?,
        );
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                phase,
                error: None,
                outgoing: VecDeque::new(),
                outgoing_bytes: 0,
                incoming: VecDeque::new(),
                incoming_bytes: 0,
                unsent_bytes: 0,
                close_requested: false,
                close_timeout: Duration::ZERO,
                shutdown: false,
                flushing: false,
                resolving: false,
                reconnect_request: None,
                server_codecs: None,
                server_info: None,
                stats: SessionStats::default(),
                newest_queued_ts: None,
                last_taken_ts: None,
                tcp: None,
                window_cap: None,
                io_wants_media: false,
                io_wants_room: false,
                waiters: 0,
            }),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rtmp-io".into())
            .spawn(move || run(poll, thread_shared))
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        Ok(Connection {
            shared,
            waker,
            thread: Some(thread),
            max_outgoing_bytes,
            max_incoming_bytes,
            log_id,
        })
    }

    fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            gst::warning!(
                CAT,
                id = &self.log_id,
                "could not wake the I/O thread: {err}"
            );
        }
    }

    /// Waits until publishing or playing has started.
    pub fn wait_ready(&self) -> Result<(), ConnectionError> {
        self.wait_ready_for(None).map(|_| ())
    }

    /// Like [`wait_ready`](Self::wait_ready), at most `timeout`: `Ok(false)` when it passes
    /// first (the connection goes on).
    pub fn wait_ready_for(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        let inner = self.shared.lock();
        let (inner, done) = self
            .shared
            .wait_until(inner, timeout, |i| i.phase != Phase::Connecting)?;
        match inner.phase {
            _ if !done => Ok(false),
            Phase::Ready => Ok(true),
            _ => Err(inner.error.clone().unwrap_or(ConnectionError::Closed)),
        }
    }

    /// Queues media for sending, blocking while the queue holds more than its bound.
    pub fn send(&self, item: Outgoing) -> Result<(), ConnectionError> {
        let size = item.size();
        let max = self.max_outgoing_bytes;
        let inner = self.shared.lock();
        let (mut inner, _) = self.shared.wait_until(inner, None, |i| {
            i.phase == Phase::Ended || i.outgoing.is_empty() || i.outgoing_bytes + size <= max
        })?;
        if inner.phase == Phase::Ended {
            return Err(inner.error.clone().unwrap_or(ConnectionError::Closed));
        }
        if let Some(timestamp) = item.media_timestamp() {
            inner.newest_queued_ts = Some(timestamp);
        }
        inner.outgoing_bytes += size;
        inner.outgoing.push_back(item);
        let wake = std::mem::take(&mut inner.io_wants_media);
        drop(inner);
        if wake {
            self.wake();
        }
        Ok(())
    }

    /// What adaptation reads: media waiting on our side (bytes, and duration from
    /// timestamps), what was sent and acknowledged, and the kernel's view when sampled.
    pub fn figures(&self) -> LinkFigures {
        let inner = self.shared.lock();
        let queued_media = match (inner.last_taken_ts, inner.newest_queued_ts) {
            (Some(taken), Some(newest)) => figures::media_between(taken, newest),
            _ => Duration::ZERO,
        };
        LinkFigures {
            queued_bytes: inner.outgoing_bytes,
            held_bytes: inner.unsent_bytes,
            queued_media,
            last_taken_ts: inner.last_taken_ts,
            sent_bytes: inner.stats.out_bytes_total,
            server_acked_bytes: inner.stats.out_bytes_acked,
            tcp: inner.tcp,
        }
    }

    /// Queues media for a player without ever blocking: `Ok(false)` when it does not fit the
    /// outgoing bound (the item is then dropped; the caller decides what to skip).
    pub fn try_send(&self, item: Outgoing) -> Result<bool, ConnectionError> {
        let size = item.size();
        let mut inner = self.shared.lock();
        if inner.phase == Phase::Ended {
            return Err(inner.error.clone().unwrap_or(ConnectionError::Closed));
        }
        if !inner.outgoing.is_empty() && inner.outgoing_bytes + size > self.max_outgoing_bytes {
            return Ok(false);
        }
        inner.outgoing_bytes += size;
        inner.outgoing.push_back(item);
        let wake = std::mem::take(&mut inner.io_wants_media);
        drop(inner);
        if wake {
            self.wake();
        }
        Ok(true)
    }

    /// Media bytes queued and not yet taken by the kernel: the queue plus what the I/O thread
    /// holds (how far a player lags behind).
    pub fn queued_bytes(&self) -> usize {
        let inner = self.shared.lock();
        inner.outgoing_bytes + inner.unsent_bytes
    }

    /// Caps the TCP receive window to what media of `bytes_per_sec` needs (`None`: lifts the
    /// cap): the server then has at most that window in flight to us, whatever it has queued.
    pub fn cap_receive_window(&self, bytes_per_sec: Option<u32>) {
        self.shared.lock().window_cap = Some(bytes_per_sec);
        self.wake();
    }

    /// Sends a seek or pause of a played recording (never waits: they take no room).
    pub fn send_control(&self, item: Outgoing) -> Result<(), ConnectionError> {
        let mut inner = self.shared.lock();
        if inner.phase == Phase::Ended {
            return Err(inner.error.clone().unwrap_or(ConnectionError::Closed));
        }
        inner.outgoing.push_back(item);
        drop(inner);
        // Rare: always wake, the I/O thread may sleep in poll with nothing else to do.
        self.wake();
        Ok(())
    }

    /// The next event of a played stream; `Ok(None)` when `timeout` passes first.
    /// Once the connection has ended and every event was taken, returns the reason it ended
    /// (`Closed` when the server closed the socket).
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<SessionEvent>, ConnectionError> {
        self.recv_or(timeout, || {})
    }

    /// Like [`recv`](Self::recv), calling `before_waiting` first when no event is there yet:
    /// the caller learns that it has taken every event that arrived together.
    pub fn recv_or(
        &self,
        timeout: Option<Duration>,
        before_waiting: impl FnOnce(),
    ) -> Result<Option<SessionEvent>, ConnectionError> {
        let mut inner = self.shared.lock();
        if inner.incoming.is_empty() {
            drop(inner);
            before_waiting();
            inner = self.shared.lock();
        }
        let (mut inner, ready) = self.shared.wait_until(inner, timeout, |i| {
            !i.incoming.is_empty() || i.phase == Phase::Ended
        })?;
        if !ready {
            return Ok(None);
        }
        match inner.incoming.pop_front() {
            Some(event) => {
                inner.incoming_bytes -= io::event_size(&event);
                let wake =
                    inner.io_wants_room && inner.incoming_bytes <= self.max_incoming_bytes / 2;
                if wake {
                    inner.io_wants_room = false;
                }
                drop(inner);
                if wake {
                    self.wake();
                }
                Ok(Some(event))
            }
            None => Err(inner.error.clone().unwrap_or(ConnectionError::Closed)),
        }
    }

    /// Sends everything queued, the stop commands, and closes the socket; waits at most `timeout`.
    pub fn close(&self, timeout: Duration) -> Result<(), ConnectionError> {
        let mut inner = self.shared.lock();
        inner.close_requested = true;
        inner.close_timeout = timeout;
        drop(inner);
        // Once per connection: always wake (a pending wake also ends the next poll at once).
        self.wake();
        let inner = self.shared.lock();
        let (inner, ended) = self
            .shared
            .wait_until(inner, Some(timeout), |i| i.phase == Phase::Ended)?;
        if !ended {
            return Err(ConnectionError::Timeout(timeout));
        }
        match &inner.error {
            None => Ok(()),
            Some(err) => Err(err.clone()),
        }
    }

    /// While flushing, every wait returns `Flushing` at once (GstBaseSink/Src unlock semantics).
    pub fn set_flushing(&self, flushing: bool) {
        self.shared.lock().flushing = flushing;
        self.shared.changed.notify_all();
    }

    /// The error that ended the connection, if it has ended with one.
    pub fn error(&self) -> Option<ConnectionError> {
        self.shared.lock().error.clone()
    }

    pub fn stats(&self) -> SessionStats {
        self.shared.lock().stats
    }

    /// Once the server answered connect: the Enhanced RTMP codecs it listed (`Some(None)`: it
    /// listed none, as legacy servers do). `None` before the answer.
    pub fn server_codecs(&self) -> Option<Option<PeerCodecs>> {
        self.shared.lock().server_codecs.clone()
    }

    /// What the server said about itself in its connect answer.
    pub fn server_info(&self) -> Option<crate::protocol::amf0::Amf0Value> {
        self.shared.lock().server_info.clone()
    }

    /// The server's latest reconnect request, once: `Some(tc_url)` (the tcUrl may be absent).
    pub fn take_reconnect_request(&self) -> Option<Option<String>> {
        self.shared.lock().reconnect_request.take()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        self.wake();
        if let Some(thread) = self.thread.take() {
            // The thread notices the shutdown within one poll; only name resolution may keep it
            // longer, and it exits as soon as that returns.
            let resolving = self.shared.lock().resolving;
            if thread.is_finished() || !resolving {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests;
