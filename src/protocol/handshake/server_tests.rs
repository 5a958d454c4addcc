//! Server handshake tests: against [`ClientHandshake`] in memory in both modes (the client checks
//! the server's digest S2, so a passing digest run proves the server's digest right), against a C1
//! signed in the other layout, against a C0+C1 captured from FFmpeg 5.1, and with every split of
//! the input. The digest checks use the client tests' helpers, written independently of the module's.

use super::super::tests::{fms_key, fp_key, h, offset, pattern, valid_digest};
use super::super::{ClientHandshake, HandshakeMode, HandshakeProgress, find_server_digest};
use super::*;

/// C0+C1 FFmpeg 5.1 (Debian 5.1.9) sent when publishing (`ffmpeg -f flv rtmp://…`), captured with a
/// throwaway TCP listener: version 9.0.124.2, digest in the first-half layout.
const FFMPEG51_C0C1: &str = include_str!("testdata/ffmpeg51_c0c1.hex");

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The server's random bytes: S1's random part, then S2's filler.
fn server_random() -> Vec<u8> {
    pattern(RANDOM_LEN + FILLER_LEN, 11, 7)
}

fn client_random() -> Vec<u8> {
    pattern(RANDOM_LEN + FILLER_LEN, 7, 3)
}

/// Feeds all of `input` at once; returns what to send and whether the handshake is done.
fn feed_all(hs: &mut ServerHandshake, input: &[u8]) -> (Bytes, bool, BytesMut) {
    let mut buf = BytesMut::from(input);
    match hs.feed(&mut buf).unwrap() {
        ServerHandshakeProgress::NeedMore(send) => (send, false, buf),
        ServerHandshakeProgress::Done(send) => (send, true, buf),
    }
}

