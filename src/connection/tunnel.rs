//! The client side of RTMPT (`rtmpt://`, `rtmpts://`): a thread that carries the session's
//! bytes in HTTP requests.
//!
//! The session's I/O loop (`io.rs`) runs unchanged on one end of a local socket pair; this
//! thread holds the other end and the HTTP connection, and moves bytes between them through
//! the sans-IO [`TunnelClient`]: what the session writes is queued and posted in one `send`
//! per reply, replies' RTMP bytes are written back to the session, and `idle` polls keep the
//! server's bytes coming. Every wait is bounded: a reply must come within the connection's
//! timeout; the thread ends when the session's end closes (after a `/close`), on a tunnel
//! error (kept for the session's error, the socket pair then closes as a TCP connection
//! would), or when the connection is dropped.

use std::io::{ErrorKind, IoSlice, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::UnixStream;
use mio::{Events, Interest, Poll, Token};

use super::pump::Pump;
use super::transport::{TlsFailure, Transport, send_no_signal};
use super::{CAT, ConnectionError};
use crate::protocol::rtmpt::{TunnelClient, TunnelClientConfig, TunnelError};

const WAKER: Token = Token(0);
const HTTP: Token = Token(1);
const LOCAL: Token = Token(2);
/// Session bytes read ahead of the tunnel, and server bytes held for the session, at most.
const MAX_BUFFERED: usize = 512 * 1024;
/// How long the `/close` exchange may take once the session is done.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// `rtmpt://` settings beyond host and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelOptions {
    pub proxy: Option<HttpProxy>,
}

/// An HTTP proxy the requests go through (absolute-form targets, Basic authentication).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProxy {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl HttpProxy {
    fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        let user = self.user.as_deref()?;
        let credentials = format!("{user}:{}", self.password.as_deref().unwrap_or(""));
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))
    }
}

/// The request settings for a server at `host:port`, through `proxy` if set.
/// Over TLS (`rtmpts://`) the proxy only relays a CONNECT tunnel: the requests inside it are
/// the server's own.
pub(super) fn client_config(
    host: &str,
    port: u16,
    options: &TunnelOptions,
    tls: bool,
) -> TunnelClientConfig {
    let mut config = TunnelClientConfig::direct(host, port);
    if let Some(proxy) = options.proxy.as_ref().filter(|_| !tls) {
        config.target_prefix = format!("http://{}", config.host);
        config.proxy_authorization = proxy.authorization();
    }
    config
}

/// Longest answer head we read from a proxy's CONNECT.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Asks the proxy on `stream` (connected, registered on `poll`) for a tunnel to
/// `host:port` (for `rtmpts://`: TLS then runs through it), waiting at most until `deadline`
/// or until `stop` says the element shut down.
pub(super) fn proxy_connect(
    poll: &mut Poll,
    stream: &mut mio::net::TcpStream,
    proxy: &HttpProxy,
    target: (&str, u16),
    deadline: Instant,
    stop: impl Fn() -> bool,
) -> Result<(), ConnectionError> {
    let authority = crate::protocol::rtmpt::client::host_header(target.0, target.1);
    let authorization = proxy
        .authorization()
        .map(|value| format!("Proxy-Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: Shockwave Flash\r\n\
         {authorization}\r\n"
    );
    let mut to_write = request.as_bytes();
    let mut head = Vec::new();
    let mut events = Events::with_capacity(4);
    let timeout = deadline.saturating_duration_since(Instant::now());
    loop {
        if stop() {
            return Err(ConnectionError::Flushing);
        }
        while !to_write.is_empty() {
            match send_no_signal(stream, &[IoSlice::new(to_write)]) {
                Ok(n) => to_write = &to_write[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(http_error(e)),
            }
        }
        // Byte by byte: what follows the head is the server's, for TLS.
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte) {
                Ok(0) => {
                    return Err(ConnectionError::Io(
                        "the HTTP proxy closed the connection before answering CONNECT".into(),
                    ));
                }
                Ok(_) => {
                    head.push(byte[0]);
                    if head.ends_with(b"\r\n\r\n") {
                        return connect_answer(&head);
                    }
                    if head.len() > MAX_CONNECT_HEAD {
                        return Err(ConnectionError::Io(
                            "the HTTP proxy's answer is too long".into(),
                        ));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(http_error(e)),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectionError::Timeout(timeout));
        }
        match poll.poll(&mut events, Some(left.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnectionError::Io(e.to_string())),
        }
    }
}

/// The proxy's answer to CONNECT: 200 opens the tunnel, anything else refuses it.
fn connect_answer(head: &[u8]) -> Result<(), ConnectionError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) if response.code == Some(200) => Ok(()),
        Ok(httparse::Status::Complete(_)) => Err(ConnectionError::Io(format!(
            "the HTTP proxy refused the tunnel: HTTP {}",
            response.code.unwrap_or(0)
        ))),
        _ => Err(ConnectionError::Io(
            "the HTTP proxy's answer to CONNECT is not HTTP".into(),
        )),
    }
}

