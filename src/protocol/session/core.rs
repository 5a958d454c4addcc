//! The message-stream core both session roles stand on: chunk reader and writer, the receive
//! buffer and output queue, byte counters, acknowledgements, and the protocol control messages
//! (Set Chunk Size, Abort, Acknowledgement, Window Acknowledgement Size, Set Peer Bandwidth) and
//! pings that need no decision from either role.
//!
//! A role session (client or server) reads whole messages from here, hands every message to
//! [`MessageStream::handle_control`] first and deals with what comes back.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::types::{DEFAULT_WINDOW_ACK_SIZE, SessionStats};
use crate::protocol::chunk::{
    ChunkError, ChunkReader, ChunkWriter, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_MESSAGE_LENGTH,
    MessageInfo, RawMessage,
};
use crate::protocol::message::{Message, MessageError, UserControlEvent, csid, type_id};

/// One side of an RTMP message stream, after the handshake.
pub(super) struct MessageStream {
    reader: ChunkReader,
    writer: ChunkWriter,
    recv: BytesMut,
    header_scratch: BytesMut,
    /// Reused for each message's slices before they join `output`.
    parts_scratch: Vec<Bytes>,
    output: VecDeque<Bytes>,
    /// Bytes in `output`.
    output_len: usize,
    /// The window the peer asked us to acknowledge by (its Window Acknowledgement Size).
    peer_window: u32,
    last_ack_at: u64,
    /// The window we announce when the peer's Set Peer Bandwidth asks for ours.
    own_window: u32,
    announced_window: Option<u32>,
    pub(super) stats: SessionStats,
}

impl MessageStream {
    /// `own_window` answers the peer's Set Peer Bandwidth; `max_message_size` bounds what the
    /// peer may send.
    pub(super) fn new(own_window: u32, max_message_size: u32) -> Self {
        let mut reader = ChunkReader::new();
        reader.set_max_message_size(max_message_size);
        MessageStream {
            reader,
            writer: ChunkWriter::new(),
            recv: BytesMut::with_capacity(64 * 1024),
            header_scratch: BytesMut::with_capacity(4096),
            parts_scratch: Vec::new(),
            output: VecDeque::new(),
            output_len: 0,
            peer_window: DEFAULT_WINDOW_ACK_SIZE,
            last_ack_at: 0,
            own_window,
            announced_window: None,
            stats: SessionStats {
                in_chunk_size: DEFAULT_CHUNK_SIZE,
                out_chunk_size: DEFAULT_CHUNK_SIZE,
                in_window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
                out_window_ack_size: 0,
                ..Default::default()
            },
        }
    }

    pub(super) fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    /// Bytes held for the peer's partly received messages and unread input.
    pub(super) fn buffered_bytes(&self) -> usize {
        self.recv.len() + self.reader.buffered_bytes()
    }

    /// Drops unread input and partly received messages: a closed session reads nothing more.
    pub(super) fn discard_input(&mut self) {
        self.recv.clear();
        if self.reader.buffered_bytes() > 0 {
            let mut reader = ChunkReader::new();
            reader.set_max_message_size(0);
            self.reader = reader;
        }
    }

    pub(super) fn set_max_message_size(&mut self, limit: u32) {
        self.reader.set_max_message_size(limit);
    }

    pub(super) fn take_output(&mut self, dst: &mut VecDeque<Bytes>) {
        dst.extend(self.output.drain(..));
        self.output_len = 0;
    }

    pub(super) fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Bytes queued and not yet taken.
    pub(super) fn output_bytes(&self) -> usize {
        self.output_len
    }

    /// Counts handshake bytes consumed from the receive buffer (`before` its length then).
    pub(super) fn count_consumed(&mut self, before: usize) {
        self.stats.in_bytes_total += before.saturating_sub(self.recv.len()) as u64;
    }

