//! The RTMP handshake, client side.
//!
//! C0+C1 go out, S0+S1+S2 come in, C2 goes out. Two forms of C1 exist:
//! - simple: time, zero, 1528 random bytes (what rtmp2 and most servers accept);
//! - digest: Flash Player's form, with an HMAC-SHA256 digest of C1 placed at an offset derived from C1
//!   itself, which some servers (and CDNs) require and answer with a digest S1/S2 that we verify.
//!
//! Sans-IO: the caller supplies the time field and random bytes, feeds what it reads,
//! and sends what it is given.

use bytes::{Bytes, BytesMut};

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

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HandshakeError {
    #[error("server speaks RTMP version {0}, not 3")]
    UnsupportedVersion(u8),
    #[error("server's S2 does not echo our C1")]
    BadEcho,
    #[error("server's S1 digest does not verify")]
    BadDigest,
}

#[derive(Debug, PartialEq)]
pub enum HandshakeProgress {
    /// More bytes are needed.
    NeedMore,
    /// Send these bytes (C2); the handshake is complete. Bytes after S2 remain in the input.
    Done(Bytes),
}

pub struct ClientHandshake {
    // private fields chosen by the implementation
}

impl ClientHandshake {
    /// `time` goes in C1's time field; `random` fills C1's random part (at least 1528 bytes used).
    pub fn new(mode: HandshakeMode, time: u32, random: &[u8]) -> Self {
        todo!()
    }

    /// C0 and C1, to send first.
    pub fn c0c1(&self) -> Bytes {
        todo!()
    }

    /// Consumes S0, S1 and S2 from `input` as they arrive (it may hold fewer bytes or more).
    /// In digest mode a server that answers with a plain (non-digest) S1 is accepted, as Flash Player does;
    /// S2 is checked against C1 in simple mode only loosely (servers differ), and against the digest in digest mode
    /// when the server used the digest form.
    pub fn feed(&mut self, input: &mut BytesMut) -> Result<HandshakeProgress, HandshakeError> {
        todo!()
    }
}