/// The running tunnel thread; dropping it stops the thread.
pub(super) struct TunnelHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    error: Arc<Mutex<Option<ConnectionError>>>,
    thread: Option<JoinHandle<()>>,
}

impl TunnelHandle {
    /// Why the tunnel ended, if it failed.
    pub fn error(&self) -> Option<ConnectionError> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TunnelHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the tunnel over `http` (connected, not registered anywhere); returns the session's
/// end of the socket pair.
pub(super) fn start(
    http: Transport,
    config: TunnelClientConfig,
    timeout: Duration,
    log_id: gst::glib::GString,
) -> Result<(UnixStream, TunnelHandle), ConnectionError> {
    let io_error = |e: std::io::Error| ConnectionError::Io(e.to_string());
    let (session_end, tunnel_end) = UnixStream::pair().map_err(io_error)?;
    let poll = Poll::new().map_err(io_error)?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER).map_err(io_error)?);
    let stop = Arc::new(AtomicBool::new(false));
    let error = Arc::new(Mutex::new(None));
    let mut tunnel = Tunnel {
        poll,
        http,
        http_pump: Pump::new(),
        local: tunnel_end,
        local_readable: true,
        local_writable: true,
        to_local: BytesMut::new(),
        client: TunnelClient::new(config),
        timeout,
        stop: stop.clone(),
        log_id,
        started: Instant::now(),
        request_sent: None,
        close_by: None,
    };
    let thread_error = error.clone();
    let thread = std::thread::Builder::new()
        .name("rtmpt-client".into())
        .spawn(move || {
            let result = crate::panics::catch(|| tunnel.run()).unwrap_or_else(|panic| {
                Err(ConnectionError::Internal(format!(
                    "the RTMPT thread panicked: {panic}"
                )))
            });
            if let Err(err) = result {
                gst::debug!(CAT, id = &tunnel.log_id, "RTMPT tunnel ended: {err}");
                *thread_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
            }
            // Dropping the tunnel closes our end: the session sees its connection close.
        })
        .map_err(io_error)?;
    Ok((
        session_end,
        TunnelHandle {
            stop,
            waker,
            error,
            thread: Some(thread),
        },
    ))
}

struct Tunnel {
    poll: Poll,
    http: Transport,
    http_pump: Pump,
    local: UnixStream,
    local_readable: bool,
    local_writable: bool,
    /// Server bytes not yet taken by the session.
    to_local: BytesMut,
    client: TunnelClient,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    log_id: gst::glib::GString,
    started: Instant,
    /// When the request in flight went out.
    request_sent: Option<Instant>,
    /// The session closed its end: the close exchange must end by then.
    close_by: Option<Instant>,
}

fn tunnel_error(err: TunnelError) -> ConnectionError {
    match err {
        // The server forgot us: as a TCP connection the server closed.
        TunnelError::SessionGone => ConnectionError::Closed,
        other => ConnectionError::Io(other.to_string()),
    }
}

fn http_error(err: std::io::Error) -> ConnectionError {
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<TlsFailure>()) {
        return ConnectionError::Tls(tls.0.to_string());
    }
    ConnectionError::Io(format!("RTMPT HTTP connection: {err}"))
}