    /// The next whole message in the receive buffer, acknowledging bytes as the peer's window
    /// fills. `Ok(None)`: everything usable has been consumed.
    pub(super) fn read_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        let before = self.recv.len();
        let raw = self.reader.read(&mut self.recv)?;
        self.count_consumed(before);
        self.maybe_acknowledge();
        Ok(raw)
    }

    /// Handles what needs no role: chunk size, abort, acknowledgements, windows and pings.
    /// Returns the message when it is for the role to handle.
    pub(super) fn handle_control(
        &mut self,
        message: Message,
    ) -> Result<Option<Message>, ChunkError> {
        match message {
            Message::SetChunkSize(size) => {
                self.reader.set_chunk_size(size)?;
                self.stats.in_chunk_size = size;
            }
            Message::Abort(chunk_stream) => self.reader.abort(chunk_stream),
            Message::Acknowledgement(sequence) => {
                // Sequence numbers wrap at 2^32: extend to the nearest value at or below what we sent.
                let sent = self.stats.out_bytes_total;
                let wrapped = (sent & !0xFFFF_FFFF) | u64::from(sequence);
                let acked = if wrapped > sent {
                    wrapped.saturating_sub(1 << 32)
                } else {
                    wrapped
                };
                self.stats.out_bytes_acked = acked;
            }
            Message::WindowAckSize(size) => {
                self.peer_window = size;
                self.stats.in_window_ack_size = size;
            }
            Message::SetPeerBandwidth { size, .. } => {
                // Answer with our own window, once per distinct value (AWS MediaLive rejects duplicates).
                if self.announced_window != Some(size) {
                    self.announced_window = Some(size);
                    self.send_window_ack_size(self.own_window);
                }
            }
            Message::UserControl(UserControlEvent::PingRequest(time)) => {
                self.send_control(&Message::UserControl(UserControlEvent::PingResponse(time)));
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    pub(super) fn send_window_ack_size(&mut self, window: u32) {
        self.send_control(&Message::WindowAckSize(window));
        self.stats.out_window_ack_size = window;
    }

    /// Changes the outgoing chunk size (sends Set Chunk Size first).
    pub(super) fn set_chunk_size(&mut self, size: u32) {
        let size = size.clamp(1, MAX_CHUNK_SIZE);
        if size == self.writer.chunk_size() {
            return;
        }
        self.send_control(&Message::SetChunkSize(size));
        self.writer.set_chunk_size(size);
        self.stats.out_chunk_size = size;
    }

    fn maybe_acknowledge(&mut self) {
        let window = u64::from(self.peer_window.max(1));
        if self.stats.in_bytes_total - self.last_ack_at >= window {
            self.last_ack_at = self.stats.in_bytes_total;
            self.stats.in_bytes_acked = self.stats.in_bytes_total;
            // The sequence number is the byte count modulo 2^32.
            let sequence = self.stats.in_bytes_total as u32;
            self.send_control(&Message::Acknowledgement(sequence));
        }
    }

    /// Queues bytes outside the chunk stream (the handshake).
    pub(super) fn queue_raw_bytes(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.stats.out_bytes_total += bytes.len() as u64;
        self.output_len += bytes.len();
        self.output.push_back(bytes);
    }

    /// A protocol control or user control message, on chunk stream 2, stream 0, time 0.
    pub(super) fn send_control(&mut self, message: &Message) {
        self.send_message(csid::PROTOCOL_CONTROL, message, 0, 0);
    }

    pub(super) fn send_message(
        &mut self,
        chunk_stream: u32,
        message: &Message,
        timestamp: u32,
        stream_id: u32,
    ) {
        let raw = message.to_raw(timestamp, stream_id);
        self.write_raw(chunk_stream, &raw);
    }

    /// Commands carry strings from the application or the peer, so one can exceed RTMP's 24-bit
    /// message length: an error (the payload's length), where the chunk writer would panic.
    pub(super) fn send_command(&mut self, message: &Message) -> Result<(), usize> {
        let stream_id = match message {
            Message::Command { stream_id, .. } => *stream_id,
            _ => 0,
        };
        self.send_checked(csid::COMMAND, message, stream_id)
    }

    /// Like [`send_command`](Self::send_command), for any message on `chunk_stream`.
    pub(super) fn send_checked(
        &mut self,
        chunk_stream: u32,
        message: &Message,
        stream_id: u32,
    ) -> Result<(), usize> {
        let raw = message.to_raw(0, stream_id);
        if raw.payload.len() > MAX_MESSAGE_LENGTH as usize {
            return Err(raw.payload.len());
        }
        self.write_raw(chunk_stream, &raw);
        Ok(())
    }

    fn write_raw(&mut self, chunk_stream: u32, raw: &RawMessage) {
        let payload = std::slice::from_ref(&raw.payload);
        self.write_parts(chunk_stream, MessageInfo::of(raw), payload);
    }

    /// Queues one message, its payload taken from `payload` in order without copying. The caller
    /// checks the length (at most [`MAX_MESSAGE_LENGTH`]).
    pub(super) fn write_parts(&mut self, chunk_stream: u32, info: MessageInfo, payload: &[Bytes]) {
        let mut parts = std::mem::take(&mut self.parts_scratch);
        self.writer.write_parts_vectored(
            chunk_stream,
            info,
            payload,
            &mut self.header_scratch,
            &mut parts,
        );
        // Header slices are frozen out of the scratch buffer; reserving lets it reclaim its
        // allocation once those slices have been sent and dropped.
        self.header_scratch.reserve(1024);
        let bytes: usize = parts.iter().map(Bytes::len).sum();
        self.stats.out_bytes_total += bytes as u64;
        self.output_len += bytes;
        self.output.extend(parts.drain(..));
        self.parts_scratch = parts;
    }
}

/// Whether a message's payload is AMF (command or data), which peers get wrong often enough
/// that an undecodable one is skipped rather than fatal.
pub(super) fn is_amf(type_id: u8) -> bool {
    use type_id::*;
    matches!(type_id, COMMAND_AMF0 | COMMAND_AMF3 | DATA_AMF0 | DATA_AMF3)
}

/// Decodes a message; an AMF message that does not decode comes back with its raw form so the
/// role can decide whether to skip it.
pub(super) fn decode(raw: RawMessage) -> Result<Message, (MessageError, Option<RawMessage>)> {
    // Payloads are shared, so keeping one for the error path costs no copy.
    let kept = is_amf(raw.type_id).then(|| raw.clone());
    Message::parse(raw).map_err(|err| (err, kept))
}
