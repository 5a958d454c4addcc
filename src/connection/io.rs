//! The I/O thread: resolves, connects, and then shuttles bytes between the socket and the session.
//!
//! mio readiness is edge-triggered, so the loop remembers whether the socket was last seen
//! readable/writable and keeps reading or writing until the kernel says WouldBlock.

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::TunnelOptions;
use super::pump::Pump;
use super::receive_window;
use super::send_cap::{self, SendCap};
use super::transport::{Socket, TlsFailure, Transport};
use super::tunnel::{self, TunnelHandle};
use super::{CAT, ConnectOptions, ConnectionError, Inner, Outgoing, Phase, Shared};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::redact::redact_query;
use crate::protocol::session::{
    ClientSession, SessionError, SessionEvent, SessionMode, SessionState,
};

pub(super) const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// The session's unsent output is kept below this; beyond it, media stays in the bounded queue.
const MAX_UNSENT: usize = 256 * 1024;
/// The same with adaptive bitrate (`send_low_watermark`): media waits in the queue, where its
/// duration is known, rather than in the session's output.
const MAX_UNSENT_ADAPTIVE: usize = 32 * 1024;
/// How often the kernel's figures are sampled with adaptive bitrate.
const TCP_INFO_EVERY: Duration = Duration::from_millis(50);
/// How long a closing publisher waits for the server to close after our half-close.
const MAX_DRAIN: Duration = Duration::from_secs(2);

/// What an event counts toward the incoming queue's bound: media by payload, data messages also
/// by the memory their values hold (a server may send large ones), anything else a nominal 64.
pub(super) fn event_size(event: &SessionEvent) -> usize {
    match event {
        SessionEvent::Media { payload, .. } => payload.len(),
        SessionEvent::OnStream { event, .. } => event_size(event),
        SessionEvent::Data { values, .. } => {
            64 + values.iter().map(Amf0Value::held_bytes).sum::<usize>()
        }
        _ => 64,
    }
}

pub(super) fn run(poll: Poll, shared: Arc<Shared>, options: ConnectOptions) {
    let mut io = Io {
        poll,
        shared,
        options,
        pump: Pump::new(),
        tunnel: None,
        max_unsent: MAX_UNSENT,
        tcp_sampled_at: None,
        send_cap: None,
    };
    if io.options.send_low_watermark.is_some() {
        io.max_unsent = MAX_UNSENT_ADAPTIVE;
    }
    let result = crate::panics::catch(|| {
        crate::panics::inject(&io.options.host, "io");
        io.run()
    })
    .unwrap_or_else(|panic| {
        Err(ConnectionError::Internal(format!(
            "the I/O thread panicked: {panic}"
        )))
    });
    let mut inner = io.shared.lock();
    if let Err(err) = result {
        if err != ConnectionError::Flushing {
            gst::debug!(CAT, id = &io.options.log_id, "connection ended: {err}");
        }
        inner.error = Some(err);
    }
    inner.phase = Phase::Ended;
    drop(inner);
    io.shared.changed.notify_all();
}

struct Io {
    poll: Poll,
    shared: Arc<Shared>,
    options: ConnectOptions,
    pump: Pump,
    /// The RTMPT tunnel thread of the current connection (`rtmpt://`).
    tunnel: Option<TunnelHandle>,
    /// The session's unsent output is kept below this (see [`MAX_UNSENT`]).
    max_unsent: usize,
    /// When TCP_INFO was last read (adaptive bitrate only).
    tcp_sampled_at: Option<Instant>,
    /// Sizes the current socket's send buffer (`in_flight_budget`).
    send_cap: Option<SendCap>,
}

impl Io {
    /// Connects and runs the session; authentication challenges take a new connection each
    /// (Adobe's exchange needs two), with the parameters the session worked out.
    fn run(&mut self) -> Result<(), ConnectionError> {
        const MAX_AUTH_ROUNDS: usize = 3;
        for _ in 0..MAX_AUTH_ROUNDS {
            let mut random = [0u8; 4];
            let _ = getrandom::fill(&mut random);
            self.options.session.auth_random = u32::from_le_bytes(random);
            match self.run_connection() {
                Err(ConnectionError::Session(err)) => match err.as_ref() {
                    SessionError::AuthRetry(state) => {
                        gst::debug!(
                            CAT,
                            id = &self.options.log_id,
                            "authenticating: {}",
                            state.mode_name()
                        );
                        self.options.session.auth = state.clone();
                        self.pump.pending.clear();
                        self.pump.unsent = 0;
                        self.pump.readable = false;
                        self.pump.writable = false;
                    }
                    _ => return Err(ConnectionError::Session(err)),
                },
                other => return other,
            }
        }
        Err(SessionError::ConnectRejected {
            code: String::new(),
            description: "authentication did not finish".into(),
        }
        .into())
    }

