//! The I/O thread of an accepted client (listener mode): the server side of the session after
//! the listener accepted its publish or play.
//!
//! The same shape as the caller's loop in `io.rs`, on the same queues and wake-up flags
//! (`Inner`), around a `ServerSession`: a publisher's media and data go to `incoming` as the
//! caller's play mode delivers them (`SessionEvent::Media`/`Data`, `StreamEof` when it
//! unpublishes); a player's queued items go out with `send_audio/video/data` on its stream.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Interest, Poll, Token};

use super::io::event_size;
use super::listener::{ClientGuard, ListenRole};
use super::pump::Pump;
use super::transport::{TlsFailure, Transport};
use super::{CAT, Connection, ConnectionError, Inner, Outgoing, Phase, Shared};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::redact::redact_query;
use crate::protocol::session::SessionEvent;
use crate::protocol::session::{ServerEvent, ServerSession};

const SOCKET: Token = Token(1);
/// The session's unsent output is kept below this; beyond it, media stays in the bounded queue.
const MAX_UNSENT: usize = 256 * 1024;
/// How long a closing connection waits for the client to close after our half-close.
const MAX_DRAIN: Duration = Duration::from_secs(2);
/// A publisher that unpublished when the element stops: how long its closing commands
/// (deleteStream after FCUnpublish) and its own close are waited for. Closing on it at once
/// resets the connection, and FFmpeg then exits with "Broken pipe".
const UNPUBLISHED_LINGER: Duration = Duration::from_millis(500);

/// What the listener hands over for a client whose publish or play it accepted.
pub(super) struct Handoff {
    pub transport: Transport,
    pub session: ServerSession,
    /// The session's output the listener had not written yet.
    pub pending_output: VecDeque<Bytes>,
    pub addr: SocketAddr,
    pub stream_id: u32,
    pub role: ListenRole,
    /// A player whose socket takes nothing for this long while we have data for it is gone.
    pub stall_timeout: Duration,
    pub guard: ClientGuard,
}

impl Connection {
    /// Starts the I/O thread of an accepted client.
    pub(super) fn serve(
        handoff: Handoff,
        limits: (usize, usize),
        log_id: gst::glib::GString,
    ) -> Result<Connection, ConnectionError> {
        let limits = (limits.0.max(1), limits.1.max(1));
        let thread_log_id = log_id.clone();
        Connection::spawn(Phase::Ready, limits, log_id, move |poll, shared| {
            run(poll, shared, handoff, limits.1, thread_log_id)
        })
    }
}

fn run(
    poll: Poll,
    shared: Arc<Shared>,
    handoff: Handoff,
    max_incoming_bytes: usize,
    log_id: gst::glib::GString,
) {
    let Handoff {
        transport,
        session,
        pending_output,
        addr,
        stream_id,
        role,
        stall_timeout,
        guard,
    } = handoff;
    let mut pump = Pump::new();
    pump.pending = pending_output;
    if role == ListenRole::Players {
        // A player sends acknowledgements, not media.
        pump.read_buffer = super::read_buffer::ReadBuffer::small();
    }
    let mut serve = Serve {
        poll,
        shared,
        session,
        stream: transport,
        pump,
        stream_id,
        role,
        stall_timeout,
        guard,
        max_incoming_bytes,
        log_id,
        published_ended: false,
        play_ended: false,
    };
    let result = crate::panics::catch(|| serve.run()).unwrap_or_else(|panic| {
        Err(ConnectionError::Internal(format!(
            "the I/O thread panicked: {panic}"
        )))
    });
    if result == Err(ConnectionError::Flushing) && serve.published_ended {
        serve.linger();
    }
    let reason = match &result {
        Ok(()) => None,
        // A player leaving, or a publisher closing after it unpublished, is a clean end.
        Err(ConnectionError::Closed) if serve.role == ListenRole::Players => None,
        Err(ConnectionError::Closed) if serve.published_ended => None,
        Err(ConnectionError::Closed) => Some("closed without unpublishing".to_owned()),
        Err(ConnectionError::Flushing) => Some("the element stopped".to_owned()),
        Err(err) => Some(err.to_string()),
    };
    gst::debug!(
        CAT,
        id = &serve.log_id,
        "client {addr} done: {}",
        reason.as_deref().unwrap_or("closed")
    );
    let mut inner = serve.shared.lock();
    if let Err(err) = result {
        inner.error = Some(err);
    }
    inner.phase = Phase::Ended;
    inner.stats = serve.session.stats();
    drop(inner);
    serve.shared.changed.notify_all();
    serve.guard.finish(reason);
}

struct Serve {
    poll: Poll,
    shared: Arc<Shared>,
    session: ServerSession,
    stream: Transport,
    pump: Pump,
    stream_id: u32,
    role: ListenRole,
    stall_timeout: Duration,
    guard: ClientGuard,
    max_incoming_bytes: usize,
    log_id: gst::glib::GString,
    published_ended: bool,
    play_ended: bool,
}

