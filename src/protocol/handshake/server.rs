//! The RTMP handshake, server side.
//!
//! C0+C1 come in, S0+S1+S2 go out, C2 comes in. The form of the answer follows the client's C1:
//! - a C1 carrying a valid Flash Player digest (FFmpeg, librtmp and the Flash-derived encoders send
//!   one, with a non-zero version field) gets a digest S1, signed with the Flash Media Server key in
//!   the layout the client used, and an S2 that answers the client's digest: players such as
//!   FFmpeg's and librtmp's check it and refuse a server that gets it wrong;
//! - any other C1 gets a plain S1 (zero version) and an S2 that echoes C1, as rtmp2 and simple
//!   servers expect.
//!
//! C2's content is not checked, only its length is awaited: FFmpeg's server only logs a mismatch,
//! nginx-rtmp does not look, and clients differ in what they echo.
//!
//! Sans-IO: the caller supplies S1's time field and random bytes, feeds what it reads and sends
//! what it is given.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::Mac;

use super::{
    DIGEST_FIRST_BASE, DIGEST_LEN, DIGEST_SECOND_BASE, FILLER_LEN, HANDSHAKE_SIZE, HandshakeError,
    PLAYER_KEY, PLAYER_KEY_TEXT_LEN, RANDOM_LEN, RTMP_VERSION, SERVER_KEY, SERVER_KEY_TEXT_LEN,
    block_mac, digest_offset, find_digest, hmac_sha256, response_key,
};

/// S1's version field in digest mode: a non-zero version is what tells a client the server does
/// digests (FFmpeg's player checks the first byte for >= 3). nginx-rtmp sends the same bytes.
const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];

/// C0 + C1.
const REQUEST_LEN: usize = 1 + HANDSHAKE_SIZE;

/// What [`ServerHandshake::feed`] asks of the caller.
#[derive(Debug, PartialEq)]
pub enum ServerHandshakeProgress {
    /// Send these bytes (S0+S1+S2 once C0+C1 are complete; empty otherwise), then feed more.
    NeedMore(Bytes),
    /// The handshake is complete once these bytes are sent (S0+S1+S2 if C0, C1 and C2 all came in one
    /// feed; empty otherwise). Bytes after C2 remain in the input: they are the first chunks.
    Done(Bytes),
}

/// The layout of the answer, chosen from C1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerHandshakeForm {
    /// Plain S1, S2 echoing C1.
    Simple,
    /// Digest S1 in the layout whose offset bytes start at `base` (8 or 772), digest S2.
    Digest { base: usize },
}

pub struct ServerHandshake {
    time: u32,
    /// S1's random part, then S2's filler in digest mode.
    random: Vec<u8>,
    /// C0 and C1 as they arrive; `received` bytes of it are filled.
    request: Box<[u8; REQUEST_LEN]>,
    received: usize,
    /// C2 bytes consumed so far.
    c2_received: usize,
    form: Option<ServerHandshakeForm>,
    done: bool,
}

impl ServerHandshake {
    /// `time` goes in S1's time field; `random` fills S1's random part (its first 1528 bytes) and,
    /// in digest mode, S2's filler (`random[1528..3032]`). Where it is shorter, zeros fill S1 and
    /// S1's random bytes fill S2, so a short `random` only costs unpredictability.
    pub fn new(time: u32, random: &[u8]) -> Self {
        Self {
            time,
            random: random.to_vec(),
            request: Box::new([0; REQUEST_LEN]),
            received: 0,
            c2_received: 0,
            form: None,
            done: false,
        }
    }

    /// The form chosen from C1, once C1 is complete.
    pub fn form(&self) -> Option<ServerHandshakeForm> {
        self.form
    }

