//! The chunk stream: messages are cut into chunks of at most the negotiated chunk size, each with a
//! basic header (chunk stream id, 1-3 bytes) and a message header of type 0 (full, 11 bytes),
//! 1 (no stream id, 7), 2 (timestamp delta only, 3) or 3 (nothing, 0), plus an extended timestamp
//! field when the timestamp (or delta) is 0xFFFFFF or more.
//!
//! Extended timestamps on type-3 chunks: when a message's first chunk carried an extended
//! timestamp, its continuation chunks repeat it (as Flash, FFmpeg, nginx-rtmp and the spec's
//! errata do). The reader tolerates servers that omit it there by peeking: if the 4 bytes do
//! not equal the message's extended timestamp they are treated as payload.

use bytes::{Bytes, BytesMut};

/// The chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the protocol allows (31 bits).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Largest message length a header can declare (24 bits).
pub const MAX_MESSAGE_LENGTH: u32 = 0xFF_FFFF;

/// One whole RTMP message, as the chunk layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Message type id (1 Set Chunk Size ... 22 Aggregate).
    pub type_id: u8,
    /// Absolute timestamp in milliseconds (wraps at 2^32).
    pub timestamp: u32,
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChunkError {
    #[error("chunk stream {0} continues a message that never started")]
    NoPreviousHeader(u32),
    #[error("message of {0} bytes exceeds the limit of {1} bytes")]
    MessageTooLarge(u32, u32),
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("more than {0} chunk streams in use")]
    TooManyChunkStreams(usize),
}

/// Serialises messages into chunks. Remembers the last header per chunk stream id so that
/// each chunk uses the smallest header type that describes it.
pub struct ChunkWriter {
    // private
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        todo!()
    }

    pub fn chunk_size(&self) -> u32 {
        todo!()
    }

    /// Takes effect for the next message written. The caller sends the Set Chunk Size message itself
    /// (before calling this).
    pub fn set_chunk_size(&mut self, size: u32) {
        todo!()
    }

    /// Appends `msg` as chunks on chunk stream `csid` (2..=65599) to `out`.
    pub fn write(&mut self, csid: u32, msg: &RawMessage, out: &mut BytesMut) {
        todo!()
    }

    /// Like [`write`](Self::write) but without copying the payload: chunk headers are appended to
    /// `headers`, and `parts` receives, in send order, alternating header slices (frozen from `headers`)
    /// and payload slices (sub-slices of `msg.payload`, no copy).
    pub fn write_vectored(
        &mut self,
        csid: u32,
        msg: &RawMessage,
        headers: &mut BytesMut,
        parts: &mut Vec<Bytes>,
    ) {
        todo!()
    }
}

/// Reassembles messages from chunks.
pub struct ChunkReader {
    // private
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkReader {
    /// Limits: max message length 16 MiB-1 (the protocol's own), at most 64 chunk streams.
    pub fn new() -> Self {
        todo!()
    }

    /// Refuses messages longer than `limit` before buffering them.
    pub fn set_max_message_size(&mut self, limit: u32) {
        todo!()
    }

    pub fn chunk_size(&self) -> u32 {
        todo!()
    }

    /// Called when the peer's Set Chunk Size arrives (1..=MAX_CHUNK_SIZE).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        todo!()
    }

    /// Drops the partly received message on `csid` (Abort message).
    pub fn abort(&mut self, csid: u32) {
        todo!()
    }

    /// Consumes as many bytes of `input` as form whole chunks and returns the next complete
    /// message, if any. Call again until it returns `Ok(None)`; incomplete chunks stay in `input`.
    /// Payloads are taken from `input` without copying when a message fits in one chunk.
    pub fn read(&mut self, input: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        todo!()
    }
}