    fn run_connection(&mut self) -> Result<(), ConnectionError> {
        let deadline = Instant::now() + self.options.timeout;
        let mut stream = self.connect(deadline)?;
        // Media is latency-sensitive and we batch writes ourselves.
        let _ = stream.set_nodelay(true);
        if let Some(bytes) = self.options.send_low_watermark
            && let Err(err) = super::figures::set_notsent_lowat(&stream, bytes)
        {
            gst::warning!(
                CAT,
                id = &self.options.log_id,
                "could not set TCP_NOTSENT_LOWAT: {err}"
            );
        }
        // A new socket starts from the kernel's sizes; so does its measurement.
        self.send_cap = self
            .options
            .send_low_watermark
            .and(self.options.in_flight_budget)
            .map(SendCap::new);
        let proxy = self.options.tunnel.as_ref().and_then(|t| t.proxy.clone());
        if let (Some(proxy), Some(_)) = (proxy, &self.options.tls) {
            let shared = self.shared.clone();
            let target = (self.options.host.as_str(), self.options.port);
            tunnel::proxy_connect(
                &mut self.poll,
                &mut stream,
                &proxy,
                target,
                deadline,
                || shared.lock().shutdown,
            )?;
        }
        let mut stream = match &self.options.tls {
            None => Transport::Plain(stream.into()),
            Some(tls) => Transport::tls(stream.into(), &self.options.host, tls)
                .map_err(|e| ConnectionError::Tls(e.to_string()))?,
        };
        if let Some(tunnel) = &self.options.tunnel {
            stream = self.start_tunnel(stream, tunnel.clone())?;
        }
        let mut random = vec![0u8; 1528];
        // Randomness only makes C1 unpredictable; a fixed pattern still completes the handshake.
        let _ = getrandom::fill(&mut random);
        let mut session = ClientSession::new(self.options.session.clone(), 0, &random);
        let mut events = Events::with_capacity(16);
        let mut closing = false;
        let mut close_deadline = None;
        loop {
            self.pull_outgoing(&mut session, &mut closing, &mut close_deadline)?;
            session.take_output(&mut self.pump.pending);
            self.pump.recount();
            self.write(&mut stream, session.state())?;
            if closing && self.pump.pending.is_empty() && !stream.has_buffered_output() {
                // Closing with the server's messages (acks) unread would make the kernel send a
                // reset, and a server still working through its receive buffer would lose the
                // end of the stream. Half-close instead, and let the server close first.
                let _ = stream.tcp().shutdown(std::net::Shutdown::Write);
                self.drain(&mut stream);
                return Ok(());
            }
            let waiting_to_write = !self.pump.pending.is_empty() || stream.has_buffered_output();
            if !waiting_to_write {
                self.pump.last_write_progress = Instant::now();
            }
            // The check for work queued for us and the flags that ask for a wake are one
            // critical section (see `Inner::io_wants_media`).
            let tcp = self.sample_tcp(&mut stream);
            let mut inner = self.shared.lock();
            if inner.shutdown {
                return Err(ConnectionError::Flushing);
            }
            inner.unsent_bytes = self.pump.unsent;
            if tcp.is_some() {
                inner.tcp = tcp;
            }
            let publishing = session.state() == SessionState::Publishing;
            let media_queued = publishing && !inner.outgoing.is_empty();
            // Queued media we can take now: the kernel took everything, or a send() came after
            // pull_outgoing (which stops only at MAX_UNSENT or an empty queue).
            let media_ready =
                media_queued && (self.pump.writable || self.pump.unsent < self.max_unsent);
            let timeout = match (session.state(), close_deadline) {
                // Only look for events, then go on sending. Blocking here would leave the
                // media queued until the next send() wakes us, and at EOS until close() times out.
                _ if media_ready => Some(Duration::ZERO),
                (_, Some(close_by)) => Some(remaining(close_by, self.options.timeout)?),
                // A server that stops taking our data for `timeout` is gone for a live stream.
                (SessionState::Publishing, None) if waiting_to_write => Some(
                    remaining(
                        self.pump.last_write_progress + self.options.timeout,
                        self.options.timeout,
                    )
                    .map_err(|_| ConnectionError::Stalled(self.options.timeout))?,
                ),
                (SessionState::Publishing | SessionState::Playing, None) => None,
                _ => Some(remaining(deadline, self.options.timeout)?),
            };
            // What is in flight drains without us: adaptation must see it go, so the kernel's
            // figures are sampled on while any is left.
            let draining = self.options.send_low_watermark.is_some()
                && inner
                    .tcp
                    .is_some_and(|t| t.in_flight_bytes > 0 || t.notsent_bytes > 0);
            let timeout = match timeout {
                _ if !draining => timeout,
                Some(timeout) => Some(timeout.min(TCP_INFO_EVERY)),
                None => Some(TCP_INFO_EVERY),
            };
            let window_cap = inner.window_cap.take();
            let full = inner.incoming_bytes >= self.options.max_incoming_bytes;
            let must_poll = !self.pump.readable || full;
            if must_poll && timeout != Some(Duration::ZERO) {
                inner.io_wants_media =
                    publishing && !media_queued && self.pump.unsent < self.max_unsent;
                inner.io_wants_room = full && self.pump.readable;
            }
            drop(inner);
            if let Some(cap) = window_cap {
                self.cap_receive_window(&mut stream, cap);
            }
            if must_poll {
                self.poll
                    .poll(&mut events, timeout)
                    .or_else(|e| match e.kind() {
                        ErrorKind::Interrupted => Ok(()),
                        _ => Err(ConnectionError::Io(e.to_string())),
                    })?;
                self.pump.note(&events, SOCKET);
            }
            let mut inner = self.shared.lock();
            inner.io_wants_media = false;
            inner.io_wants_room = false;
            if inner.shutdown {
                return Err(ConnectionError::Flushing);
            }
            let full = inner.incoming_bytes >= self.options.max_incoming_bytes;
            drop(inner);
            if self.pump.readable && !full {
                self.read(&mut stream, &mut session)?;
            }
        }
    }