/// Asserts `s0s1s2` is a digest answer to `c1` whose C1 digest sits at `base`.
fn assert_digest_answer(s0s1s2: &[u8], c1: &[u8], base: usize) {
    assert_eq!(s0s1s2.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(s0s1s2[0], 3);
    let (s1, s2) = s0s1s2[1..].split_at(HANDSHAKE_SIZE);
    assert_eq!(&s1[..8], &[0, 0, 0, 9, 0x0d, 0x0e, 0x0a, 0x0d]);
    let c1_digest = valid_digest(c1, &fp_key()[..30], base).expect("C1 digest");
    assert!(
        valid_digest(s1, &fms_key()[..36], base).is_some(),
        "S1 digest"
    );
    let (filler, sig) = s2.split_at(FILLER_LEN);
    assert_eq!(filler, &server_random()[RANDOM_LEN..]);
    assert_eq!(sig, h(&h(&fms_key(), &[&c1_digest]), &[filler]));
}

/// Runs `ClientHandshake` in `mode` against the server in memory; returns the server's answer and
/// the client's C2.
fn against_client(mode: HandshakeMode) -> (ServerHandshake, Bytes, Bytes, Bytes) {
    let mut client = ClientHandshake::new(mode, 1234, &client_random());
    let client_c0c1 = client.c0c1();
    let mut server = ServerHandshake::new(9, &server_random());
    let (answer, done, rest) = feed_all(&mut server, &client_c0c1);
    assert!(!done && rest.is_empty());
    let mut input = BytesMut::from(&answer[..]);
    let HandshakeProgress::Done(c2) = client.feed(&mut input).expect("client accepts") else {
        panic!("client not done");
    };
    assert!(input.is_empty());
    let (send, done, rest) = feed_all(&mut server, &c2);
    assert!(done && send.is_empty() && rest.is_empty());
    (server, client_c0c1, answer, c2)
}

#[test]
fn simple_client_gets_plain_s1_and_echo() {
    let (server, c0c1, answer, c2) = against_client(HandshakeMode::Simple);
    assert_eq!(server.form(), Some(ServerHandshakeForm::Simple));
    assert_eq!(answer.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(&answer[..9], &[3, 0, 0, 0, 9, 0, 0, 0, 0]);
    assert_eq!(
        &answer[9..1 + HANDSHAKE_SIZE],
        &server_random()[..RANDOM_LEN]
    );
    assert_eq!(&answer[1 + HANDSHAKE_SIZE..], &c0c1[1..]);
    // The client echoes S1.
    assert_eq!(&c2[..], &answer[1..1 + HANDSHAKE_SIZE]);
}

#[test]
fn digest_client_accepts_digest_answer() {
    // The client refuses an S2 without its C1's digest (BadDigest), so its `Done` proves S2 right.
    let (server, c0c1, answer, c2) = against_client(HandshakeMode::Digest);
    assert_eq!(server.form(), Some(ServerHandshakeForm::Digest { base: 8 }));
    assert_digest_answer(&answer, &c0c1[1..], 8);
    // The client found S1's digest: it answered with a digest C2, not an echo.
    let s1 = &answer[1..1 + HANDSHAKE_SIZE];
    let s1_digest = valid_digest(s1, &fms_key()[..36], 8).unwrap();
    let (filler, sig) = c2.split_at(FILLER_LEN);
    assert_eq!(sig, h(&h(&fp_key(), &[&s1_digest]), &[filler]));
}

#[test]
fn second_half_layout_is_answered_in_kind() {
    let mut c1 = vec![0, 0, 0, 1, 10, 0, 45, 2];
    c1.extend(pattern(RANDOM_LEN, 29, 1));
    let off = offset(&c1, 772);
    let digest = h(&fp_key()[..30], &[&c1[..off], &c1[off + 32..]]);
    c1[off..off + 32].copy_from_slice(&digest);
    assert!(valid_digest(&c1, &fp_key()[..30], 8).is_none());

    let mut server = ServerHandshake::new(9, &server_random());
    let (answer, done, _) = feed_all(&mut server, &[&[3][..], &c1].concat());
    assert!(!done);
    assert_eq!(
        server.form(),
        Some(ServerHandshakeForm::Digest { base: 772 })
    );
    assert_digest_answer(&answer, &c1, 772);
}

#[test]
fn versioned_c1_without_digest_gets_plain_answer() {
    let mut c1 = vec![0, 0, 0, 1, 9, 0, 124, 2];
    c1.extend(pattern(RANDOM_LEN, 29, 1));
    let mut server = ServerHandshake::new(9, &server_random());
    let (answer, _, _) = feed_all(&mut server, &[&[3][..], &c1].concat());
    assert_eq!(server.form(), Some(ServerHandshakeForm::Simple));
    assert_eq!(&answer[5..9], &[0; 4]);
    assert_eq!(&answer[1 + HANDSHAKE_SIZE..], &c1[..]);
}

#[test]
fn ffmpeg_c1_gets_a_digest_answer() {
    let c0c1 = unhex(FFMPEG51_C0C1);
    assert_eq!(c0c1.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(&c0c1[..1], &[3]);
    assert_eq!(&c0c1[5..9], &[9, 0, 124, 2]);
    let c1 = &c0c1[1..];

    let mut server = ServerHandshake::new(9, &server_random());
    let (answer, done, _) = feed_all(&mut server, &c0c1);
    assert!(!done);
    assert_eq!(server.form(), Some(ServerHandshakeForm::Digest { base: 8 }));
    assert_digest_answer(&answer, c1, 8);

    // And as the client side verifies it (`ClientHandshake::c2`): FFmpeg's player does the same.
    let (s1, s2) = answer[1..].split_at(HANDSHAKE_SIZE);
    assert!(find_server_digest(s1).is_some());
    let c1_digest = valid_digest(c1, &fp_key()[..30], 8).unwrap();
    let mut mac = hmac_sha256(&response_key(&SERVER_KEY, &c1_digest));
    mac.update(&s2[..FILLER_LEN]);
    assert!(mac.verify_slice(&s2[FILLER_LEN..]).is_ok());
}

/// The whole client stream: C0, C1, C2 and `extra` bytes of what follows.
fn stream(mode: HandshakeMode, extra: usize) -> Vec<u8> {
    let c0c1 = ClientHandshake::new(mode, 77, &client_random()).c0c1();
    [
        &c0c1[..],
        &pattern(HANDSHAKE_SIZE, 5, 9),
        &pattern(extra, 3, 1),
    ]
    .concat()
}

/// Feeds `input` in pieces ending at `cuts` (a fresh buffer each time); returns all it was asked to
/// send, how many bytes it consumed, and whether it finished.
fn run_split(input: &[u8], cuts: &[usize]) -> (Vec<u8>, usize, bool) {
    let mut server = ServerHandshake::new(9, &server_random());
    let (mut sent, mut consumed, mut done) = (Vec::new(), 0, false);
    let mut start = 0;
    for &end in cuts.iter().chain([&input.len()]) {
        let mut buf = BytesMut::from(&input[start..end]);
        let before = buf.len();
        let progress = server.feed(&mut buf).unwrap();
        consumed += before - buf.len();
        if !done && !buf.is_empty() {
            assert!(matches!(progress, ServerHandshakeProgress::Done(_)));
        }
        let (ServerHandshakeProgress::NeedMore(send) | ServerHandshakeProgress::Done(send)) =
            &progress;
        if done {
            assert!(send.is_empty());
        }
        done |= matches!(progress, ServerHandshakeProgress::Done(_));
        sent.extend_from_slice(send);
        start = end;
    }
    (sent, consumed, done)
}

#[test]
fn every_two_piece_split_gives_the_same_outcome() {
    for mode in [HandshakeMode::Simple, HandshakeMode::Digest] {
        let input = stream(mode, 40);
        let whole = run_split(&input, &[]);
        assert_eq!(whole.0.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(whole.1, 1 + 2 * HANDSHAKE_SIZE);
        assert!(whole.2);
        for cut in 0..=input.len() {
            assert_eq!(run_split(&input, &[cut]), whole, "{mode:?} cut {cut}");
        }
    }
}

#[test]
fn byte_by_byte_gives_the_same_outcome() {
    for mode in [HandshakeMode::Simple, HandshakeMode::Digest] {
        let input = stream(mode, 5);
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run_split(&input, &cuts), run_split(&input, &[]), "{mode:?}");
    }
}

#[test]
fn answer_comes_once_c1_is_complete() {
    let input = stream(HandshakeMode::Simple, 0);
    let mut server = ServerHandshake::new(9, &server_random());
    let (send, done, _) = feed_all(&mut server, &input[..HANDSHAKE_SIZE]);
    assert!(send.is_empty() && !done && server.form().is_none());
    let (send, done, _) = feed_all(&mut server, &input[HANDSHAKE_SIZE..=HANDSHAKE_SIZE]);
    assert_eq!(send.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert!(!done);
    let (send, done, _) = feed_all(&mut server, &input[HANDSHAKE_SIZE + 1..input.len() - 1]);
    assert!(send.is_empty() && !done);
    let (send, done, _) = feed_all(&mut server, &input[input.len() - 1..]);
    assert!(send.is_empty() && done);
}

#[test]
fn leftover_bytes_after_c2_are_kept() {
    let input = stream(HandshakeMode::Digest, 100);
    let mut server = ServerHandshake::new(9, &server_random());
    let (send, done, rest) = feed_all(&mut server, &input);
    assert!(done);
    assert_eq!(send.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(&rest[..], &input[1 + 2 * HANDSHAKE_SIZE..]);
    // Once done, nothing more is taken.
    let mut more = BytesMut::from(&b"chunks"[..]);
    assert_eq!(
        server.feed(&mut more),
        Ok(ServerHandshakeProgress::Done(Bytes::new()))
    );
    assert_eq!(&more[..], b"chunks");
}

#[test]
fn bad_first_byte_is_refused_at_once() {
    for (first, error) in [
        (6, HandshakeError::UnsupportedClientVersion(6)),
        (0, HandshakeError::UnsupportedClientVersion(0)),
        (8, HandshakeError::UnsupportedClientVersion(8)),
        (255, HandshakeError::UnsupportedClientVersion(255)),
        (22, HandshakeError::ClientNotRtmp("TLS; an rtmps:// client")),
        (b'G', HandshakeError::ClientNotRtmp("HTTP")),
        (b'P', HandshakeError::ClientNotRtmp("HTTP")),
    ] {
        let mut server = ServerHandshake::new(9, &server_random());
        let mut input = BytesMut::from(&[first][..]);
        assert_eq!(server.feed(&mut input), Err(error.clone()), "{first}");
        // And it stays refused, whatever comes next.
        let mut input = BytesMut::from(&[3; 10][..]);
        assert_eq!(server.feed(&mut input), Err(error), "{first}");
    }
}

#[test]
fn empty_input_needs_more() {
    let mut server = ServerHandshake::new(9, &server_random());
    let mut input = BytesMut::new();
    assert_eq!(
        server.feed(&mut input),
        Ok(ServerHandshakeProgress::NeedMore(Bytes::new()))
    );
}

#[test]
fn short_random_is_zero_filled() {
    let c0c1 = ClientHandshake::new(HandshakeMode::Digest, 1, &client_random()).c0c1();
    let mut server = ServerHandshake::new(0x0a0b_0c0d, &[0xee; 100]);
    let (answer, _, _) = feed_all(&mut server, &c0c1);
    assert_eq!(answer.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(&answer[1..5], &[0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(&answer[9..109], &[0xee; 100][..]);
    let mut input = BytesMut::from(&answer[..]);
    let mut client = ClientHandshake::new(HandshakeMode::Digest, 1, &client_random());
    client.c0c1();
    assert!(matches!(
        client.feed(&mut input),
        Ok(HandshakeProgress::Done(_))
    ));
}
