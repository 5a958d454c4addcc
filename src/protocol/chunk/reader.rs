//! Reassembling messages from chunks, within limits on what a peer can make us hold.

use bytes::{Buf, Bytes, BytesMut};

use super::{
    ChunkError, DEFAULT_CHUNK_SIZE, EXTENDED, MAX_CHUNK_SIZE, MAX_CHUNK_STREAMS,
    MAX_MESSAGE_LENGTH, RawMessage,
};

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