    /// Adaptive bitrate: the kernel's figures, at most every [`TCP_INFO_EVERY`].
    fn sample_tcp(&mut self, stream: &mut Transport) -> Option<super::TcpFigures> {
        self.options.send_low_watermark?;
        let now = Instant::now();
        if self
            .tcp_sampled_at
            .is_some_and(|at| now.duration_since(at) < TCP_INFO_EVERY)
        {
            return None;
        }
        self.tcp_sampled_at = Some(now);
        let Socket::Tcp(tcp) = stream.tcp() else {
            return None;
        };
        let figures = super::figures::read_tcp_info(tcp)?;
        if let Some(cap) = self.send_cap.as_mut()
            && let Some(bytes) = cap.on_sample(now, &figures)
            && let Err(err) = send_cap::set_send_buffer(tcp, bytes)
        {
            gst::warning!(
                CAT,
                id = &self.options.log_id,
                "could not set SO_SNDBUF: {err}"
            );
            self.send_cap = None;
        }
        Some(figures)
    }

    /// See [`Connection::cap_receive_window`](super::Connection::cap_receive_window). Not
    /// for RTMPT: the HTTP connection is the tunnel thread's.
    fn cap_receive_window(&self, stream: &mut Transport, bytes_per_sec: Option<u32>) {
        let Socket::Tcp(tcp) = stream.tcp() else {
            return;
        };
        let window = bytes_per_sec.map(|rate| {
            let rtt = super::figures::read_tcp_info(tcp).map_or(Duration::ZERO, |f| f.min_rtt);
            receive_window::window_for(rate, rtt)
        });
        match receive_window::cap_receive_window(tcp, window) {
            Ok(()) => gst::debug!(
                CAT,
                id = &self.options.log_id,
                "receive window {}",
                window.map_or("uncapped".into(), |w| format!("capped at {w} bytes"))
            ),
            Err(err) => gst::warning!(
                CAT,
                id = &self.options.log_id,
                "could not cap the receive window: {err}"
            ),
        }
    }

