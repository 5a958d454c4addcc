//! FLV file framing: the file header and the tag layer (FLV spec E.2, E.3, E.4.1).
//!
//! A stream is `FLV header (9 bytes) + PreviousTagSize0 (4 bytes, 0)`, then tags. Each tag is an
//! 11-byte header (`UI8 type, UI24 data size, UI24 timestamp, UI8 timestamp extension (bits
//! 24..31), UI24 stream id = 0`), the data, and a UI32 PreviousTagSize (11 + data size).
//!
//! [`write_tag`] produces tags; [`FlvTagReader`] parses a stream as flvmux produces it, fed in
//! arbitrary pieces, so that `flvmux ! rtmpsink` can take tag bodies apart again. Fed one
//! piece per GStreamer memory, it hands out bodies as [`Payload`]s that share those memories.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::FlvError;
use crate::protocol::chunk::Payload;

/// FLV header for a stream with audio and video, followed by PreviousTagSize0.
pub const FLV_HEADER: [u8; 13] = flv_header(true, true);

/// Length of the FLV file header proper, without PreviousTagSize0.
pub const FLV_HEADER_LEN: usize = 9;
/// Length of a tag header.
pub const TAG_HEADER_LEN: usize = 11;
/// Length of the PreviousTagSize field after each tag.
pub const PREVIOUS_TAG_SIZE_LEN: usize = 4;
/// The data size field is 24 bits.
pub const MAX_DATA_SIZE: usize = 0xff_ffff;
/// Default limit on one tag's data in [`FlvTagReader`]. Far above any real audio or video
/// frame of a live stream, and it bounds what the reader buffers.
pub const DEFAULT_MAX_TAG_SIZE: usize = 8 * 1024 * 1024;
/// A body from more pieces than two plus one per this many bytes is copied into one: each
/// part costs a slice (and an iovec) of its own, which tiny pieces would not be worth.
const BYTES_PER_EXTRA_PART: usize = 1024;

/// FLV header (with PreviousTagSize0) announcing audio and/or video.
pub const fn flv_header(audio: bool, video: bool) -> [u8; 13] {
    let flags = ((audio as u8) << 2) | (video as u8);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// The FLV tag types. Other values (and the encryption "filter" bit) are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TagType {
    Audio = 8,
    Video = 9,
    Script = 18,
}

impl TagType {
    pub fn from_u8(value: u8) -> Option<TagType> {
        match value {
            8 => Some(TagType::Audio),
            9 => Some(TagType::Video),
            18 => Some(TagType::Script),
            _ => None,
        }
    }
}

/// The 11-byte tag header for a body of `data_size` bytes (which must fit in 24 bits): the
/// timestamp is split into the 24-bit field and the extension byte, stream id 0.
pub fn tag_header(tag_type: TagType, data_size: u32, timestamp_ms: u32) -> [u8; TAG_HEADER_LEN] {
    let size = data_size.to_be_bytes();
    let ts = timestamp_ms.to_be_bytes();
    [
        tag_type as u8,
        size[1],
        size[2],
        size[3],
        ts[1],
        ts[2],
        ts[3],
        ts[0],
        0,
        0,
        0,
    ]
}

/// Appends one complete tag: header, `body`, PreviousTagSize. The timestamp is split into the
/// 24-bit field and the extension byte, so all 32 bits survive.
pub fn write_tag(
    out: &mut BytesMut,
    tag_type: TagType,
    timestamp_ms: u32,
    body: &[u8],
) -> Result<(), FlvError> {
    if body.len() > MAX_DATA_SIZE {
        return Err(FlvError::TagTooLarge {
            size: body.len(),
            limit: MAX_DATA_SIZE,
        });
    }
    out.reserve(TAG_HEADER_LEN + body.len() + PREVIOUS_TAG_SIZE_LEN);
    out.put_slice(&tag_header(tag_type, body.len() as u32, timestamp_ms));
    out.put_slice(body);
    out.put_u32((TAG_HEADER_LEN + body.len()) as u32);
    Ok(())
}