impl Serve {
    /// Half-closes and reads (and drops) what the client still sends until it closes, at most
    /// [`UNPUBLISHED_LINGER`]: its publish is over, so nothing of it matters any more.
    fn linger(&mut self) {
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Write);
        let deadline = Instant::now() + UNPUBLISHED_LINGER;
        self.pump
            .drain(&mut self.poll, &mut self.stream, SOCKET, deadline, || false);
    }

    fn run(&mut self) -> Result<(), ConnectionError> {
        self.poll
            .registry()
            .register(
                self.stream.tcp(),
                SOCKET,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        // The listener saw the socket's last edges; try both at once.
        self.pump.readable = true;
        self.pump.writable = true;
        // Input that came with the request and events decoded before the hand-over (media
        // right after publish).
        let processed = self.session.process();
        self.dispatch();
        processed.map_err(|e| ConnectionError::Client(e.to_string()))?;
        let mut events = Events::with_capacity(16);
        let mut close_deadline: Option<Instant> = None;
        loop {
            self.pull_outgoing(&mut close_deadline)?;
            self.session.take_output(&mut self.pump.pending);
            self.pump.recount();
            self.pump.write(&mut self.stream).map_err(write_error)?;
            let waiting_to_write = self.pump.is_waiting_to_write(&self.stream);
            if close_deadline.is_some() && !waiting_to_write {
                let _ = self.stream.tcp().shutdown(std::net::Shutdown::Write);
                // Everything is with the kernel: close() may return. The client closing first
                // (or Drop) ends the drain, which keeps a reset from cutting our last bytes.
                let mut inner = self.shared.lock();
                inner.phase = Phase::Ended;
                inner.stats = self.session.stats();
                drop(inner);
                self.shared.changed.notify_all();
                let shared = self.shared.clone();
                // A publisher that unpublished still sends its closing commands: the element
                // dropping the connection must not cut them off (see UNPUBLISHED_LINGER).
                let ended = self.published_ended;
                let drain_for = if ended { UNPUBLISHED_LINGER } else { MAX_DRAIN };
                let deadline = Instant::now() + drain_for;
                self.pump
                    .drain(&mut self.poll, &mut self.stream, SOCKET, deadline, || {
                        !ended && shared.lock().shutdown
                    });
                return Ok(());
            }
            if !waiting_to_write {
                self.pump.last_write_progress = Instant::now();
            }
            let mut inner = self.shared.lock();
            if inner.shutdown {
                return Err(ConnectionError::Flushing);
            }
            inner.unsent_bytes = self.pump.unsent;
            let player = self.role == ListenRole::Players;
            let media_queued = player && !inner.outgoing.is_empty();
            let media_ready = media_queued && (self.pump.writable || self.pump.unsent < MAX_UNSENT);
            let timeout = match close_deadline {
                _ if media_ready => Some(Duration::ZERO),
                Some(close_by) => Some(remaining(close_by)?),
                None if waiting_to_write => Some(
                    remaining(self.pump.last_write_progress + self.stall_timeout)
                        .map_err(|_| ConnectionError::Stalled(self.stall_timeout))?,
                ),
                None => None,
            };
            let full = inner.incoming_bytes >= self.max_incoming_bytes;
            let must_poll = !self.pump.readable || full;
            if must_poll && timeout != Some(Duration::ZERO) {
                inner.io_wants_media = player && !media_queued && self.pump.unsent < MAX_UNSENT;
                inner.io_wants_room = full && self.pump.readable;
            }
            drop(inner);
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
            let full = inner.incoming_bytes >= self.max_incoming_bytes;
            drop(inner);
            if self.pump.readable && !full {
                self.read()?;
            }
        }
    }

    /// A player's queued media into the session while its unsent output is small; close
    /// requests (a player gets StreamEOF and UnpublishNotify first).
    fn pull_outgoing(
        &mut self,
        close_deadline: &mut Option<Instant>,
    ) -> Result<(), ConnectionError> {
        let mut inner = self.shared.lock();
        if inner.shutdown {
            return Err(ConnectionError::Flushing);
        }
        inner.stats = self.session.stats();
        let mut moved = false;
        let id = self.stream_id;
        while self.pump.unsent < MAX_UNSENT && close_deadline.is_none() {
            let Some(item) = inner.outgoing.pop_front() else {
                break;
            };
            inner.outgoing_bytes -= item.size();
            moved = true;
            self.pump.unsent += item.size();
            let sent = match item {
                Outgoing::Audio { timestamp, payload } => {
                    self.session.send_audio(id, timestamp, payload)
                }
                Outgoing::Video { timestamp, payload } => {
                    self.session.send_video(id, timestamp, payload)
                }
                Outgoing::Data { timestamp, payload } => {
                    self.session.send_data(id, timestamp, payload)
                }
                Outgoing::ChunkSize(size) => {
                    self.session.set_chunk_size(size);
                    Ok(())
                }
                // A player's requests; this end is the server.
                _ => Ok(()),
            };
            sent.map_err(|e| ConnectionError::Client(e.to_string()))?;
        }
        let close = (inner.close_requested && inner.outgoing.is_empty()) || self.play_ended;
        if close && close_deadline.is_none() {
            inner.outgoing.clear();
            inner.outgoing_bytes = 0;
            // A player that lags gets as long as the element waits for it, at least MAX_DRAIN.
            *close_deadline = Some(Instant::now() + MAX_DRAIN.max(inner.close_timeout));
            if self.role == ListenRole::Players && !self.play_ended {
                // Best effort: the player may have closed its stream already.
                let _ = self.session.end_play(id);
            }
            self.session.close();
        }
        if moved {
            self.shared.notify_waiters(inner);
        }
        Ok(())
    }

    fn read(&mut self) -> Result<(), ConnectionError> {
        let Serve {
            pump,
            stream,
            session,
            ..
        } = self;
        let result = pump
            .read_buffer
            .read_with(|buf| stream.read(buf), session.recv_buffer());
        match result {
            Ok(0) => return Err(ConnectionError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.pump.readable = false;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(read_error(e)),
        }
        let processed = self.session.process();
        // What was decoded before an error still counts (the end of a stream, say).
        self.dispatch();
        processed.map_err(|e| ConnectionError::Client(e.to_string()))
    }

    fn dispatch(&mut self) {
        let mut inner = self.shared.lock();
        let mut changed = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Media {
                    stream_id,
                    kind,
                    timestamp,
                    payload,
                } if stream_id == self.stream_id && self.role == ListenRole::Publishers => {
                    push_incoming(
                        &mut inner,
                        SessionEvent::Media {
                            kind,
                            timestamp,
                            payload,
                        },
                    );
                    changed = true;
                }
                ServerEvent::Data {
                    stream_id,
                    timestamp,
                    values,
                } if stream_id == self.stream_id && self.role == ListenRole::Publishers => {
                    push_incoming(
                        &mut inner,
                        SessionEvent::Data {
                            timestamp,
                            values: strip_set_data_frame(values),
                        },
                    );
                    changed = true;
                }
                ServerEvent::PublishEnded { stream_id } if stream_id == self.stream_id => {
                    if !self.published_ended {
                        self.published_ended = true;
                        // Another publisher may come in while this one's socket lingers.
                        self.guard.release_publishing();
                        push_incoming(&mut inner, SessionEvent::StreamEof);
                        changed = true;
                    }
                }
                ServerEvent::PlayEnded { stream_id } if stream_id == self.stream_id => {
                    self.play_ended = true;
                }
                ServerEvent::PublishRequest {
                    stream_id, name, ..
                } => {
                    gst::info!(
                        CAT,
                        id = &self.log_id,
                        "refusing a second publish ({}) on one connection",
                        redact_query(&name)
                    );
                    let _ = self.session.reject_publish(
                        stream_id,
                        "NetStream.Publish.BadName",
                        "one stream per connection",
                    );
                }
                ServerEvent::PlayRequest {
                    stream_id, name, ..
                } => {
                    gst::info!(
                        CAT,
                        id = &self.log_id,
                        "refusing a second play ({}) on one connection",
                        redact_query(&name)
                    );
                    let _ = self.session.reject_play(
                        stream_id,
                        "NetStream.Play.StreamNotFound",
                        "one stream per connection",
                    );
                }
                ServerEvent::Skipped { type_id, reason } => {
                    gst::warning!(
                        CAT,
                        id = &self.log_id,
                        "skipped a message of type {type_id}: {reason}"
                    );
                }
                other => gst::debug!(CAT, id = &self.log_id, "ignoring {other:?}"),
            }
        }
        inner.stats = self.session.stats();
        if changed {
            self.shared.notify_waiters(inner);
        }
    }
}

/// Publishers send `@setDataFrame onMetaData {...}`; a server relays it to players as
/// `onMetaData {...}`, which is what the caller's play mode hands the element.
fn strip_set_data_frame(mut values: Vec<Amf0Value>) -> Vec<Amf0Value> {
    if matches!(values.first(), Some(Amf0Value::String(s)) if s == "@setDataFrame") {
        values.remove(0);
    }
    values
}

fn push_incoming(inner: &mut Inner, event: SessionEvent) {
    inner.incoming_bytes += event_size(&event);
    inner.incoming.push_back(event);
}

fn read_error(err: std::io::Error) -> ConnectionError {
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<TlsFailure>()) {
        return ConnectionError::Tls(tls.0.to_string());
    }
    match err.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ConnectionError::Closed
        }
        _ => ConnectionError::Io(err.to_string()),
    }
}

fn write_error(err: std::io::Error) -> ConnectionError {
    match err.kind() {
        ErrorKind::WriteZero => ConnectionError::Closed,
        _ => read_error(err),
    }
}

fn remaining(deadline: Instant) -> Result<Duration, ConnectionError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(ConnectionError::Timeout(MAX_DRAIN))
}