    /// RTMPT: the HTTP connection goes to the tunnel thread, the session runs on the local end
    /// of its socket pair (registered where the TCP socket was).
    fn start_tunnel(
        &mut self,
        mut http: Transport,
        options: TunnelOptions,
    ) -> Result<Transport, ConnectionError> {
        let io_error = |e: std::io::Error| ConnectionError::Io(e.to_string());
        self.poll
            .registry()
            .deregister(http.tcp())
            .map_err(io_error)?;
        let tls = self.options.tls.is_some();
        let config = tunnel::client_config(&self.options.host, self.options.port, &options, tls);
        let (local, handle) = tunnel::start(
            http,
            config,
            self.options.timeout,
            self.options.log_id.clone(),
        )?;
        let mut stream = Transport::Plain(Socket::Tunnel(local));
        self.poll
            .registry()
            .register(
                stream.tcp(),
                SOCKET,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(io_error)?;
        self.pump.readable = true;
        self.pump.writable = true;
        // The previous connection's tunnel (authentication rounds) ends here.
        self.tunnel = Some(handle);
        Ok(stream)
    }

    /// The tunnel's own error, when the tunnel ended the connection.
    fn tunnel_error(&self) -> Option<ConnectionError> {
        self.tunnel.as_ref().and_then(TunnelHandle::error)
    }

    /// After our half-close: reads and discards until the server closes, for at most
    /// [`MAX_DRAIN`] (or the timeout, if shorter), or until the element shuts down.
    fn drain(&mut self, stream: &mut Transport) {
        let deadline = Instant::now() + MAX_DRAIN.min(self.options.timeout);
        let shared = self.shared.clone();
        let closed = self
            .pump
            .drain(&mut self.poll, stream, SOCKET, deadline, || {
                shared.lock().shutdown
            });
        if !closed {
            gst::debug!(
                CAT,
                id = &self.options.log_id,
                "server did not close within {MAX_DRAIN:?} of our close"
            );
        }
    }

    fn connect(&mut self, deadline: Instant) -> Result<TcpStream, ConnectionError> {
        // RTMPT through a proxy: the TCP connection goes to the proxy.
        let (host, port) = match self.options.tunnel.as_ref().and_then(|t| t.proxy.as_ref()) {
            Some(proxy) => (proxy.host.clone(), proxy.port),
            None => (self.options.host.clone(), self.options.port),
        };
        // Name resolution cannot be interrupted; Drop does not wait for it (see `resolving`).
        self.shared.lock().resolving = true;
        let resolved = (host.as_str(), port).to_socket_addrs();
        self.shared.lock().resolving = false;
        let addrs: Vec<SocketAddr> = resolved
            .map_err(|e| ConnectionError::Resolve {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .collect();
        let mut last_error = ConnectionError::Resolve {
            host: host.clone(),
            reason: "no addresses".into(),
        };
        for addr in addrs {
            match self.connect_one(addr, deadline) {
                Ok(stream) => return Ok(stream),
                Err(err @ (ConnectionError::Timeout(_) | ConnectionError::Flushing)) => {
                    return Err(err);
                }
                Err(err) => last_error = err,
            }
        }
        Err(last_error)
    }

    fn connect_one(
        &mut self,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<TcpStream, ConnectionError> {
        gst::debug!(CAT, id = &self.options.log_id, "connecting to {addr}");
        let connect_error = |reason: std::io::Error| match reason.kind() {
            ErrorKind::ConnectionRefused => ConnectionError::Refused(addr.to_string()),
            _ => ConnectionError::Connect {
                addr: addr.to_string(),
                reason: reason.to_string(),
            },
        };
        let mut stream = TcpStream::connect(addr).map_err(connect_error)?;
        self.poll
            .registry()
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        let mut events = Events::with_capacity(4);
        loop {
            if self.shared.lock().shutdown {
                return Err(ConnectionError::Flushing);
            }
            let timeout = remaining(deadline, self.options.timeout)?;
            self.poll
                .poll(&mut events, Some(timeout))
                .or_else(|e| match e.kind() {
                    ErrorKind::Interrupted => Ok(()),
                    _ => Err(ConnectionError::Io(e.to_string())),
                })?;
            if !events.iter().any(|e| e.token() == SOCKET) {
                continue;
            }
            if let Ok(Some(err)) | Err(err) = stream.take_error() {
                let _ = self.poll.registry().deregister(&mut stream);
                return Err(connect_error(err));
            }
            match stream.peer_addr() {
                Ok(_) => {
                    // Readiness is edge-triggered: data that arrived while we waited for the
                    // connection sent its edge already, so try reading at once.
                    self.pump.writable = true;
                    self.pump.readable = true;
                    return Ok(stream);
                }
                Err(err) if err.kind() == ErrorKind::NotConnected => continue,
                Err(err) => {
                    let _ = self.poll.registry().deregister(&mut stream);
                    return Err(connect_error(err));
                }
            }
        }
    }

    /// Moves queued media into the session while its unsent output is small, and notices close requests.
    fn pull_outgoing(
        &mut self,
        session: &mut ClientSession,
        closing: &mut bool,
        close_deadline: &mut Option<Instant>,
    ) -> Result<(), ConnectionError> {
        let mut inner = self.shared.lock();
        if inner.shutdown {
            return Err(ConnectionError::Flushing);
        }
        inner.stats = session.stats();
        let mut moved = false;
        if session.state() == SessionState::StartingStream
            && matches!(inner.outgoing.front(), Some(Outgoing::StartPlay(_)))
            && let Some(Outgoing::StartPlay(name)) = inner.outgoing.pop_front()
        {
            session.play_deferred(&name)?;
        }
        if session.state() == SessionState::Playing {
            // A player queues only seeks and pauses.
            while let Some(item) = inner.outgoing.pop_front() {
                match item {
                    Outgoing::Seek(ms) => session.seek(ms)?,
                    Outgoing::Pause { pause, ms } => session.pause(pause, ms)?,
                    Outgoing::PlayAnother(name) => session.play_another(&name)?,
                    // The element cuts over only to a stream that played; if it ended meanwhile,
                    // the old one stays (its events tell the element).
                    Outgoing::CutOver(id) => {
                        if let Ok(old) = session.promote(id) {
                            session.delete_stream(old)?;
                            // Every event read so far went out already: this marks the cut.
                            push_incoming(&mut inner, SessionEvent::Promoted(id));
                        }
                    }
                    // Deleted already (a cut-over, the session closing): nothing to do.
                    Outgoing::DeleteStream(id) => {
                        let _ = session.delete_stream(id);
                    }
                    Outgoing::Play2(options) => session.play2(&options)?,
                    other => gst::debug!(
                        CAT,
                        id = &self.options.log_id,
                        "ignoring {other:?} while playing"
                    ),
                }
            }
        }
        while self.pump.unsent < self.max_unsent && session.state() == SessionState::Publishing {
            let Some(item) = inner.outgoing.pop_front() else {
                break;
            };
            inner.outgoing_bytes -= item.size();
            moved = true;
            self.pump.unsent += item.size();
            if let Some(timestamp) = item.media_timestamp() {
                inner.last_taken_ts = Some(timestamp);
            }
            match item {
                Outgoing::Audio { timestamp, payload } => session.send_audio(timestamp, payload)?,
                Outgoing::Video { timestamp, payload } => session.send_video(timestamp, payload)?,
                Outgoing::Data { timestamp, payload } => session.send_data(timestamp, payload)?,
                Outgoing::ChunkSize(size) => session.set_chunk_size(size),
                _ => {}
            }
        }
        if inner.close_requested && !*closing && inner.outgoing.is_empty() {
            *closing = true;
            *close_deadline = Some(Instant::now() + self.options.timeout);
            session.close(self.options.stop_commands);
        } else if inner.close_requested && !*closing && session.state() != SessionState::Publishing
        {
            // Nothing queued can be sent any more (never started, or playing).
            inner.outgoing.clear();
            inner.outgoing_bytes = 0;
            moved = true;
            *closing = true;
            *close_deadline = Some(Instant::now() + self.options.timeout);
            session.close(self.options.stop_commands);
        }
        // Only a send() waiting for room cares; nobody waiting means no syscall.
        if moved {
            self.shared.notify_waiters(inner);
        }
        Ok(())
    }

    fn write(
        &mut self,
        stream: &mut Transport,
        state: SessionState,
    ) -> Result<(), ConnectionError> {
        self.pump.write(stream).map_err(|e| {
            self.tunnel_error().unwrap_or_else(|| match e.kind() {
                ErrorKind::WriteZero => closed_error(state),
                _ => io_error(e, state),
            })
        })
    }

    fn read(
        &mut self,
        stream: &mut Transport,
        session: &mut ClientSession,
    ) -> Result<(), ConnectionError> {
        let result = self
            .pump
            .read_buffer
            .read_with(|buf| stream.read(buf), session.recv_buffer());
        match result {
            Ok(0) => {
                return Err(self
                    .tunnel_error()
                    .unwrap_or_else(|| closed_error(session.state())));
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.pump.readable = false;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => {
                return Err(self
                    .tunnel_error()
                    .unwrap_or_else(|| io_error(e, session.state())));
            }
        }
        session.process()?;
        self.dispatch(session);
        Ok(())
    }

    fn dispatch(&mut self, session: &mut ClientSession) {
        let playing = matches!(session.config().mode, SessionMode::Play { .. });
        let mut inner = self.shared.lock();
        let mut changed = false;
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::PublishStarted | SessionEvent::PlayStarted => {
                    inner.phase = Phase::Ready;
                    changed = true;
                    if playing {
                        push_incoming(&mut inner, event);
                    }
                }
                SessionEvent::Connected(info) => {
                    inner.server_codecs = Some(session.peer_codecs().cloned());
                    inner.server_info = Some(info);
                }
                SessionEvent::Skipped { type_id, reason } => {
                    gst::warning!(
                        CAT,
                        id = &self.options.log_id,
                        "skipped a message of type {type_id}: {reason}"
                    );
                }
                other if playing => {
                    push_incoming(&mut inner, other);
                    changed = true;
                }
                SessionEvent::Status(status) => {
                    gst::info!(
                        CAT,
                        id = &self.options.log_id,
                        "server status {} {}",
                        status.code,
                        status.description
                    );
                }
                SessionEvent::ReconnectRequest { tc_url } => {
                    let to = tc_url.as_deref().map(redact_query);
                    gst::info!(
                        CAT,
                        id = &self.options.log_id,
                        "server asks us to reconnect (to {to:?})"
                    );
                    inner.reconnect_request = Some(tc_url);
                }
                other => gst::debug!(
                    CAT,
                    id = &self.options.log_id,
                    "ignoring {other:?} while publishing"
                ),
            }
        }
        inner.stats = session.stats();
        // recv() waits only while `incoming` is empty: a batch of events wakes it once, and not
        // at all while it is still busy with earlier ones.
        if changed {
            self.shared.notify_waiters(inner);
        }
    }
}

/// A close before the stream started means the server refused something (nginx-rtmp drops the
/// connection on `deny publish`, for example): say where it happened.
fn closed_error(state: SessionState) -> ConnectionError {
    let stage = match state {
        SessionState::Handshaking => "during the handshake",
        SessionState::Connecting => "after the connect command",
        SessionState::CreatingStream => "after createStream",
        SessionState::StartingStream => "after the publish/play request (refused by the server?)",
        SessionState::Publishing | SessionState::Playing | SessionState::Closed => {
            return ConnectionError::Closed;
        }
    };
    ConnectionError::ClosedDuringSetup(stage)
}

/// A reset is a close too: servers that refuse often close with our data still unread.
fn io_error(err: std::io::Error, state: SessionState) -> ConnectionError {
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<TlsFailure>()) {
        return ConnectionError::Tls(tls.0.to_string());
    }
    match err.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            match closed_error(state) {
                ConnectionError::Closed => ConnectionError::Io(err.to_string()),
                during_setup => during_setup,
            }
        }
        _ => ConnectionError::Io(err.to_string()),
    }
}

fn push_incoming(inner: &mut Inner, event: SessionEvent) {
    inner.incoming_bytes += event_size(&event);
    inner.incoming.push_back(event);
}

fn remaining(deadline: Instant, timeout: Duration) -> Result<Duration, ConnectionError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(ConnectionError::Timeout(timeout))
}
