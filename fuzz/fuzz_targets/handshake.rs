//! The client handshake against arbitrary server bytes, in both modes, fed in many splits; and
//! against a digest server built from the fuzz data (valid, or with a corrupted S2).
//!
//! Invariants: the outcome does not depend on the splits; a first byte other than 3 fails at
//! once (naming HTTP and TLS answers by that byte); exactly S0+S1+S2 (3073 bytes) are
//! consumed and the rest stays in the input; without a valid digest S1, C2 echoes S1; against
//! a digest server C2 carries the right digest, and a corrupted S2 is refused with
//! `BadDigest`; once done, feeding consumes nothing.
//!
//! Input: control byte (bit 0 digest client; bit 1 digest server; bit 2 S1 digest layout;
//! bit 3 corrupt S2), 4 bytes of C1 time, then the server bytes (or the material for them).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::digest::{block_digest, hmac, key, offset};
use gst_plugin_rtmp_fuzz::split_plans;
use gstrtmp::protocol::handshake::{
    ClientHandshake, HANDSHAKE_SIZE, HandshakeError, HandshakeMode, HandshakeProgress,
};

const RESPONSE_LEN: usize = 1 + 2 * HANDSHAKE_SIZE;
/// The client's random bytes: C1's random part, then C2's filler.
fn random() -> Vec<u8> {
    (0..3032).map(|i| (i * 7 + 3) as u8).collect()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    NeedMore,
    Failed(HandshakeError),
    Done { c2: Bytes, rest: Vec<u8> },
}

fn run(mode: HandshakeMode, time: u32, response: &[u8], plan: &[usize]) -> Outcome {
    let mut hs = ClientHandshake::new(mode, time, &random());
    let mut input = BytesMut::new();
    let mut pos = 0;
    let mut result = None;
    for &piece in plan {
        input.extend_from_slice(&response[pos..pos + piece]);
        pos += piece;
        if result.is_some() {
            continue;
        }
        let before = input.len();
        match hs.feed(&mut input) {
            Ok(HandshakeProgress::NeedMore) => {
                assert!(input.is_empty(), "NeedMore left {} bytes", input.len());
                assert!(pos < RESPONSE_LEN);
            }
            Ok(HandshakeProgress::Done(c2)) => {
                assert_eq!(pos - input.len(), RESPONSE_LEN);
                assert_eq!(c2.len(), HANDSHAKE_SIZE);
                // Once done, nothing more is taken.
                let left = input.len();
                assert_eq!(
                    hs.feed(&mut input),
                    Ok(HandshakeProgress::Done(Bytes::new()))
                );
                assert_eq!(input.len(), left);
                result = Some(Outcome::Done {
                    c2,
                    rest: Vec::new(),
                });
            }
            Err(e) => {
                assert!(before > 0);
                result = Some(Outcome::Failed(e));
            }
        }
    }
    match result {
        Some(Outcome::Done { c2, .. }) => Outcome::Done {
            c2,
            rest: input.to_vec(),
        },
        Some(other) => other,
        None => Outcome::NeedMore,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[ctrl, t0, t1, t2, t3], rest)) = data.split_first_chunk::<5>() else {
        return;
    };
    let mode = if ctrl & 1 != 0 {
        HandshakeMode::Digest
    } else {
        HandshakeMode::Simple
    };
    let time = u32::from_be_bytes([t0, t1, t2, t3]);
    let c1 = ClientHandshake::new(mode, time, &random())
        .c0c1()
        .slice(1..);

    let digest_server = ctrl & 2 != 0;
    let response = if digest_server {
        // S1 from the data, with a version and a digest; S2 answering C1's digest.
        let mut material = rest.iter().copied().chain(std::iter::repeat(0x5a));
        let mut s1: Vec<u8> = material.by_ref().take(HANDSHAKE_SIZE).collect();
        s1[4..8].copy_from_slice(&[0x0d, 0x0e, 0x0a, 0x0d]);
        let base = if ctrl & 4 != 0 { 772 } else { 8 };
        let digest = block_digest(
            &s1,
            &key(b"Genuine Adobe Flash Media Server 001")[..36],
            base,
        );
        let off = offset(&s1, base);
        s1[off..off + 32].copy_from_slice(&digest);
        let filler: Vec<u8> = material.take(HANDSHAKE_SIZE - 32).collect();
        let c1_digest = block_digest(&c1, &key(b"Genuine Adobe Flash Player 001")[..30], 8);
        let fms = key(b"Genuine Adobe Flash Media Server 001");
        let mut s2 = filler.clone();
        s2.extend_from_slice(&hmac(&hmac(&fms, &[&c1_digest]), &[&filler]));
        if ctrl & 8 != 0 {
            let at = usize::from(t0) * 6 % HANDSHAKE_SIZE;
            s2[at] ^= 1 << (t1 & 7);
        }
        [&[3][..], &s1, &s2].concat()
    } else {
        rest.to_vec()
    };

    let plans = split_plans(response.len().min(RESPONSE_LEN + 64), u64::from(time));
    let response = &response[..response.len().min(RESPONSE_LEN + 64)];
    let reference = run(mode, time, response, &plans[0]);
    for plan in &plans[1..] {
        assert_eq!(run(mode, time, response, plan), reference, "split {plan:?}");
    }

    match &reference {
        Outcome::Failed(HandshakeError::UnsupportedVersion(v)) => {
            assert_eq!(*v, response[0]);
            assert!(!matches!(*v, 3 | b'H' | 21 | 22), "{v}");
        }
        // HTTP ('H') and TLS (21, 22) are named from the first byte.
        Outcome::Failed(HandshakeError::NotRtmp(_)) => {
            assert!(matches!(response[0], b'H' | 21 | 22));
        }
        Outcome::Failed(HandshakeError::BadDigest) => {
            assert!(digest_server && mode == HandshakeMode::Digest && ctrl & 8 != 0);
        }
        Outcome::Failed(e) => panic!("unexpected {e:?}"),
        Outcome::NeedMore => {
            assert!(response.len() < RESPONSE_LEN && response.first().is_none_or(|&b| b == 3))
        }
        Outcome::Done { c2, rest } => {
            assert_eq!(response[0], 3);
            assert_eq!(&rest[..], &response[RESPONSE_LEN..]);
            let s1 = &response[1..1 + HANDSHAKE_SIZE];
            if digest_server && mode == HandshakeMode::Digest {
                assert!(ctrl & 8 == 0, "corrupted S2 accepted");
                let base = if ctrl & 4 != 0 { 772 } else { 8 };
                let s1_digest = &s1[offset(s1, base)..offset(s1, base) + 32];
                let fp = key(b"Genuine Adobe Flash Player 001");
                let (filler, sig) = c2.split_at(HANDSHAKE_SIZE - 32);
                assert_eq!(filler, &random()[1528..]);
                assert_eq!(sig, hmac(&hmac(&fp, &[s1_digest]), &[filler]));
            } else {
                assert_eq!(&c2[..], s1, "C2 does not echo S1");
            }
        }
    }
});
