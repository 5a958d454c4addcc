//! The acceptor thread: one mio `Poll` for the listening socket and every client still setting
//! up, each with its own `ServerSession`, until its publish/play is accepted (then it moves to
//! a `Connection` of its own) or refused (then our answer is flushed and it is closed).
//!
//! A pending client costs its socket, its session and a few KiB of buffers: reads go through
//! one buffer the thread shares, not a per-client one. Each is held at most `setup_timeout`;
//! a refused one at most [`LINGER`] more to receive our answer.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::gateway::{Ctx as GatewayCtx, Gateway};
use super::{
    ClientGuard, ClientNotice, ListenOptions, ListenRole, ListenShared, MAX_PENDING, StreamCheck,
    app_matches, check_stream,
};
use crate::connection::pump::Pump;
use crate::connection::serve::Handoff;
use crate::connection::transport::{ServerTlsConfig, Socket, Transport};
use crate::connection::{CAT, Connection};
use crate::protocol::redact::redact_query;
use crate::protocol::session::{ServerConfig, ServerEvent, ServerSession};

pub(super) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// Pending clients' tokens start here and only grow (a BTreeMap keyed by them is oldest first).
const FIRST_CLIENT: usize = 2;
/// A refused client gets this long to read our answer before its socket is closed.
const LINGER: Duration = Duration::from_secs(1);
/// Bytes read from one client per wake-up before the others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// While the listening socket cannot accept (out of file descriptors), retry this often.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// [`MAX_PENDING`]; unit tests fill a smaller one.
fn max_pending() -> usize {
    if cfg!(test) { 8 } else { MAX_PENDING }
}

pub(super) fn run(
    poll: Poll,
    listener: TcpListener,
    shared: Arc<ListenShared>,
    options: ListenOptions,
    tls: Option<ServerTlsConfig>,
) {
    // Real RTMPT clients poll several times a second: a session silent for the setup timeout
    // (at least 2 s) is gone.
    let tunnel_idle = options.setup_timeout.max(Duration::from_secs(2));
    let mut acceptor = Acceptor {
        poll,
        listener,
        shared,
        options,
        tls,
        pending: BTreeMap::new(),
        next_token: FIRST_CLIENT,
        scratch: vec![0u8; 16 * 1024],
        accept_blocked: false,
        again: Vec::new(),
        gateway: Gateway::new(tunnel_idle),
        gateway_again: Vec::new(),
    };
    if let Err(panic) = crate::panics::catch(|| acceptor.run()) {
        gst::error!(
            CAT,
            id = &acceptor.options.log_id,
            "the listener thread panicked: {panic}"
        );
    }
    // `accept` must not wait for a thread that is gone.
    acceptor.shared.lock().shutdown = true;
    acceptor.shared.changed.notify_all();
}

/// A client between TCP accept and the decision on its publish/play.
struct Pending {
    addr: SocketAddr,
    transport: Transport,
    session: ServerSession,
    pump: Pump,
    deadline: Instant,
    app: Option<String>,
    stream: Option<String>,
    /// Refused: our answer is being flushed, then the socket closes.
    closing: bool,
    /// Refused and flushed: our side is shut, waiting for the client to close.
    half_closed: bool,
    /// Its first bytes were looked at (an HTTP method letter makes it an RTMPT connection).
    sniffed: bool,
}

/// What driving a pending client came to.
enum Step {
    Keep,
    /// Read budget used up with data still waiting: come back without waiting.
    Again,
    Drop,
    Handoff {
        stream_id: u32,
        name: String,
    },
    /// An HTTP request came: the connection goes to the RTMPT gateway with these bytes.
    Http(Vec<u8>),
}

struct Acceptor {
    poll: Poll,
    listener: TcpListener,
    shared: Arc<ListenShared>,
    options: ListenOptions,
    tls: Option<ServerTlsConfig>,
    pending: BTreeMap<usize, Pending>,
    next_token: usize,
    scratch: Vec<u8>,
    accept_blocked: bool,
    /// Clients whose read budget ran out with data waiting: driven again without waiting.
    again: Vec<usize>,
    /// RTMPT: HTTP connections and tunnel sessions (whose RTMP ends are pending clients).
    gateway: Gateway,
    gateway_again: Vec<usize>,
}

