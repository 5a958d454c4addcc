//! Reassembling messages from chunks, within limits on what a peer can make us hold.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use super::pool::MessagePool;

use super::{
    ChunkError, DEFAULT_CHUNK_SIZE, EXTENDED, MAX_CHUNK_SIZE, MAX_CHUNK_STREAMS,
    MAX_MESSAGE_LENGTH, RawMessage,
};

/// Bytes a reader may allocate for messages beyond what has arrived, across all chunk streams.
///
/// A message that spans chunks is copied into one buffer; allocating it at its declared length
/// up front avoids growing it (and copying it again) as its chunks arrive. Without a bound, a
/// peer could make us allocate 64 streams x 16 MiB by sending headers alone, so only this much
/// is allocated ahead of the data: a keyframe of a few hundred KB is allocated once, and a
/// longer message beyond the allowance grows as its bytes arrive.
pub const AHEAD_ALLOWANCE: usize = 2 * 1024 * 1024;

/// One-chunk messages at least this long are slices of the input; shorter ones are copied.
///
/// A slice keeps the caller's whole read buffer alive (the connection reads into 128 KiB
/// allocations) for as long as the message is queued downstream: an audio frame of 400 bytes
/// held 300 times its size, and a player behind a fast publisher kept so many read buffers
/// alive that each read went into fresh memory (a page fault per 4 KiB, more CPU than any copy).
/// Copying a short message costs less than that; a long one holds its buffer in proportion.
pub const SLICE_FROM: usize = 16 * 1024;

/// Reassembles messages from chunks.
///
/// A chunk's payload is taken as it arrives, so `input` never has to hold more than a chunk
/// header: the caller can read into buffers of any size whatever the chunk size.
pub struct ChunkReader {
    chunk_size: u32,
    max_message: u32,
    /// Bound on the partly received messages of all chunk streams together: without it, a peer
    /// could keep 64 messages of the maximum size half-sent.
    max_buffered: usize,
    streams: Vec<InStream>,
    /// The chunk whose payload is still arriving: its stream's slot and the bytes still to come.
    /// Chunks of different streams never interleave inside a chunk, so there is at most one.
    current: Option<(usize, usize)>,
    /// Bytes received of all partly received messages.
    buffered: usize,
    pool: Arc<MessagePool>,
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
    partial: Option<Vec<u8>>,
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
            current: None,
            buffered: 0,
            pool: Arc::default(),
        }
    }

    /// Refuses messages longer than `limit` before buffering them (and partly received
    /// messages beyond twice that in all).
    pub fn set_max_message_size(&mut self, limit: u32) {
        self.max_message = limit.min(MAX_MESSAGE_LENGTH);
        self.max_buffered = 2 * self.max_message as usize;
    }

    /// Payload bytes held for partly received messages.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
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
        if let Some(slot) = self.streams.iter().position(|s| s.csid == csid) {
            self.drop_partial(slot);
        }
    }

    fn drop_partial(&mut self, slot: usize) {
        if let Some(partial) = self.streams.get_mut(slot).and_then(|s| s.partial.take()) {
            self.buffered -= partial.len();
        }
    }

    /// Consumes `input` up to the next complete message and returns it, if any. Call again until
    /// it returns `Ok(None)`: then everything has been taken except an incomplete chunk header.
    ///
    /// A message of at least [`SLICE_FROM`] bytes that arrives whole in one chunk is a slice of
    /// `input` (no copy); a shorter one, one that spans chunks, or one whose chunk arrives in
    /// pieces is copied once into a buffer of its own.
    ///
    /// A type 0, 1 or 2 header on a chunk stream with a partly received message starts a new
    /// message and drops the old one.
    pub fn read(&mut self, input: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            if let Some((slot, left)) = self.current {
                if input.is_empty() {
                    return Ok(None);
                }
                let n = left.min(input.len());
                let complete = self.append(slot, input, n);
                if n < left {
                    self.current = Some((slot, left - n));
                    return Ok(None);
                }
                self.current = None;
                if complete.is_some() {
                    return Ok(complete);
                }
                continue;
            }
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
            if plan.new.is_some() {
                self.drop_partial(slot);
            }
            // Checked for the whole chunk here, so that where an error is found does not
            // depend on how the input was split.
            if self.buffered + plan.payload_len > self.max_buffered {
                return Err(ChunkError::TooMuchBuffered(self.max_buffered));
            }
            if let Some(header) = plan.new {
                let length = header.length as usize;
                if plan.payload_len == length && input.len() >= length {
                    if let Some(stream) = self.streams.get_mut(slot) {
                        stream.header = header;
                    }
                    let payload = if length < SLICE_FROM {
                        let copy = Bytes::copy_from_slice(input.get(..length).unwrap_or_default());
                        input.advance(length);
                        copy
                    } else {
                        input.split_to(length).freeze()
                    };
                    return Ok(Some(message(&header, payload)));
                }
                let capacity = self.first_allocation(length, plan.payload_len.min(input.len()));
                if let Some(stream) = self.streams.get_mut(slot) {
                    stream.header = header;
                    stream.partial = Some(self.pool.take(capacity));
                }
            }
            self.current = Some((slot, plan.payload_len));
        }
    }

    /// How much to allocate for a message of `length` bytes whose first chunk brings `available`
    /// bytes now: all of it while the allowance for data yet to come lasts, else what is there.
    fn first_allocation(&self, length: usize, available: usize) -> usize {
        let ahead: usize = self
            .streams
            .iter()
            .filter_map(|s| s.partial.as_ref())
            .map(|p| p.capacity() - p.len())
            .sum();
        // Never more ahead than the bound on buffered bytes: a server reading a client's setup
        // messages under a small limit allocates no more than that limit allows.
        let allowance = AHEAD_ALLOWANCE.min(self.max_buffered).saturating_sub(ahead);
        length.min(available.saturating_add(allowance))
    }

    /// Moves `n` bytes of payload from `input` to the message on `slot`; returns the message
    /// when they complete it.
    fn append(&mut self, slot: usize, input: &mut BytesMut, n: usize) -> Option<RawMessage> {
        let n = n.min(input.len());
        let stream = self.streams.get_mut(slot);
        let Some((header, partial)) = stream.and_then(|s| Some((&s.header, s.partial.as_mut()?)))
        else {
            // The message was aborted inside this chunk: the rest of the chunk is dropped.
            input.advance(n);
            return None;
        };
        partial.extend_from_slice(input.get(..n).unwrap_or_default());
        input.advance(n);
        self.buffered += n;
        if partial.len() < header.length as usize {
            return None;
        }
        let payload = self.pool.freeze(std::mem::take(partial));
        self.buffered -= payload.len();
        let message = message(header, payload);
        if let Some(s) = self.streams.get_mut(slot) {
            s.partial = None;
        }
        Some(message)
    }

    /// Parses the chunk header at the front of `input`; `Ok(None)` if it is not complete yet.
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
mod tests {
    use super::super::ChunkWriter;
    use super::*;

