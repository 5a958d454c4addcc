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

use bytes::{Buf, Bytes, BytesMut};

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

/// Serialises messages into chunks. Remembers the last header per chunk stream id so that
/// each chunk uses the smallest header type that describes it.
pub struct ChunkWriter {
    chunk_size: u32,
    streams: Vec<OutStream>,
}

/// What the peer knows about a chunk stream after our last header on it.
#[derive(Clone, Copy)]
struct OutStream {
    csid: u32,
    timestamp: u32,
    /// `None` right after a type-0 header, so that no type-3 header follows it (see module doc).
    delta: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// A chunk header built on the stack.
struct HeaderBuf {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl HeaderBuf {
    fn new() -> Self {
        Self {
            bytes: [0; MAX_HEADER_LEN],
            len: 0,
        }
    }

    fn push(&mut self, data: &[u8]) {
        // At most 18 bytes are ever pushed (basic + type-0 + extended), so this stays in bounds.
        self.bytes[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn basic(fmt: u8, csid: u32) -> Self {
        let mut h = Self::new();
        let fmt = fmt << 6;
        if csid < 64 {
            h.push(&[fmt | csid as u8]);
        } else if csid < 320 {
            h.push(&[fmt, (csid - 64) as u8]);
        } else {
            let [lo, hi] = ((csid - 64) as u16).to_le_bytes();
            h.push(&[fmt | 1, lo, hi]);
        }
        h
    }
}

/// The header of a message's first chunk and the one every continuation chunk repeats.
struct MessageHeaders {
    first: HeaderBuf,
    cont: HeaderBuf,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Takes effect for the next message written. The caller sends the Set Chunk Size message itself
    /// (before calling this). Values outside 1..=[`MAX_CHUNK_SIZE`] are clamped into that range.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Appends `msg` as chunks on chunk stream `csid` (2..=65599) to `out`.
    ///
    /// # Panics
    /// If `csid` is out of range or the payload is longer than [`MAX_MESSAGE_LENGTH`]: both are
    /// the caller's values, never the peer's.
    pub fn write(&mut self, csid: u32, msg: &RawMessage, out: &mut BytesMut) {
        let headers = self.headers(csid, msg);
        let payload = &msg.payload[..];
        let chunks = chunk_count(payload.len(), self.chunk_size);
        out.reserve(headers.first.len + (chunks - 1) * headers.cont.len + payload.len());
        for_each_chunk(payload.len(), self.chunk_size, |first, range| {
            let header = if first { &headers.first } else { &headers.cont };
            out.extend_from_slice(header.as_slice());
            out.extend_from_slice(&payload[range]);
        });
    }

    /// Like [`write`](Self::write) but without copying the payload: chunk headers are appended to
    /// `headers`, and `parts` receives, in send order, alternating header slices (frozen from `headers`)
    /// and payload slices (sub-slices of `msg.payload`, no copy).
    ///
    /// Continuation chunks all share one header slice; empty payload slices are left out.
    /// What `headers` held before the call stays there and is not sent.
    ///
    /// # Panics
    /// As [`write`](Self::write).
    pub fn write_vectored(
        &mut self,
        csid: u32,
        msg: &RawMessage,
        headers: &mut BytesMut,
        parts: &mut Vec<Bytes>,
    ) {
        let built = self.headers(csid, msg);
        let len = msg.payload.len();
        let chunks = chunk_count(len, self.chunk_size);
        let start = headers.len();
        headers.extend_from_slice(built.first.as_slice());
        if chunks > 1 {
            headers.extend_from_slice(built.cont.as_slice());
        }
        // split() keeps the spare capacity in `headers` for the next message.
        let frozen = if start == 0 {
            headers.split()
        } else {
            headers.split_off(start)
        }
        .freeze();
        let first = frozen.slice(..built.first.len);
        let cont = frozen.slice(built.first.len..);
        parts.reserve(2 * chunks);
        for_each_chunk(len, self.chunk_size, |is_first, range| {
            parts.push(if is_first {
                first.clone()
            } else {
                cont.clone()
            });
            if !range.is_empty() {
                parts.push(msg.payload.slice(range));
            }
        });
    }

    /// Chooses the header type for `msg`, records it as the stream's last header and builds the
    /// headers of its first and continuation chunks.
    fn headers(&mut self, csid: u32, msg: &RawMessage) -> MessageHeaders {
        assert!(
            (2..=65599).contains(&csid),
            "chunk stream id {csid} out of range"
        );
        let length = u32::try_from(msg.payload.len())
            .ok()
            .filter(|&l| l <= MAX_MESSAGE_LENGTH)
            .expect("RTMP message payload longer than 16 MiB - 1");

        let slot = self.streams.iter().position(|s| s.csid == csid);
        let prev = slot.and_then(|i| self.streams.get(i)).copied();
        let (fmt, ts_value, delta) = match prev {
            Some(prev)
                if prev.stream_id == msg.stream_id
                    // Less than 2^31 ahead counts as forward, so a 32-bit wrap stays a delta.
                    && msg.timestamp.wrapping_sub(prev.timestamp) < 0x8000_0000 =>
            {
                let delta = msg.timestamp.wrapping_sub(prev.timestamp);
                let fmt = if prev.length != length || prev.type_id != msg.type_id {
                    1
                } else if prev.delta != Some(delta) {
                    2
                } else {
                    3
                };
                (fmt, delta, Some(delta))
            }
            _ => (0, msg.timestamp, None),
        };

        let state = OutStream {
            csid,
            timestamp: msg.timestamp,
            delta,
            length,
            type_id: msg.type_id,
            stream_id: msg.stream_id,
        };
        match slot.and_then(|i| self.streams.get_mut(i)) {
            Some(s) => *s = state,
            None => self.streams.push(state),
        }

        let extended = ts_value >= EXTENDED;
        let field = &ts_value.min(EXTENDED).to_be_bytes()[1..];
        let length = &length.to_be_bytes()[1..];
        let mut first = HeaderBuf::basic(fmt, csid);
        match fmt {
            0 => {
                first.push(field);
                first.push(length);
                first.push(&[msg.type_id]);
                first.push(&msg.stream_id.to_le_bytes());
            }
            1 => {
                first.push(field);
                first.push(length);
                first.push(&[msg.type_id]);
            }
            2 => first.push(field),
            _ => {}
        }
        let mut cont = HeaderBuf::basic(3, csid);
        if extended {
            first.push(&ts_value.to_be_bytes());
            cont.push(&ts_value.to_be_bytes());
        }
        MessageHeaders { first, cont }
    }
}

fn chunk_count(len: usize, chunk_size: u32) -> usize {
    len.div_ceil(chunk_size as usize).max(1)
}

/// Calls `f(is_first, payload_range)` once per chunk; an empty message still has one chunk.
fn for_each_chunk(len: usize, chunk_size: u32, mut f: impl FnMut(bool, std::ops::Range<usize>)) {
    let size = chunk_size as usize;
    let mut offset: usize = 0;
    loop {
        let end = len.min(offset.saturating_add(size));
        f(offset == 0, offset..end);
        offset = end;
        if offset >= len {
            break;
        }
    }
}

/// Reassembles messages from chunks.
pub struct ChunkReader {
    chunk_size: u32,
    max_message: u32,
    /// Bound on the partly received messages of all chunk streams together: without it, a peer
    /// could keep 64 messages of the maximum size half-sent.
    max_buffered: usize,
    streams: Vec<InStream>,
}

/// The fields the last message header on a chunk stream established.
#[derive(Debug, Clone, Copy)]
struct InHeader {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp field of the header, if it had one: type-3 chunks repeat it.
    ext: Option<u32>,
}

struct InStream {
    csid: u32,
    header: InHeader,
    /// Payload received so far of a message that spans several chunks.
    partial: Option<BytesMut>,
}

/// What the next chunk in the input is, worked out without touching any state.
struct Plan {
    csid: u32,
    slot: Option<usize>,
    header_len: usize,
    payload_len: usize,
    /// Set when the chunk starts a new message.
    new: Option<InHeader>,
}

/// Reads fixed-size fields from the front of a slice without panicking.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.buf.get(self.pos..)?.get(..N)?;
        self.pos += N;
        bytes.try_into().ok()
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}

fn be24([a, b, c]: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, a, b, c])
}

/// Unwraps a field, or reports that the chunk is not all there yet.
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkReader {
    /// Limits: max message length 16 MiB-1 (the protocol's own), at most 64 chunk streams, and
    /// twice the message limit of partly received messages in all.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_message: MAX_MESSAGE_LENGTH,
            max_buffered: 2 * MAX_MESSAGE_LENGTH as usize,
            streams: Vec::new(),
        }
    }

    /// Refuses messages longer than `limit` before buffering them (and partly received
    /// messages beyond twice that in all).
    pub fn set_max_message_size(&mut self, limit: u32) {
        self.max_message = limit.min(MAX_MESSAGE_LENGTH);
        self.max_buffered = 2 * self.max_message as usize;
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Called when the peer's Set Chunk Size arrives (1..=MAX_CHUNK_SIZE).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if !(1..=MAX_CHUNK_SIZE).contains(&size) {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops the partly received message on `csid` (Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.csid == csid) {
            s.partial = None;
        }
    }

    /// Consumes as many bytes of `input` as form whole chunks and returns the next complete
    /// message, if any. Call again until it returns `Ok(None)`; incomplete chunks stay in `input`.
    /// Payloads are taken from `input` without copying when a message fits in one chunk.
    ///
    /// A type 0, 1 or 2 header on a chunk stream with a partly received message starts a new
    /// message and drops the old one.
    pub fn read(&mut self, input: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            let Some(plan) = self.plan(input)? else {
                return Ok(None);
            };
            input.advance(plan.header_len);
            let slot = match (plan.slot, plan.new) {
                (Some(i), _) => i,
                (None, Some(header)) => {
                    self.streams.push(InStream {
                        csid: plan.csid,
                        header,
                        partial: None,
                    });
                    self.streams.len() - 1
                }
                // plan() only admits a new chunk stream with a type-0 header.
                (None, None) => return Err(ChunkError::NoPreviousHeader(plan.csid)),
            };
            // What the other chunk streams hold half-received (a new message drops this one's).
            let buffered: usize = self
                .streams
                .iter()
                .enumerate()
                .filter(|(i, _)| plan.new.is_none() || *i != slot)
                .filter_map(|(_, s)| s.partial.as_ref().map(BytesMut::len))
                .sum();
            let Some(stream) = self.streams.get_mut(slot) else {
                return Err(ChunkError::NoPreviousHeader(plan.csid));
            };
            if let Some(header) = plan.new {
                stream.header = header;
                stream.partial = None;
                if plan.payload_len == header.length as usize {
                    let payload = input.split_to(plan.payload_len).freeze();
                    return Ok(Some(message(&header, payload)));
                }
                // Capped by what has arrived, not by what the header claims.
                let capacity = (header.length as usize).min(input.len());
                stream.partial = Some(BytesMut::with_capacity(capacity));
            }
            if buffered + plan.payload_len > self.max_buffered {
                return Err(ChunkError::TooMuchBuffered(self.max_buffered));
            }
            let Some(partial) = stream.partial.as_mut() else {
                return Err(ChunkError::NoPreviousHeader(plan.csid));
            };
            partial.extend_from_slice(&input[..plan.payload_len]);
            input.advance(plan.payload_len);
            if partial.len() == stream.header.length as usize {
                let payload = stream.partial.take().unwrap_or_default().freeze();
                return Ok(Some(message(&stream.header, payload)));
            }
        }
    }

    /// Parses the chunk at the front of `input`; `Ok(None)` if it is not complete yet.
    fn plan(&self, input: &[u8]) -> Result<Option<Plan>, ChunkError> {
        let mut c = Cursor { buf: input, pos: 0 };
        let [b0] = need!(c.take());
        let fmt = b0 >> 6;
        let csid = match b0 & 0x3F {
            0 => 64 + u32::from(need!(c.take::<1>())[0]),
            1 => 64 + u32::from(u16::from_le_bytes(need!(c.take()))),
            n => u32::from(n),
        };
        let slot = self.streams.iter().position(|s| s.csid == csid);
        let stream = slot.and_then(|i| self.streams.get(i));
        if stream.is_none() {
            if fmt != 0 {
                return Err(ChunkError::NoPreviousHeader(csid));
            }
            if self.streams.len() >= MAX_CHUNK_STREAMS {
                return Err(ChunkError::TooManyChunkStreams(MAX_CHUNK_STREAMS));
            }
        }

        let new = match (fmt, stream) {
            (0, _) => {
                let field = be24(need!(c.take()));
                let length = be24(need!(c.take()));
                let [type_id] = need!(c.take());
                let stream_id = u32::from_le_bytes(need!(c.take()));
                let ext = if field == EXTENDED {
                    Some(u32::from_be_bytes(need!(c.take())))
                } else {
                    None
                };
                let timestamp = ext.unwrap_or(field);
                // Per the spec a type-3 header after this one reuses the timestamp as its delta.
                Some(InHeader {
                    timestamp,
                    delta: timestamp,
                    length,
                    type_id,
                    stream_id,
                    ext,
                })
            }
            (1 | 2, Some(s)) => {
                let field = be24(need!(c.take()));
                let (length, type_id) = if fmt == 1 {
                    let length = be24(need!(c.take()));
                    let [type_id] = need!(c.take());
                    (length, type_id)
                } else {
                    (s.header.length, s.header.type_id)
                };
                let ext = if field == EXTENDED {
                    Some(u32::from_be_bytes(need!(c.take())))
                } else {
                    None
                };
                let delta = ext.unwrap_or(field);
                Some(InHeader {
                    timestamp: s.header.timestamp.wrapping_add(delta),
                    delta,
                    length,
                    type_id,
                    stream_id: s.header.stream_id,
                    ext,
                })
            }
            (_, Some(s)) => match (&s.partial, s.header.ext) {
                // Continuation chunk: skip the repeated extended timestamp if it is there.
                (Some(_), Some(ext)) => {
                    let want = ext.to_be_bytes();
                    let have = c.rest();
                    let n = have.len().min(4);
                    if have.get(..n) == want.get(..n) {
                        if n < 4 {
                            // Cannot tell yet whether these bytes are the field or payload.
                            return Ok(None);
                        }
                        c.pos += 4;
                    }
                    None
                }
                (Some(_), None) => None,
                // A new message with the previous header's fields; an extended delta is repeated.
                (None, ext) => {
                    let delta = match ext {
                        Some(_) => u32::from_be_bytes(need!(c.take())),
                        None => s.header.delta,
                    };
                    Some(InHeader {
                        timestamp: s.header.timestamp.wrapping_add(delta),
                        delta,
                        ext: ext.map(|_| delta),
                        ..s.header
                    })
                }
            },
            (_, None) => return Err(ChunkError::NoPreviousHeader(csid)),
        };

        let remaining = match (&new, stream) {
            (Some(h), _) => {
                if h.length > self.max_message {
                    return Err(ChunkError::MessageTooLarge(h.length, self.max_message));
                }
                h.length as usize
            }
            (
                None,
                Some(InStream {
                    header,
                    partial: Some(p),
                    ..
                }),
            ) => (header.length as usize).saturating_sub(p.len()),
            (None, _) => return Err(ChunkError::NoPreviousHeader(csid)),
        };
        let payload_len = remaining.min(self.chunk_size as usize);
        if c.rest().len() < payload_len {
            return Ok(None);
        }
        Ok(Some(Plan {
            csid,
            slot,
            header_len: c.pos,
            payload_len,
            new,
        }))
    }
}

fn message(header: &InHeader, payload: Bytes) -> RawMessage {
    RawMessage {
        type_id: header.type_id,
        timestamp: header.timestamp,
        stream_id: header.stream_id,
        payload,
    }
}

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;
