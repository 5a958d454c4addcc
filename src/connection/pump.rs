//! The socket side both I/O loops share (the client's in `io.rs`, the server's in `serve.rs`):
//! session output waiting for the kernel, written with vectored writes, the readiness last seen
//! (mio is edge-triggered: keep going until WouldBlock), and the drain after a half-close.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice, Read};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use mio::{Events, Poll, Token};

use super::read_buffer::ReadBuffer;
use super::transport::Transport;

/// Slices per vectored write at most (Linux takes 1024): a message costs about two per chunk.
const MAX_IOV: usize = 256;

pub(super) struct Pump {
    /// Output of the session not yet accepted by the kernel.
    pub pending: VecDeque<Bytes>,
    pub unsent: usize,
    pub readable: bool,
    pub writable: bool,
    /// When the socket last took bytes (or had nothing to take).
    pub last_write_progress: Instant,
    pub read_buffer: ReadBuffer,
}

impl Pump {
    pub fn new() -> Self {
        Pump {
            pending: VecDeque::new(),
            unsent: 0,
            readable: false,
            writable: false,
            last_write_progress: Instant::now(),
            read_buffer: ReadBuffer::default(),
        }
    }

    /// Counts what the session added to `pending`.
    pub fn recount(&mut self) {
        self.unsent = self.pending.iter().map(Bytes::len).sum();
    }

    pub fn is_waiting_to_write(&self, stream: &Transport) -> bool {
        !self.pending.is_empty() || stream.has_buffered_output()
    }

    /// Notes the readiness `events` report for `token`.
    pub fn note(&mut self, events: &Events, token: Token) {
        for event in events.iter() {
            if event.token() == token {
                self.readable |= event.is_readable() || event.is_read_closed();
                self.writable |= event.is_writable();
            }
        }
    }

    /// Writes what is pending while the socket takes it. A socket that takes nothing at all
    /// (closed) is reported as `WriteZero`.
    pub fn write(&mut self, stream: &mut Transport) -> std::io::Result<()> {
        if self.writable && stream.has_buffered_output() {
            match stream.flush_buffered() {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Empty slices (a message without payload) would make write_vectored return 0.
        self.pending.retain(|b| !b.is_empty());
        while self.writable && !self.pending.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .pending
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            match stream.write_vectored(&slices) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(mut written) => {
                    self.last_write_progress = Instant::now();
                    self.unsent -= written.min(self.unsent);
                    while written > 0 {
                        let Some(front) = self.pending.front_mut() else {
                            break;
                        };
                        if front.len() <= written {
                            written -= front.len();
                            self.pending.pop_front();
                        } else {
                            front.advance(written);
                            written = 0;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// After our half-close: reads and discards until the peer closes, until `deadline`, or
    /// until `stop` says the element shut down. Returns whether the peer closed.
    pub fn drain(
        &mut self,
        poll: &mut Poll,
        stream: &mut Transport,
        token: Token,
        deadline: Instant,
        stop: impl Fn() -> bool,
    ) -> bool {
        let mut events = Events::with_capacity(4);
        let mut scratch = vec![0u8; 16 * 1024];
        loop {
            if stop() {
                return false;
            }
            if self.readable {
                // Raw TCP even under TLS: the bytes are thrown away.
                match stream.tcp().read(&mut scratch) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => return true,
                }
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return false;
            };
            match poll.poll(&mut events, Some(left.min(Duration::from_secs(1)))) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
            self.note(&events, token);
        }
    }
}