impl Tunnel {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn run(&mut self) -> Result<(), ConnectionError> {
        let registry = self.poll.registry();
        let io_error = |e: std::io::Error| ConnectionError::Io(e.to_string());
        registry
            .register(
                self.http.tcp(),
                HTTP,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(io_error)?;
        registry
            .register(
                &mut self.local,
                LOCAL,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(io_error)?;
        // The connect saw the socket's edges already.
        self.http_pump.readable = true;
        self.http_pump.writable = true;
        let mut events = Events::with_capacity(8);
        let mut scratch = vec![0u8; 64 * 1024];
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            self.read_local(&mut scratch)?;
            if self.client.is_closed() || (self.close_by.is_some() && !self.client.is_open()) {
                return Ok(());
            }
            let now = self.now_ms();
            if self.http_pump.pending.is_empty()
                && let Some(parts) = self.client.poll_request(now)
            {
                self.http_pump.pending.extend(parts);
                self.request_sent = Some(Instant::now());
            }
            self.http_pump.write(&mut self.http).map_err(http_error)?;
            self.read_http(&mut scratch)?;
            self.write_local()?;
            if self.client.take_reconnect() {
                return Err(ConnectionError::Io(
                    "the RTMPT server closes its HTTP connections (not supported)".into(),
                ));
            }
            let ready_again = (self.local_readable && self.client.queued() < MAX_BUFFERED)
                || (self.http_pump.readable && self.to_local.len() < MAX_BUFFERED)
                || (self.http_pump.pending.is_empty() && self.client.request_ready(self.now_ms()));
            let timeout = if ready_again {
                Some(Duration::ZERO)
            } else {
                self.wait_time()?
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnectionError::Io(e.to_string())),
            }
            self.http_pump.note(&events, HTTP);
            for event in events.iter().filter(|e| e.token() == LOCAL) {
                self.local_readable |= event.is_readable() || event.is_read_closed();
                self.local_writable |= event.is_writable() || event.is_write_closed();
            }
        }
    }

    /// Until the reply in flight is late, the next idle poll is due, or the close must end.
    fn wait_time(&self) -> Result<Option<Duration>, ConnectionError> {
        let now = Instant::now();
        let mut deadline = None::<Instant>;
        let mut consider = |at: Instant| {
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        };
        if self.client.in_flight()
            && let Some(sent) = self.request_sent
        {
            let late = sent + self.timeout;
            if now >= late {
                return Err(ConnectionError::Timeout(self.timeout));
            }
            consider(late);
        }
        if let Some(close_by) = self.close_by {
            if now >= close_by {
                return Err(ConnectionError::Timeout(CLOSE_TIMEOUT));
            }
            consider(close_by);
        }
        if let Some(at) = self.client.next_poll_at() {
            consider(self.started + Duration::from_millis(at));
        }
        Ok(deadline.map(|d| d.saturating_duration_since(now)))
    }

    /// Queues what the session wrote; its end closing starts the close.
    fn read_local(&mut self, scratch: &mut [u8]) -> Result<(), ConnectionError> {
        while self.local_readable && self.client.queued() < MAX_BUFFERED {
            match self.local.read(scratch) {
                Ok(0) => {
                    self.local_readable = false;
                    if self.close_by.is_none() {
                        self.close_by = Some(Instant::now() + CLOSE_TIMEOUT);
                        self.client.close();
                    }
                }
                Ok(n) => self.client.queue(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.local_readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnectionError::Io(e.to_string())),
            }
        }
        Ok(())
    }

    fn read_http(&mut self, scratch: &mut [u8]) -> Result<(), ConnectionError> {
        while self.http_pump.readable && self.to_local.len() < MAX_BUFFERED {
            match self.http.read(scratch) {
                Ok(0) => {
                    return Err(ConnectionError::Io(
                        "the RTMPT server closed the HTTP connection".into(),
                    ));
                }
                Ok(n) => {
                    self.client
                        .handle_input(&scratch[..n], self.now_ms())
                        .map_err(tunnel_error)?;
                    let received = self.client.take_received();
                    if self.to_local.is_empty() {
                        self.to_local = received;
                    } else {
                        self.to_local.extend_from_slice(&received);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.http_pump.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(http_error(e)),
            }
        }
        Ok(())
    }

    /// Hands the server's bytes to the session.
    fn write_local(&mut self) -> Result<(), ConnectionError> {
        while self.local_writable && !self.to_local.is_empty() {
            match send_no_signal(&self.local, &[IoSlice::new(&self.to_local)]) {
                Ok(n) => {
                    let _ = self.to_local.split_to(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.local_writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The session is gone: nothing more to deliver.
                Err(_) => {
                    self.to_local.clear();
                    self.local_writable = false;
                }
            }
        }
        Ok(())
    }
}