/// One tag from an FLV stream.
#[derive(Debug, Clone, PartialEq)]
pub struct FlvTag {
    pub tag_type: TagType,
    /// Milliseconds, all 32 bits (extension byte included).
    pub timestamp: u32,
    pub body: Bytes,
}

/// One tag from an FLV stream, its body in the pieces it was pushed in.
#[derive(Debug, Clone, PartialEq)]
pub struct FlvTagParts {
    pub tag_type: TagType,
    /// Milliseconds, all 32 bits (extension byte included).
    pub timestamp: u32,
    pub body: Payload,
}

/// Incremental FLV stream parser.
///
/// Feed it with [`push`](Self::push) in pieces of any size and take tags out with
/// [`next_tag`](Self::next_tag). A file header (and its PreviousTagSize0) is optional and
/// skipped wherever it appears between tags (flvmux re-sends headers when caps change).
/// A tag that lies within one pushed chunk is returned as a sub-slice of it, without copying;
/// [`next_tag_parts`](Self::next_tag_parts) returns one that spans several as sub-slices of each.
///
/// PreviousTagSize values are skipped unchecked: they only help seeking backwards. Garbage
/// where a tag type should be is an error, after which the reader stays failed: the stream is
/// out of sync and nothing later can be trusted.
#[derive(Debug)]
pub struct FlvTagReader {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    max_tag_size: usize,
    /// Set when the FLV header has been seen: its audio/video flags.
    header_flags: Option<u8>,
    failed: Option<FlvError>,
}

impl Default for FlvTagReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvTagReader {
    pub fn new() -> Self {
        Self::with_max_tag_size(DEFAULT_MAX_TAG_SIZE)
    }

