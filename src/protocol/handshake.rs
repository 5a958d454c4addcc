//! The RTMP handshake: the client side here, the server side in [`ServerHandshake`], sharing
//! the digest helpers below.
//!
//! C0+C1 go out, S0+S1+S2 come in, C2 goes out. Two forms of C1 exist:
//! - simple: time, zero, 1528 random bytes (what rtmp2 and most servers accept);
//! - digest: Flash Player's form, with an HMAC-SHA256 digest of C1 placed at an offset derived from C1
//!   itself, which some servers (and CDNs) require and answer with a digest S1/S2 that we verify.
//!
//! Sans-IO: the caller supplies the time field and random bytes, feeds what it reads,
//! and sends what it is given.
//!
//! The digest form, as Flash Player, librtmp and FFmpeg's `rtmpproto.c` do it:
//! - A 1536-byte block holds a 32-byte digest at an offset computed from four bytes of the block
//!   itself: `sum(block[base..base + 4]) % 728 + base + 4`. Two layouts exist: `base = 8` (digest in
//!   the first 764-byte half, after time and version; "scheme 1" in crtmpserver/SRS naming, librtmp's
//!   and FFmpeg's choice for plain RTMP) and `base = 772` (digest in the second half; "scheme 0").
//! - The digest is HMAC-SHA256 over the block without those 32 bytes, keyed by the first 30 bytes of
//!   the Flash Player key (C1) or the first 36 bytes of the Flash Media Server key (S1).
//! - S2/C2 end with HMAC-SHA256 over their first 1504 bytes, keyed by HMAC-SHA256(full key of the
//!   sender, digest of the peer's C1/S1).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const RTMP_VERSION: u8 = 3;
/// Size of C1/C2/S1/S2.
pub const HANDSHAKE_SIZE: usize = 1536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMode {
    Simple,
    /// Digest C1 with Flash Player version bytes 9.0.124.2 (`0x80 0x00 0x07 0x02`), the scheme-1 layout
    /// (digest in the first 764-byte block after time and version).
    Digest,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum HandshakeError {
    #[error("server speaks RTMP version {0}, not 3")]
    UnsupportedVersion(u8),
    /// The answer is not RTMP at all but another protocol we can name (first bytes `HTTP/`:
    /// an HTTP server or proxy on that port; a TLS record: an `rtmps://` server).
    #[error("not an RTMP server (it answered with {0})")]
    NotRtmp(&'static str),
    /// Never returned at present: S2 echoes are not enforced (see [`ClientHandshake::feed`]).
    #[error("server's S2 does not echo our C1")]
    BadEcho,
    /// The server sent a digest S1 but its S2 does not carry the digest of our C1.
    #[error("server's S2 digest does not match our C1 digest")]
    BadDigest,
    /// Server side: the client's C0 is not 3 (RTMPE's 6, 8 and 9 included: not supported).
    #[error("client speaks RTMP version {0}, not 3")]
    UnsupportedClientVersion(u8),
    /// Server side: the client speaks another protocol we can name from its first byte (a TLS
    /// ClientHello: an `rtmps://` client on a plain port; an HTTP request).
    #[error("not an RTMP client (it sent {0})")]
    ClientNotRtmp(&'static str),
}

/// Names the protocol of an answer that is not RTMP, from its first byte: no RTMP version is
/// 'H' (72, an HTTP status line: an HTTP server or proxy on that port) or 21/22 (a TLS alert or
/// handshake record: an `rtmps://` server). The first byte alone decides, so the outcome does
/// not depend on how the answer is split (RTMP is 3, RTMPE 6, 8 and 9).
fn not_rtmp(answer: &[u8]) -> Option<HandshakeError> {
    match answer.first()? {
        b'H' => Some(HandshakeError::NotRtmp("HTTP")),
        21 | 22 => Some(HandshakeError::NotRtmp("TLS; try rtmps://")),
        _ => None,
    }
}

#[derive(Debug, PartialEq)]
pub enum HandshakeProgress {
    /// More bytes are needed.
    NeedMore,
    /// Send these bytes (C2); the handshake is complete. Bytes after S2 remain in the input.
    Done(Bytes),
}

type HmacSha256 = Hmac<Sha256>;

const DIGEST_LEN: usize = 32;
/// Random part of C1 (after time and version).
const RANDOM_LEN: usize = HANDSHAKE_SIZE - 8;
/// Filler of a digest C2/S2 (before its trailing digest).
const FILLER_LEN: usize = HANDSHAKE_SIZE - DIGEST_LEN;
/// S0 + S1 + S2.
const RESPONSE_LEN: usize = 1 + 2 * HANDSHAKE_SIZE;

const FLASH_PLAYER_VERSION: [u8; 4] = [0x80, 0x00, 0x07, 0x02];

/// Digest in the first half of the block (offset from bytes 8..12); what we send.
const DIGEST_FIRST_BASE: usize = 8;
/// Digest in the second half of the block (offset from bytes 772..776).
const DIGEST_SECOND_BASE: usize = 772;

const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// Text part followed by [`KEY_TAIL`]; `N` must be `text.len() + 32` (checked at compile time).
const fn handshake_key<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut key = [0u8; N];
    let mut i = 0;
    while i < text.len() {
        key[i] = text[i];
        i += 1;
    }
    let mut j = 0;
    while j < KEY_TAIL.len() {
        key[text.len() + j] = KEY_TAIL[j];
        j += 1;
    }
    assert!(text.len() + KEY_TAIL.len() == N);
    key
}

const PLAYER_KEY: [u8; 62] = handshake_key(b"Genuine Adobe Flash Player 001");
const PLAYER_KEY_TEXT_LEN: usize = 30;
const SERVER_KEY: [u8; 68] = handshake_key(b"Genuine Adobe Flash Media Server 001");
const SERVER_KEY_TEXT_LEN: usize = 36;

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC hashes or pads keys of any length; `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Where the digest of `block` sits for the layout starting at `base`; `None` if `block` is too short.
/// For a 1536-byte block the result is at most `727 + 772 + 4 = 1503`, so the digest fits.
fn digest_offset(block: &[u8], base: usize) -> Option<usize> {
    let bytes = block.get(base..base + 4)?;
    let sum: usize = bytes.iter().map(|&b| usize::from(b)).sum();
    let offset = sum % 728 + base + 4;
    (offset + DIGEST_LEN <= block.len()).then_some(offset)
}

/// HMAC over `block` without the 32 digest bytes at `offset`.
fn block_mac(key: &[u8], block: &[u8], offset: usize) -> Option<HmacSha256> {
    let mut mac = hmac_sha256(key);
    mac.update(block.get(..offset)?);
    mac.update(block.get(offset + DIGEST_LEN..)?);
    Some(mac)
}

/// The digest of `block` keyed by `key` and the base of its layout, trying the layouts in the order
/// of `bases`; `None` if none verifies.
fn find_digest(block: &[u8], key: &[u8], bases: [usize; 2]) -> Option<(usize, [u8; DIGEST_LEN])> {
    bases.into_iter().find_map(|base| {
        let offset = digest_offset(block, base)?;
        let digest = block.get(offset..offset + DIGEST_LEN)?;
        block_mac(key, block, offset)?.verify_slice(digest).ok()?;
        Some((base, digest.try_into().ok()?))
    })
}

/// The server's S1 digest, if S1 carries a valid one in either layout. The layout we use for C1 is
/// tried first, then the other, as librtmp does (FFmpeg tries them the other way round; a false match
/// is a 2^-256 event, so the order only saves a hash).
fn find_server_digest(s1: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    find_digest(
        s1,
        &SERVER_KEY[..SERVER_KEY_TEXT_LEN],
        [DIGEST_FIRST_BASE, DIGEST_SECOND_BASE],
    )
    .map(|(_, digest)| digest)
}

/// The key for the trailing digest of S2/C2: HMAC(full key of the sender, the peer's C1/S1 digest).
fn response_key(sender_key: &[u8], peer_digest: &[u8; DIGEST_LEN]) -> [u8; DIGEST_LEN] {
    let mut mac = hmac_sha256(sender_key);
    mac.update(peer_digest);
    mac.finalize().into_bytes().into()
}

pub struct ClientHandshake {
    mode: HandshakeMode,
    /// C0 followed by C1.
    c0c1: Bytes,
    /// The digest embedded in C1 (digest mode only).
    c1_digest: Option<[u8; DIGEST_LEN]>,
    /// Filler for a digest C2 (digest mode only).
    c2_filler: Vec<u8>,
    /// S0, S1 and S2 as they arrive; `received` bytes of it are filled.
    response: Box<[u8; RESPONSE_LEN]>,
    received: usize,
    done: bool,
}

impl ClientHandshake {
    /// `time` goes in C1's time field; `random` fills C1's random part (its first 1528 bytes; if it is
    /// shorter, zeros fill the rest). In digest mode, `random[1528..3032]` fills C2's random part where
    /// present, and C1's random bytes are reused for the rest.
    pub fn new(mode: HandshakeMode, time: u32, random: &[u8]) -> Self {
        let mut c0c1 = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        c0c1.put_u8(RTMP_VERSION);
        c0c1.put_u32(time);
        c0c1.put_slice(match mode {
            HandshakeMode::Simple => &[0; 4],
            HandshakeMode::Digest => &FLASH_PLAYER_VERSION,
        });
        let c1_random = random.get(..RANDOM_LEN).unwrap_or(random);
        c0c1.put_slice(c1_random);
        c0c1.put_bytes(0, RANDOM_LEN - c1_random.len());

        let mut c1_digest = None;
        let mut c2_filler = Vec::new();
        if mode == HandshakeMode::Digest {
            let c1 = &mut c0c1[1..];
            if let Some(offset) = digest_offset(c1, DIGEST_FIRST_BASE)
                && let Some(mac) = block_mac(&PLAYER_KEY[..PLAYER_KEY_TEXT_LEN], c1, offset)
            {
                let digest: [u8; DIGEST_LEN] = mac.finalize().into_bytes().into();
                c1[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
                c1_digest = Some(digest);
            }
            let extra = random.get(RANDOM_LEN..).unwrap_or_default();
            c2_filler = (0..FILLER_LEN)
                .map(|i| match extra.get(i) {
                    Some(&b) => b,
                    None => c1.get(8 + i).copied().unwrap_or_default(),
                })
                .collect();
        }

        Self {
            mode,
            c0c1: c0c1.freeze(),
            c1_digest,
            c2_filler,
            response: Box::new([0; RESPONSE_LEN]),
            received: 0,
            done: false,
        }
    }

    /// C0 and C1, to send first.
    pub fn c0c1(&self) -> Bytes {
        self.c0c1.clone()
    }

    /// Consumes S0, S1 and S2 from `input` as they arrive (it may hold fewer bytes or more; bytes are
    /// taken as soon as they come, so the caller may pass a fresh buffer each time or keep one).
    ///
    /// In digest mode a server that answers with a plain (non-digest) S1 is accepted, as Flash Player
    /// does, and gets S1 echoed as C2. S2 is not compared with C1 when S1 was plain, in either mode:
    /// servers differ (FFmpeg's server zeroes the version field of the C1 it echoes) and rtmp2, librtmp
    /// and FFmpeg accept a mismatching echo, so [`HandshakeError::BadEcho`] is not returned. After a
    /// digest S1, S2 must carry our C1's digest ([`HandshakeError::BadDigest`] otherwise). Once done,
    /// further calls consume nothing and return `Done` with an empty C2.
    pub fn feed(&mut self, input: &mut BytesMut) -> Result<HandshakeProgress, HandshakeError> {
        if self.done {
            return Ok(HandshakeProgress::Done(Bytes::new()));
        }
        let take = (RESPONSE_LEN - self.received).min(input.len());
        if let (Some(dst), Some(src)) = (
            self.response.get_mut(self.received..self.received + take),
            input.get(..take),
        ) {
            dst.copy_from_slice(src);
            input.advance(take);
            self.received += take;
        }
        // Check S0 as soon as it is there: an RTMPE server (6, 8, 9) would otherwise make us wait for
        // 3072 more bytes that may never come in this form.
        if self.received > 0 && self.response[0] != RTMP_VERSION {
            return Err(not_rtmp(&self.response[..self.received])
                .unwrap_or(HandshakeError::UnsupportedVersion(self.response[0])));
        }
        if self.received < RESPONSE_LEN {
            return Ok(HandshakeProgress::NeedMore);
        }
        let c2 = self.c2()?;
        self.done = true;
        Ok(HandshakeProgress::Done(c2))
    }

    /// Builds C2 once S0, S1 and S2 are all there.
    fn c2(&self) -> Result<Bytes, HandshakeError> {
        let (s0s1, s2) = self.response.split_at(1 + HANDSHAKE_SIZE);
        let s1 = s0s1.get(1..).unwrap_or_default();
        let echo = || Bytes::copy_from_slice(s1);

        let (HandshakeMode::Digest, Some(c1_digest)) = (self.mode, &self.c1_digest) else {
            return Ok(echo());
        };
        // A zero version marks a server that does no digests (FFmpeg's server, nginx-rtmp when it found
        // no digest in C1): nothing to look for. FFmpeg's player tests the first version byte for >= 3.
        if s1.get(4..8) == Some(&[0; 4][..]) {
            return Ok(echo());
        }
        let Some(s1_digest) = find_server_digest(s1) else {
            return Ok(echo());
        };

        // S1 carried a valid digest, so the server knows the scheme and S2 must carry the digest of our
        // C1. This is where FFmpeg's player fails ("Signature mismatch") and librtmp too ("Server not
        // genuine Adobe"); we do the same. Servers that don't do digests send a plain S1 and never get
        // here, which is what keeps this strict check from rejecting them.
        let (s2_filler, s2_digest) = s2.split_at(FILLER_LEN);
        let mut mac = hmac_sha256(&response_key(&SERVER_KEY, c1_digest));
        mac.update(s2_filler);
        mac.verify_slice(s2_digest)
            .map_err(|_| HandshakeError::BadDigest)?;

        let mut mac = hmac_sha256(&response_key(&PLAYER_KEY, &s1_digest));
        mac.update(&self.c2_filler);
        let mut c2 = BytesMut::with_capacity(HANDSHAKE_SIZE);
        c2.put_slice(&self.c2_filler);
        c2.put_slice(&mac.finalize().into_bytes());
        Ok(c2.freeze())
    }
}

mod server;
pub use server::{ServerHandshake, ServerHandshakeForm, ServerHandshakeProgress};

#[cfg(test)]
mod tests;