impl Acceptor {
    fn run(&mut self) {
        if let Err(err) =
            self.poll
                .registry()
                .register(&mut self.listener, LISTENER, Interest::READABLE)
        {
            gst::error!(
                CAT,
                id = &self.options.log_id,
                "cannot poll the listening socket: {err}"
            );
            return;
        }
        let mut events = Events::with_capacity(256);
        loop {
            if self.shared.lock().shutdown {
                return;
            }
            let timeout = if !self.again.is_empty() || !self.gateway_again.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.next_timeout()
            };
            if let Err(err) = self.poll.poll(&mut events, timeout)
                && err.kind() != ErrorKind::Interrupted
            {
                gst::error!(CAT, id = &self.options.log_id, "poll failed: {err}");
                return;
            }
            let mut ready = std::mem::take(&mut self.again);
            let mut gateway_ready = std::mem::take(&mut self.gateway_again);
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept_all(),
                    Token(token) => {
                        let readable = event.is_readable() || event.is_read_closed();
                        let writable = event.is_writable() || event.is_write_closed();
                        if let Some(client) = self.pending.get_mut(&token) {
                            client.pump.readable |= readable;
                            client.pump.writable |= event.is_writable();
                            ready.push(token);
                        } else if self.gateway.owns(token) {
                            self.gateway.note(token, readable, writable);
                            gateway_ready.push(token);
                        }
                    }
                }
            }
            if self.accept_blocked {
                self.accept_all();
            }
            ready.sort_unstable();
            ready.dedup();
            for token in ready {
                if self.service(token) {
                    self.again.push(token);
                }
            }
            gateway_ready.sort_unstable();
            gateway_ready.dedup();
            self.run_gateway(&gateway_ready);
            self.expire();
            self.shared.lock().stats.pending = self.pending.len() as u64;
        }
    }

    /// Drives the gateway's ready tokens and its timers, then takes the tunnel sessions it
    /// opened as clients.
    fn run_gateway(&mut self, ready: &[usize]) {
        let mut opened = Vec::new();
        let mut ctx = GatewayCtx {
            registry: self.poll.registry(),
            next_token: &mut self.next_token,
            opened: &mut opened,
            log_id: &self.options.log_id,
        };
        for &token in ready {
            if self.gateway.service(&mut ctx, token) {
                self.gateway_again.push(token);
            }
        }
        self.gateway.tick(&mut ctx);
        for (socket, addr) in opened {
            let transport = Transport::Plain(Socket::Tunnel(socket));
            self.add_transport(transport, addr, true);
        }
        self.shared.lock().stats.tunnels = self.gateway.sessions() as u64;
    }

    /// Until the earliest deadline of a pending client or the gateway (none: wait for an event).
    fn next_timeout(&self) -> Option<Duration> {
        let earliest = self
            .pending
            .values()
            .map(|c| c.deadline)
            .chain(self.gateway.next_deadline())
            .min();
        let mut timeout = earliest.map(|d| d.saturating_duration_since(Instant::now()));
        if self.accept_blocked {
            timeout = Some(timeout.map_or(ACCEPT_RETRY, |t| t.min(ACCEPT_RETRY)));
        }
        timeout
    }

    /// Takes every waiting connection (edge-triggered: until WouldBlock).
    fn accept_all(&mut self) {
        self.accept_blocked = false;
        loop {
            match self.listener.accept() {
                Ok((socket, addr)) => self.add(socket, addr),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, typically: try again shortly rather than spin.
                    gst::warning!(CAT, id = &self.options.log_id, "accept failed: {e}");
                    self.accept_blocked = true;
                    return;
                }
            }
        }
    }

    fn add(&mut self, socket: TcpStream, addr: SocketAddr) {
        let _ = socket.set_nodelay(true);
        let transport = match &self.tls {
            None => Transport::Plain(socket.into()),
            Some(config) => match Transport::tls_server(socket.into(), config) {
                Ok(transport) => transport,
                Err(err) => {
                    gst::warning!(CAT, id = &self.options.log_id, "TLS for {addr}: {err}");
                    return;
                }
            },
        };
        self.add_transport(transport, addr, false);
    }

    /// Takes a client: a TCP connection, or (`tunnelled`) a tunnel session's RTMP end.
    fn add_transport(&mut self, mut transport: Transport, addr: SocketAddr, tunnelled: bool) {
        if self.pending.len() >= max_pending()
            && let Some((_, oldest)) = self.pending.pop_first()
        {
            self.refused(oldest, "too many clients connecting at once".into());
        }
        let token = self.next_token;
        self.next_token += 1;
        if let Err(err) = self.poll.registry().register(
            transport.tcp(),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            gst::warning!(
                CAT,
                id = &self.options.log_id,
                "cannot poll client {addr}: {err}"
            );
            return;
        }
        let mut random = vec![0u8; 1528];
        // Randomness only makes S1 unpredictable; a fixed pattern still completes the handshake.
        let _ = getrandom::fill(&mut random);
        let session = ServerSession::new(ServerConfig::default(), 0, &random);
        gst::debug!(CAT, id = &self.options.log_id, "client {addr} connected");
        let mut pump = Pump::new();
        // Data may have come with the connection: its edge is gone.
        pump.readable = true;
        pump.writable = true;
        self.pending.insert(
            token,
            Pending {
                addr,
                transport,
                session,
                pump,
                deadline: Instant::now() + self.options.setup_timeout,
                app: None,
                stream: None,
                closing: false,
                half_closed: false,
                sniffed: tunnelled,
            },
        );
        // Serve it at once: a client that sent its C0+C1 with the SYN gets S0+S1+S2 now.
        if self.service(token) {
            self.again.push(token);
        }
    }

    /// Drives one client; true when it should be driven again without waiting.
    fn service(&mut self, token: usize) -> bool {
        let Some(mut client) = self.pending.remove(&token) else {
            return false;
        };
        match self.drive(&mut client) {
            Step::Keep => {
                self.pending.insert(token, client);
                false
            }
            Step::Again => {
                self.pending.insert(token, client);
                true
            }
            Step::Drop => {
                let _ = self.poll.registry().deregister(client.transport.tcp());
                false
            }
            Step::Handoff { stream_id, name } => {
                self.hand_off(client, stream_id, name);
                false
            }
            Step::Http(first_bytes) => {
                let mut opened = Vec::new();
                let mut ctx = GatewayCtx {
                    registry: self.poll.registry(),
                    next_token: &mut self.next_token,
                    opened: &mut opened,
                    log_id: &self.options.log_id,
                };
                self.gateway
                    .add_http(&mut ctx, token, client.transport, client.addr, &first_bytes);
                for (socket, addr) in opened {
                    self.add_transport(Transport::Plain(Socket::Tunnel(socket)), addr, true);
                }
                false
            }
        }
    }

    fn drive(&mut self, client: &mut Pending) -> Step {
        let mut budget = READ_BUDGET;
        loop {
            client.session.take_output(&mut client.pump.pending);
            client.pump.recount();
            if let Err(err) = client.pump.write(&mut client.transport) {
                gst::debug!(
                    CAT,
                    id = &self.options.log_id,
                    "client {} gone while setting up: {err}",
                    client.addr
                );
                return Step::Drop;
            }
            if client.closing
                && !client.half_closed
                && !client.pump.is_waiting_to_write(&client.transport)
            {
                // Shut our side and let the client close first: closing with its data unread
                // would send a reset that can destroy our answer in flight.
                let _ = client.transport.tcp().shutdown(std::net::Shutdown::Write);
                client.half_closed = true;
            }
            if !client.pump.readable {
                return Step::Keep;
            }
            if budget == 0 {
                return Step::Again;
            }
            let n = match client.transport.read(&mut self.scratch) {
                Ok(0) => {
                    if !client.closing {
                        gst::debug!(
                            CAT,
                            id = &self.options.log_id,
                            "client {} closed while setting up",
                            client.addr
                        );
                    }
                    return Step::Drop;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    client.pump.readable = false;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    if !client.closing {
                        let reason = format!("connection failed while setting up: {e}");
                        self.note_refused(client, reason);
                    }
                    return Step::Drop;
                }
            };
            budget = budget.saturating_sub(n);
            if !std::mem::replace(&mut client.sniffed, true) && is_http_method(self.scratch[0]) {
                return Step::Http(self.scratch[..n].to_vec());
            }
            if client.closing {
                // Refused: what it still sends is discarded.
                continue;
            }
            if let Err(err) = client.session.handle_input(&self.scratch[..n]) {
                self.refuse(client, err.to_string());
                continue;
            }
            if let Some(step) = self.decide(client) {
                return step;
            }
        }
    }

    /// Answers what the client asked for; `Some` when it is handed off.
    fn decide(&mut self, client: &mut Pending) -> Option<Step> {
        while let Some(event) = client.session.poll_event() {
            match event {
                ServerEvent::ConnectRequest { app, .. } => {
                    client.app = Some(app.clone());
                    if !app_matches(&self.options.app, &app) {
                        let _ = client.session.reject_connect(&format!(
                            "no application '{}' here",
                            redact_query(&app)
                        ));
                        self.refuse(client, "wrong application".into());
                        return None;
                    }
                    if let Err(err) = client.session.accept_connect() {
                        self.refuse(client, err.to_string());
                        return None;
                    }
                }
                ServerEvent::PublishRequest {
                    stream_id, name, ..
                } => return self.decide_publish(client, stream_id, name),
                ServerEvent::PlayRequest {
                    stream_id, name, ..
                } => return self.decide_play(client, stream_id, name),
                other => gst::trace!(CAT, id = &self.options.log_id, "setting up: {other:?}"),
            }
        }
        None
    }

    fn decide_publish(
        &mut self,
        client: &mut Pending,
        stream_id: u32,
        name: String,
    ) -> Option<Step> {
        client.stream = Some(name.clone());
        const BAD_NAME: &str = "NetStream.Publish.BadName";
        let refusal = if self.options.role == ListenRole::Players {
            Some((
                "NetStream.Publish.Denied",
                "this listener serves players only",
            ))
        } else {
            match check_stream(&self.options, client.app.as_deref(), &name) {
                StreamCheck::WrongStream => Some((BAD_NAME, "wrong stream name")),
                StreamCheck::WrongKey => Some((BAD_NAME, "wrong stream key")),
                StreamCheck::Ok if self.shared.lock().publishing > 0 => {
                    Some((BAD_NAME, "the stream is already being published"))
                }
                StreamCheck::Ok => None,
            }
        };
        if let Some((code, description)) = refusal {
            let _ = client.session.reject_publish(stream_id, code, description);
            self.refuse(client, description.into());
            return None;
        }
        if let Err(err) = client.session.accept_publish(stream_id) {
            self.refuse(client, err.to_string());
            return None;
        }
        Some(Step::Handoff { stream_id, name })
    }

    fn decide_play(&mut self, client: &mut Pending, stream_id: u32, name: String) -> Option<Step> {
        client.stream = Some(name.clone());
        const NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
        let refusal = if self.options.role == ListenRole::Publishers {
            Some((NOT_FOUND, "this listener takes publishers only"))
        } else {
            match check_stream(&self.options, client.app.as_deref(), &name) {
                StreamCheck::WrongStream => Some((NOT_FOUND, "wrong stream name")),
                StreamCheck::WrongKey => Some((NOT_FOUND, "wrong stream key")),
                StreamCheck::Ok
                    if self.shared.lock().stats.current >= self.options.max_clients as u64 =>
                {
                    Some(("NetStream.Play.Failed", "too many players"))
                }
                StreamCheck::Ok => None,
            }
        };
        if let Some((code, description)) = refusal {
            let _ = client.session.reject_play(stream_id, code, description);
            self.refuse(client, description.into());
            return None;
        }
        if let Err(err) = client.session.accept_play(stream_id) {
            self.refuse(client, err.to_string());
            return None;
        }
        Some(Step::Handoff { stream_id, name })
    }

    /// Refuses a client: our answer (already queued in its session) is flushed, then it closes.
    fn refuse(&mut self, client: &mut Pending, reason: String) {
        client.session.close();
        client.closing = true;
        client.deadline = Instant::now() + LINGER;
        self.note_refused(client, reason);
    }

    /// Counts and reports a refusal.
    fn note_refused(&self, client: &Pending, reason: String) {
        gst::info!(
            CAT,
            id = &self.options.log_id,
            "refused client {}: {reason}",
            client.addr
        );
        self.shared.lock().stats.refused += 1;
        (self.options.notify)(ClientNotice::Refused {
            addr: client.addr,
            app: client.app.clone(),
            stream: client.stream.clone(),
            reason,
        });
    }

    /// Closes a client that is dropped without its own refusal (evicted, timed out).
    fn refused(&mut self, mut client: Pending, reason: String) {
        let _ = self.poll.registry().deregister(client.transport.tcp());
        if !client.closing {
            self.note_refused(&client, reason);
        }
    }

    /// Closes every client past its deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<usize> = self
            .pending
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&token, _)| token)
            .collect();
        let timeout = self.options.setup_timeout;
        for token in expired {
            if let Some(client) = self.pending.remove(&token) {
                self.refused(
                    client,
                    format!("did not publish or play within {} s", timeout.as_secs_f32()),
                );
            }
        }
    }

    /// Moves an accepted client to a connection of its own.
    fn hand_off(&mut self, mut client: Pending, stream_id: u32, name: String) {
        if let Err(err) = self.poll.registry().deregister(client.transport.tcp()) {
            gst::warning!(
                CAT,
                id = &self.options.log_id,
                "cannot hand over {}: {err}",
                client.addr
            );
            return;
        }
        let addr = client.addr;
        let app = client.app.clone().unwrap_or_default();
        let publisher = self.options.role == ListenRole::Publishers;
        let guard = {
            let mut inner = self.shared.lock();
            ClientGuard::new(
                self.shared.clone(),
                &mut inner,
                self.options.notify.clone(),
                addr,
                name.clone(),
                publisher,
            )
        };
        let handoff = Handoff {
            transport: client.transport,
            session: client.session,
            pending_output: client.pump.pending,
            addr,
            stream_id,
            role: self.options.role,
            stall_timeout: self.options.setup_timeout.max(Duration::from_secs(10)),
            guard,
        };
        let limits = (
            self.options.max_outgoing_bytes,
            self.options.max_incoming_bytes,
        );
        gst::info!(
            CAT,
            id = &self.options.log_id,
            "client {addr} {} stream {}",
            if publisher { "publishes" } else { "plays" },
            redact_query(&name)
        );
        (self.options.notify)(ClientNotice::Connected {
            addr,
            app,
            stream: name.clone(),
        });
        match Connection::serve(handoff, limits, self.options.log_id.clone()) {
            Ok(connection) => {
                let mut inner = self.shared.lock();
                inner.ready.push_back(super::Accepted {
                    addr,
                    stream: name,
                    connection,
                });
                drop(inner);
                self.shared.changed.notify_all();
            }
            // The handoff (and its guard) went with the failed spawn: Disconnected is posted.
            Err(err) => gst::error!(CAT, id = &self.options.log_id, "cannot serve {addr}: {err}"),
        }
    }
}

/// RTMP starts with version byte 3 (6 for RTMPE); an HTTP request with its method's first
/// letter (POST for RTMPT; anything else gets its status from the gateway).
fn is_http_method(first: u8) -> bool {
    first.is_ascii_uppercase()
}
