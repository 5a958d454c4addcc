//! The server handshake against arbitrary client bytes, and against C1s made by our client (simple
//! and digest) or signed by hand in the second-half layout, fed in many splits.
//!
//! Invariants: the outcome (what is sent, what is consumed, the error) does not depend on the
//! splits; a first byte other than 3 fails at once, naming that byte; S0+S1+S2 (3073 bytes) are
//! sent exactly once, as soon as C0+C1 are in; exactly C0+C1+C2 (3073 bytes) are consumed and the
//! rest stays in the input; a C1 with a valid Flash Player digest (checked here independently, in
//! either layout) gets a digest S1 in its layout and an S2 answering its digest, any other C1 a
//! plain S1 and its echo; our own client accepts the answer; once done, feeding consumes nothing.
//!
//! Input: control byte (bits 0-1: 0 raw client bytes, 1 simple client C1, 2 digest client C1,
//! 3 hand-signed second-layout C1), 4 bytes of S1 time, then the client bytes (or the material for
//! C1, followed by what comes after it).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::digest::{block_digest, hmac, key, offset};
use gst_plugin_rtmp_fuzz::split_plans;
use gstrtmp::protocol::handshake::{
    ClientHandshake, HANDSHAKE_SIZE, HandshakeError, HandshakeMode, HandshakeProgress,
    ServerHandshake, ServerHandshakeForm, ServerHandshakeProgress,
};

const REQUEST_LEN: usize = 1 + HANDSHAKE_SIZE;
const TOTAL_LEN: usize = 1 + 2 * HANDSHAKE_SIZE;
fn valid_digest(block: &[u8], key: &[u8], base: usize) -> Option<[u8; 32]> {
    let off = offset(block, base);
    let digest = block_digest(block, key, base);
    (block[off..off + 32] == digest).then_some(digest)
}

/// The server's random bytes: S1's random part, then S2's filler.
fn random() -> Vec<u8> {
    (0..3032).map(|i| (i * 11 + 7) as u8).collect()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Failed(HandshakeError),
    NeedMore,
    Done { rest: Vec<u8> },
}

/// Feeds `input` in `plan`'s pieces; returns everything sent and the outcome.
fn run(time: u32, input: &[u8], plan: &[usize]) -> (Vec<u8>, Outcome, Option<ServerHandshakeForm>) {
    let mut hs = ServerHandshake::new(time, &random());
    let mut buf = BytesMut::new();
    let mut sent = Vec::new();
    let mut pos = 0;
    let mut result = None;
    for &piece in plan {
        buf.extend_from_slice(&input[pos..pos + piece]);
        pos += piece;
        if result.is_some() {
            continue;
        }
        let before = buf.len();
        match hs.feed(&mut buf) {
            Ok(ServerHandshakeProgress::NeedMore(send)) => {
                assert!(buf.is_empty(), "NeedMore left {} bytes", buf.len());
                assert!(pos < TOTAL_LEN);
                sent.extend_from_slice(&send);
            }
            Ok(ServerHandshakeProgress::Done(send)) => {
                assert_eq!(pos - buf.len(), TOTAL_LEN);
                sent.extend_from_slice(&send);
                let left = buf.len();
                assert_eq!(
                    hs.feed(&mut buf),
                    Ok(ServerHandshakeProgress::Done(Bytes::new()))
                );
                assert_eq!(buf.len(), left);
                result = Some(Outcome::Done { rest: Vec::new() });
            }
            Err(e) => {
                assert!(before > 0);
                result = Some(Outcome::Failed(e));
            }
        }
        // The answer goes out as soon as C0+C1 are in, and only once.
        let expected = if pos >= REQUEST_LEN && input[0] == 3 {
            TOTAL_LEN
        } else {
            0
        };
        if !matches!(result, Some(Outcome::Failed(_))) {
            assert_eq!(sent.len(), expected, "pos {pos}");
        }
    }
    let outcome = match result {
        Some(Outcome::Done { .. }) => Outcome::Done { rest: buf.to_vec() },
        Some(other) => other,
        None => Outcome::NeedMore,
    };
    (sent, outcome, hs.form())
}

