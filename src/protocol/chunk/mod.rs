//! The chunk stream: messages are cut into chunks of at most the negotiated chunk size, each with a
//! basic header (chunk stream id, 1-3 bytes) and a message header of type 0 (full, 11 bytes),
//! 1 (no stream id, 7), 2 (timestamp delta only, 3) or 3 (nothing, 0), plus an extended timestamp
//! field when the timestamp (or delta) is 0xFFFFFF or more.
//!
//! Extended timestamps on type-3 chunks: when a message's first chunk carried an extended
//! timestamp, its continuation chunks repeat it (as Flash, FFmpeg, nginx-rtmp and the spec's
//! errata do). The reader tolerates servers that omit it there by peeking: if the 4 bytes do
//! not equal the message's extended timestamp they are treated as payload. A type-3 chunk that
//! starts a new message after an extended header always carries the field (the spec requires
//! it and FFmpeg may put a different delta there), so the reader takes it as the delta.
//!
//! A type-3 header that starts a new message right after a type-0 header is ambiguous in
//! practice: the spec (and FFmpeg) take the type-0 timestamp as the delta, nginx-rtmp
//! takes zero. The reader follows the spec; the writer never produces that sequence (after a
//! type-0 header it sends the delta explicitly once, in a type-1 or type-2 header).

use bytes::Bytes;

mod payload;
mod pool;
mod reader;
mod writer;

pub use payload::Payload;
pub use reader::{AHEAD_ALLOWANCE, ChunkReader};
pub use writer::{ChunkWriter, MessageInfo};

/// The chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the protocol allows (31 bits).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Largest message length a header can declare (24 bits).
pub const MAX_MESSAGE_LENGTH: u32 = 0xFF_FFFF;

/// How many chunk streams a peer may make the reader keep state for.
const MAX_CHUNK_STREAMS: usize = 64;
/// A 24-bit timestamp field holding this value means "see the extended timestamp".
const EXTENDED: u32 = 0xFF_FFFF;
/// Basic header (3) + type-0 message header (11) + extended timestamp (4).
const MAX_HEADER_LEN: usize = 18;

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
    #[error("partly received messages would exceed {0} bytes")]
    TooMuchBuffered(usize),
}

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;