    /// Consumes C0, C1 and C2 from `input` as they arrive (it may hold fewer bytes or more; bytes are
    /// taken as soon as they come, so the caller may pass a fresh buffer each time or keep one).
    ///
    /// A first byte other than 3 fails at once: [`HandshakeError::UnsupportedClientVersion`] (RTMPE's
    /// 6 included: it is not supported), or [`HandshakeError::ClientNotRtmp`] for a TLS ClientHello (an
    /// `rtmps://` client on a plain port) or an HTTP request. Once done, further calls consume nothing
    /// and return `Done` with nothing to send.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
    ) -> Result<ServerHandshakeProgress, HandshakeError> {
        if self.done {
            return Ok(ServerHandshakeProgress::Done(Bytes::new()));
        }
        let mut send = Bytes::new();
        if self.received < REQUEST_LEN {
            let take = (REQUEST_LEN - self.received).min(input.len());
            if let (Some(dst), Some(src)) = (
                self.request.get_mut(self.received..self.received + take),
                input.get(..take),
            ) {
                dst.copy_from_slice(src);
                input.advance(take);
                self.received += take;
            }
            // Check C0 as soon as it is there, so that a client speaking something else is refused
            // before we wait for 1536 bytes that may never come.
            if self.received > 0 && self.request[0] != RTMP_VERSION {
                return Err(client_not_rtmp(self.request[0]));
            }
            if self.received < REQUEST_LEN {
                return Ok(ServerHandshakeProgress::NeedMore(send));
            }
            send = self.response();
        }
        let take = (HANDSHAKE_SIZE - self.c2_received).min(input.len());
        input.advance(take);
        self.c2_received += take;
        if self.c2_received < HANDSHAKE_SIZE {
            return Ok(ServerHandshakeProgress::NeedMore(send));
        }
        self.done = true;
        Ok(ServerHandshakeProgress::Done(send))
    }

    /// Builds S0+S1+S2 once C1 is complete, and records the form chosen.
    fn response(&mut self) -> Bytes {
        let c1 = self.request.get(1..).unwrap_or_default();
        let c1_digest = client_digest(c1);

        let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_u32(self.time);
        out.put_slice(match c1_digest {
            Some(_) => &SERVER_VERSION,
            None => &[0; 4],
        });
        let s1_random = self.random.get(..RANDOM_LEN).unwrap_or(&self.random);
        out.put_slice(s1_random);
        out.put_bytes(0, RANDOM_LEN - s1_random.len());

        let Some((base, c1_digest)) = c1_digest else {
            self.form = Some(ServerHandshakeForm::Simple);
            out.put_slice(c1);
            return out.freeze();
        };
        self.form = Some(ServerHandshakeForm::Digest { base });

        // S1 is signed in the client's layout, as nginx-rtmp does: a client that knows one layout only
        // finds it where it put its own.
        let s1 = &mut out[1..];
        if let Some(offset) = digest_offset(s1, base)
            && let Some(mac) = block_mac(&SERVER_KEY[..SERVER_KEY_TEXT_LEN], s1, offset)
        {
            let digest: [u8; DIGEST_LEN] = mac.finalize().into_bytes().into();
            s1[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
        }

        let extra = self.random.get(RANDOM_LEN..).unwrap_or_default();
        let filler: Vec<u8> = (0..FILLER_LEN)
            .map(|i| match extra.get(i) {
                Some(&b) => b,
                None => out.get(9 + i).copied().unwrap_or_default(),
            })
            .collect();
        let mut mac = hmac_sha256(&response_key(&SERVER_KEY, &c1_digest));
        mac.update(&filler);
        out.put_slice(&filler);
        out.put_slice(&mac.finalize().into_bytes());
        out.freeze()
    }
}

/// The client's C1 digest and the base of its layout, if C1 carries a valid one. A zero version marks
/// a client that does no digests (rtmp2, our simple mode): nothing to look for, as nginx-rtmp
/// decides too (FFmpeg's server does no digests at all).
fn client_digest(c1: &[u8]) -> Option<(usize, [u8; DIGEST_LEN])> {
    if c1.get(4..8) == Some(&[0; 4][..]) {
        return None;
    }
    // The first-half layout first: librtmp's and FFmpeg's for plain RTMP.
    find_digest(
        c1,
        &PLAYER_KEY[..PLAYER_KEY_TEXT_LEN],
        [DIGEST_FIRST_BASE, DIGEST_SECOND_BASE],
    )
}

/// The error for a client whose first byte is not 3. TLS (22, a ClientHello) and HTTP requests
/// (methods start with capitals; RTMPT is a later transport, not this one) are named.
fn client_not_rtmp(first: u8) -> HandshakeError {
    match first {
        22 | 21 => HandshakeError::ClientNotRtmp("TLS; an rtmps:// client"),
        b'A'..=b'Z' => HandshakeError::ClientNotRtmp("HTTP"),
        v => HandshakeError::UnsupportedClientVersion(v),
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
