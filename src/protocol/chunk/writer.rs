//! Serialising messages into chunks, with the smallest header that describes each one.

use bytes::{Bytes, BytesMut};

use super::{
    DEFAULT_CHUNK_SIZE, EXTENDED, MAX_CHUNK_SIZE, MAX_HEADER_LEN, MAX_MESSAGE_LENGTH, RawMessage,
};

/// The header fields of a message to write; its length is that of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    pub type_id: u8,
    pub timestamp: u32,
    pub stream_id: u32,
}

impl MessageInfo {
    pub fn of(msg: &RawMessage) -> Self {
        MessageInfo {
            type_id: msg.type_id,
            timestamp: msg.timestamp,
            stream_id: msg.stream_id,
        }
    }
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
        let headers = self.headers(csid, MessageInfo::of(msg), msg.payload.len());
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
        let payload = std::slice::from_ref(&msg.payload);
        self.write_parts_vectored(csid, MessageInfo::of(msg), payload, headers, parts);
    }

    /// [`write_vectored`](Self::write_vectored) for a payload held in several pieces (the
    /// message is their concatenation), e.g. a [`Payload`](super::Payload)'s parts. A chunk
    /// whose payload spans two pieces gets one slice from each: nothing is copied.
    ///
    /// # Panics
    /// As [`write`](Self::write).
    pub fn write_parts_vectored(
        &mut self,
        csid: u32,
        info: MessageInfo,
        payload: &[Bytes],
        headers: &mut BytesMut,
        parts: &mut Vec<Bytes>,
    ) {
        let len = payload.iter().map(Bytes::len).sum();
        let built = self.headers(csid, info, len);
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
        // Each piece boundary adds at most one slice.
        parts.reserve(2 * chunks + payload.len());
        // Where the next chunk's payload starts: piece index and offset in it.
        let (mut piece, mut offset) = (0, 0);
        for_each_chunk(len, self.chunk_size, |is_first, range| {
            parts.push(if is_first {
                first.clone()
            } else {
                cont.clone()
            });
            let mut want = range.len();
            while want > 0 {
                let Some(bytes) = payload.get(piece) else {
                    break;
                };
                let n = want.min(bytes.len() - offset);
                if n > 0 {
                    parts.push(bytes.slice(offset..offset + n));
                }
                want -= n;
                offset += n;
                if offset == bytes.len() {
                    piece += 1;
                    offset = 0;
                }
            }
        });
    }

    /// Chooses the header type for a message of `len` bytes, records it as the stream's last
    /// header and builds the headers of its first and continuation chunks.
    fn headers(&mut self, csid: u32, msg: MessageInfo, len: usize) -> MessageHeaders {
        assert!(
            (2..=65599).contains(&csid),
            "chunk stream id {csid} out of range"
        );
        let length = u32::try_from(len)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes of a pattern that does not repeat every chunk, cut at `cuts` into parts that
    /// each live in their own allocation.
    fn split(len: usize, cuts: &[usize]) -> Vec<Bytes> {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 251) as u8).collect();
        let mut parts = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&len)) {
            parts.push(Bytes::copy_from_slice(&data[start..cut]));
            start = cut;
        }
        parts
    }

    /// Checks that the payload slices in `out` are, in order, sub-slices of `pieces` that cover
    /// them exactly, and that every other slice is a chunk header.
    fn assert_points_into(out: &[Bytes], pieces: &[Bytes]) {
        let (mut piece, mut offset) = (0, 0);
        for slice in out {
            let inside = pieces.iter().any(|p| {
                let range = p.as_ptr_range();
                range.contains(&slice.as_ptr()) && slice.len() <= p.len()
            });
            if !inside {
                assert!(
                    slice.len() <= MAX_HEADER_LEN,
                    "copied payload of {}",
                    slice.len()
                );
                continue;
            }
            while pieces[piece].len() == offset {
                piece += 1;
                offset = 0;
            }
            let expected = pieces[piece][offset..].as_ptr();
            assert_eq!(slice.as_ptr(), expected, "slice out of order");
            assert!(
                offset + slice.len() <= pieces[piece].len(),
                "slice crosses a piece"
            );
            offset += slice.len();
        }
        while piece < pieces.len() && pieces[piece].len() == offset {
            piece += 1;
            offset = 0;
        }
        assert_eq!(piece, pieces.len(), "payload not covered");
    }

    #[test]
    fn parts_give_the_same_chunks_as_one_payload_without_copying() {
        for chunk_size in [1u32, 7, 128, 4096] {
            let cs = chunk_size as usize;
            let len = 3 * cs + 100;
            let cases: Vec<Vec<usize>> = vec![
                vec![],                           // one part
                vec![5],                          // FLV video header, then the frame
                vec![2],                          // FLV audio header
                vec![cs],                         // on a chunk boundary
                vec![cs, 2 * cs],                 // on two
                vec![cs - 1, cs + 1, 2 * cs + 3], // just off them
                vec![1, 2, 3, 4],                 // tiny parts, several per chunk
                vec![0, 5, 5, len],               // empty parts are skipped
            ];
            for cuts in cases {
                let pieces = split(len, &cuts);
                let contiguous = RawMessage {
                    type_id: 9,
                    timestamp: 40,
                    stream_id: 1,
                    payload: Bytes::from(pieces.concat()),
                };
                let info = MessageInfo::of(&contiguous);
                let (mut plain_writer, mut parts_writer) = (ChunkWriter::new(), ChunkWriter::new());
                plain_writer.set_chunk_size(chunk_size);
                parts_writer.set_chunk_size(chunk_size);
                let mut plain = BytesMut::new();
                let (mut headers, mut out) = (BytesMut::new(), Vec::new());
                // Twice, so that the second message uses the compressed headers.
                for _ in 0..2 {
                    plain_writer.write(6, &contiguous, &mut plain);
                    parts_writer.write_parts_vectored(6, info, &pieces, &mut headers, &mut out);
                }
                assert_eq!(
                    out.concat(),
                    plain.to_vec(),
                    "chunk size {chunk_size}, cuts {cuts:?}"
                );
                let half = out.len() / 2;
                assert_points_into(&out[..half], &pieces);
                assert_points_into(&out[half..], &pieces);
                assert!(out.iter().all(|s| !s.is_empty()));
            }
        }
    }

    #[test]
    fn a_chunk_takes_its_payload_from_two_parts() {
        let pieces = split(10, &[5]);
        let info = MessageInfo {
            type_id: 9,
            timestamp: 0,
            stream_id: 1,
        };
        let mut writer = ChunkWriter::new();
        writer.set_chunk_size(7);
        let (mut headers, mut out) = (BytesMut::new(), Vec::new());
        writer.write_parts_vectored(6, info, &pieces, &mut headers, &mut out);
        let lens: Vec<_> = out.iter().map(Bytes::len).collect();
        // Type-0 header, 5 + 2 payload bytes, type-3 header, 3 payload bytes.
        assert_eq!(lens, [12, 5, 2, 1, 3]);
        assert_eq!(out[1].as_ptr(), pieces[0].as_ptr());
        assert_eq!(out[2].as_ptr(), pieces[1].as_ptr());
        assert_eq!(out[4].as_ptr(), pieces[1][2..].as_ptr());
    }

    #[test]
    fn an_empty_payload_is_one_header() {
        let info = MessageInfo {
            type_id: 8,
            timestamp: 0,
            stream_id: 1,
        };
        let (mut headers, mut out) = (BytesMut::new(), Vec::new());
        ChunkWriter::new().write_parts_vectored(4, info, &[], &mut headers, &mut out);
        ChunkWriter::new().write_parts_vectored(4, info, &[Bytes::new()], &mut headers, &mut out);
        assert_eq!(out.iter().map(Bytes::len).collect::<Vec<_>>(), [12, 12]);
    }
}