    /// A reader that rejects tags declaring more than `max_tag_size` bytes of data.
    pub fn with_max_tag_size(max_tag_size: usize) -> Self {
        FlvTagReader {
            chunks: VecDeque::new(),
            buffered: 0,
            max_tag_size,
            header_flags: None,
            failed: None,
        }
    }

    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.buffered += data.len();
            self.chunks.push_back(data);
        }
    }

    /// Bytes pushed but not yet returned as tags.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The audio (0x04) and video (0x01) flags of the last FLV header seen, if any.
    pub fn header_flags(&self) -> Option<u8> {
        self.header_flags
    }

    /// The next complete tag, `Ok(None)` if more data is needed. A body that spans pushed
    /// pieces is copied into one `Bytes`.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let tag = self.next_tag_with(Self::take)?;
        Ok(tag.map(|(tag_type, timestamp, body)| FlvTag {
            tag_type,
            timestamp,
            body,
        }))
    }

    /// The next complete tag, its body made of sub-slices of the pushed pieces it spans (no
    /// copy), unless they are many and small. `Ok(None)` if more data is needed.
    pub fn next_tag_parts(&mut self) -> Result<Option<FlvTagParts>, FlvError> {
        let tag = self.next_tag_with(Self::take_parts)?;
        Ok(tag.map(|(tag_type, timestamp, body)| FlvTagParts {
            tag_type,
            timestamp,
            body,
        }))
    }

    /// The next tag's type, timestamp and body, the body taken out by `take_body`.
    fn next_tag_with<B>(
        &mut self,
        take_body: fn(&mut Self, usize) -> B,
    ) -> Result<Option<(TagType, u32, B)>, FlvError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.next_tag_inner(take_body);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    fn next_tag_inner<B>(
        &mut self,
        take_body: fn(&mut Self, usize) -> B,
    ) -> Result<Option<(TagType, u32, B)>, FlvError> {
        loop {
            let mut first = [0u8; 1];
            if !self.peek(&mut first) {
                return Ok(None);
            }
            if first[0] == b'F' {
                if !self.skip_file_header()? {
                    return Ok(None);
                }
                continue;
            }
            let mut header = [0u8; TAG_HEADER_LEN];
            if !self.peek(&mut header) {
                return Ok(None);
            }
            let tag_type =
                TagType::from_u8(header[0]).ok_or(FlvError::InvalidTagType(header[0]))?;
            let size =
                usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            if size > self.max_tag_size {
                return Err(FlvError::TagTooLarge {
                    size,
                    limit: self.max_tag_size,
                });
            }
            let timestamp = u32::from_be_bytes([header[7], header[4], header[5], header[6]]);
            let total = TAG_HEADER_LEN + size + PREVIOUS_TAG_SIZE_LEN;
            if self.buffered < total {
                return Ok(None);
            }
            self.skip(TAG_HEADER_LEN);
            let body = take_body(self, size);
            self.skip(PREVIOUS_TAG_SIZE_LEN);
            return Ok(Some((tag_type, timestamp, body)));
        }
    }

    /// Skips `FLV` header + PreviousTagSize0. Returns false if more data is needed.
    fn skip_file_header(&mut self) -> Result<bool, FlvError> {
        // Check the signature as soon as its bytes are there, so garbage fails early.
        let have = self.buffered.min(3);
        let mut sig = [0u8; 3];
        self.peek(&mut sig[..have]);
        if sig[..have] != b"FLV"[..have] {
            return Err(FlvError::InvalidHeader("bad signature"));
        }
        let mut header = [0u8; FLV_HEADER_LEN];
        if !self.peek(&mut header) {
            return Ok(false);
        }
        if header[3] != 1 {
            return Err(FlvError::InvalidHeader("version is not 1"));
        }
        let offset = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        // The header is 9 bytes in FLV version 1; a larger offset would be padding we cannot
        // interpret, and a smaller one is impossible.
        if offset != FLV_HEADER_LEN {
            return Err(FlvError::InvalidHeader("data offset is not 9"));
        }
        if self.buffered < FLV_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN {
            return Ok(false);
        }
        self.header_flags = Some(header[4] & 0x05);
        self.skip(FLV_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN);
        Ok(true)
    }

    /// Copies the first `out.len()` buffered bytes into `out`; false if not enough are buffered.
    fn peek(&self, out: &mut [u8]) -> bool {
        if self.buffered < out.len() {
            return false;
        }
        let mut filled = 0;
        for chunk in &self.chunks {
            let n = chunk.len().min(out.len() - filled);
            if let (Some(dst), Some(src)) = (out.get_mut(filled..filled + n), chunk.get(..n)) {
                dst.copy_from_slice(src);
            }
            filled += n;
            if filled == out.len() {
                break;
            }
        }
        true
    }

    /// Removes `n` buffered bytes (callers check `buffered` first).
    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.len() > n {
                let _ = front.split_to(n);
                self.buffered -= n;
                break;
            }
            n -= front.len();
            self.buffered -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Removes and returns `n` buffered bytes as slices of the chunks that hold them, or as
    /// one copy when those are many small chunks (callers check `buffered` first).
    fn take_parts(&mut self, n: usize) -> Payload {
        let mut pieces = 0;
        let mut covered = 0;
        for chunk in &self.chunks {
            if covered >= n {
                break;
            }
            covered += chunk.len();
            pieces += 1;
        }
        if pieces > 2 + n / BYTES_PER_EXTRA_PART {
            return self.take(n).into();
        }
        let mut out = Payload::new();
        let mut want = n;
        while want > 0 {
            let Some(mut front) = self.chunks.pop_front() else {
                break;
            };
            if front.len() > want {
                out.push(front.split_to(want));
                self.chunks.push_front(front);
                want = 0;
            } else {
                want -= front.len();
                out.push(front);
            }
        }
        self.buffered -= n - want;
        out
    }

    /// Removes and returns `n` buffered bytes: a slice of the front chunk when it holds them
    /// all, else a copy (callers check `buffered` first).
    fn take(&mut self, n: usize) -> Bytes {
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.buffered -= n;
            return out;
        }
        let mut out = BytesMut::with_capacity(n.min(self.buffered));
        while out.len() < n {
            let Some(mut front) = self.chunks.pop_front() else {
                break;
            };
            let want = n - out.len();
            if front.len() > want {
                out.put_slice(&front.split_to(want));
                self.chunks.push_front(front);
            } else {
                out.put_slice(&front);
            }
        }
        self.buffered -= out.len();
        out.freeze()
    }
}

#[cfg(test)]
#[path = "tag_tests.rs"]
mod tests;