    fn first_chunks(chunk_size: u32, lengths: &[(u32, usize)]) -> BytesMut {
        let mut w = ChunkWriter::new();
        w.set_chunk_size(chunk_size);
        let mut wire = BytesMut::new();
        for &(csid, len) in lengths {
            let mut out = BytesMut::new();
            let msg = RawMessage {
                type_id: 9,
                timestamp: 0,
                stream_id: 1,
                payload: Bytes::from(vec![7u8; len]),
            };
            w.write(csid, &msg, &mut out);
            wire.extend_from_slice(&out[..12 + chunk_size as usize]);
        }
        wire
    }

    fn allocated(r: &ChunkReader) -> usize {
        r.streams
            .iter()
            .filter_map(|s| s.partial.as_ref())
            .map(Vec::capacity)
            .sum()
    }

    #[test]
    fn a_multi_chunk_message_is_allocated_once_at_its_length() {
        let mut r = ChunkReader::new();
        r.set_chunk_size(4096).unwrap();
        let mut wire = first_chunks(4096, &[(6, 300_000)]);
        assert_eq!(r.read(&mut wire), Ok(None));
        assert!(wire.is_empty());
        let partial = r.streams[0].partial.as_ref().unwrap();
        assert_eq!((partial.len(), partial.capacity()), (4096, 300_000));
    }

    #[test]
    fn headers_alone_allocate_at_most_the_allowance() {
        // 60 streams each announcing 16 MiB - 1 and sending one 128-byte chunk.
        let mut r = ChunkReader::new();
        let streams: Vec<(u32, usize)> = (3..63).map(|c| (c, 0xFF_FFFF)).collect();
        let mut wire = first_chunks(128, &streams);
        let received = wire.len();
        assert_eq!(r.read(&mut wire), Ok(None));
        assert!(wire.is_empty());
        let held = allocated(&r);
        assert!(
            held <= AHEAD_ALLOWANCE + received,
            "{held} bytes allocated after receiving {received}"
        );
        // The allowance went to the first messages; the later ones hold what arrived.
        let capacities: Vec<usize> = r
            .streams
            .iter()
            .map(|s| s.partial.as_ref().unwrap().capacity())
            .collect();
        assert_eq!(capacities[0], AHEAD_ALLOWANCE + 128);
        assert!(capacities[1..].iter().all(|&c| c == 128), "{capacities:?}");
    }

    #[test]
    fn a_chunk_arriving_in_pieces_is_taken_as_it_comes() {
        let mut r = ChunkReader::new();
        r.set_chunk_size(65536).unwrap();
        let mut w = ChunkWriter::new();
        w.set_chunk_size(65536);
        let payload = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let msg = RawMessage {
            type_id: 9,
            timestamp: 5,
            stream_id: 1,
            payload: payload.clone(),
        };
        let mut wire = BytesMut::new();
        w.write(4, &msg, &mut wire);
        let mut input = BytesMut::new();
        let mut got = None;
        for piece in wire.chunks(1000) {
            input.extend_from_slice(piece);
            if let Some(m) = r.read(&mut input).unwrap() {
                got = Some(m);
            }
            assert!(input.is_empty(), "the reader left {} bytes", input.len());
        }
        assert_eq!(got.unwrap().payload, payload);
        assert_eq!(r.buffered, 0);
    }
}