fuzz_target!(|data: &[u8]| {
    let Some((&[ctrl, t0, t1, t2, t3], rest)) = data.split_first_chunk::<5>() else {
        return;
    };
    let time = u32::from_be_bytes([t0, t1, t2, t3]);
    let client_mode = match ctrl & 3 {
        1 => Some(HandshakeMode::Simple),
        2 => Some(HandshakeMode::Digest),
        _ => None,
    };
    let input = match ctrl & 3 {
        0 => rest.to_vec(),
        1 | 2 => {
            let (material, after) = rest.split_at(rest.len().min(1528));
            let c0c1 = ClientHandshake::new(client_mode.unwrap(), time, material).c0c1();
            [&c0c1[..], after].concat()
        }
        _ => {
            let mut c1: Vec<u8> = rest
                .iter()
                .copied()
                .chain(std::iter::repeat(0xa5))
                .take(HANDSHAKE_SIZE)
                .collect();
            c1[4] |= 1;
            let off = offset(&c1, 772);
            let digest = block_digest(&c1, &key(b"Genuine Adobe Flash Player 001")[..30], 772);
            c1[off..off + 32].copy_from_slice(&digest);
            [
                &[3][..],
                &c1,
                rest.get(HANDSHAKE_SIZE..).unwrap_or_default(),
            ]
            .concat()
        }
    };
    let input = &input[..input.len().min(TOTAL_LEN + 64)];

    let plans = split_plans(input.len(), u64::from(time));
    let reference = run(time, input, &plans[0]);
    for plan in &plans[1..] {
        assert_eq!(run(time, input, plan), reference, "split {plan:?}");
    }

    let (sent, outcome, form) = reference;
    match &outcome {
        Outcome::Failed(HandshakeError::UnsupportedClientVersion(v)) => {
            assert_eq!(*v, input[0]);
            assert!(*v != 3);
        }
        Outcome::Failed(HandshakeError::ClientNotRtmp(_)) => {
            assert!(matches!(input[0], 21 | 22 | b'A'..=b'Z'));
        }
        Outcome::Failed(e) => panic!("unexpected {e:?}"),
        Outcome::NeedMore => {
            assert!(input.len() < TOTAL_LEN && input.first().is_none_or(|&b| b == 3))
        }
        Outcome::Done { rest } => assert_eq!(&rest[..], &input[TOTAL_LEN..]),
    }
    if sent.is_empty() {
        return;
    }

    // The answer, against the C1 it answers.
    let c1 = &input[1..REQUEST_LEN];
    assert_eq!(sent[0], 3);
    let (s1, s2) = sent[1..].split_at(HANDSHAKE_SIZE);
    assert_eq!(&s1[..4], &time.to_be_bytes());
    let fp = key(b"Genuine Adobe Flash Player 001");
    let client_digest = if c1[4..8] == [0; 4] {
        None
    } else {
        [8, 772]
            .into_iter()
            .find_map(|base| Some((base, valid_digest(c1, &fp[..30], base)?)))
    };
    if ctrl & 3 >= 2 {
        assert!(
            client_digest.is_some(),
            "a digest C1 without a valid digest"
        );
    }
    match client_digest {
        Some((base, c1_digest)) => {
            assert_eq!(form, Some(ServerHandshakeForm::Digest { base }));
            let fms = key(b"Genuine Adobe Flash Media Server 001");
            assert!(valid_digest(s1, &fms[..36], base).is_some(), "S1 digest");
            let (filler, sig) = s2.split_at(HANDSHAKE_SIZE - 32);
            assert_eq!(filler, &random()[1528..]);
            assert_eq!(sig, hmac(&hmac(&fms, &[&c1_digest]), &[filler]));
        }
        None => {
            assert_eq!(form, Some(ServerHandshakeForm::Simple));
            assert_eq!(&s1[4..8], &[0; 4]);
            assert_eq!(s2, c1, "S2 does not echo C1");
        }
    }

    // Our client, which made this C1, accepts the answer (it checks a digest S2).
    if let Some(mode) = client_mode {
        let material = &rest[..rest.len().min(1528)];
        let mut client = ClientHandshake::new(mode, time, material);
        let mut answer = BytesMut::from(&sent[..]);
        assert!(matches!(
            client.feed(&mut answer),
            Ok(HandshakeProgress::Done(_))
        ));
    }
});
