//! Handshake tests against fake servers written here independently of the module's helpers, and
//! known-answer vectors computed with Python's `hmac`/`hashlib`. The digest helpers serve the
//! server handshake's tests too.

use super::*;

pub(super) const TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

pub(super) fn fp_key() -> Vec<u8> {
    [&b"Genuine Adobe Flash Player 001"[..], &TAIL].concat()
}

pub(super) fn fms_key() -> Vec<u8> {
    [&b"Genuine Adobe Flash Media Server 001"[..], &TAIL].concat()
}

pub(super) fn h(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub(super) fn offset(block: &[u8], base: usize) -> usize {
    block[base..base + 4]
        .iter()
        .map(|&b| b as usize)
        .sum::<usize>()
        % 728
        + base
        + 4
}

/// The digest at the `base` layout, if it verifies with `key`.
pub(super) fn valid_digest(block: &[u8], key: &[u8], base: usize) -> Option<[u8; 32]> {
    let off = offset(block, base);
    let digest = h(key, &[&block[..off], &block[off + 32..]]);
    (block[off..off + 32] == digest).then_some(digest)
}

pub(super) fn sign(block: &mut [u8], key: &[u8], base: usize) -> [u8; 32] {
    let off = offset(block, base);
    let digest = h(key, &[&block[..off], &block[off + 32..]]);
    block[off..off + 32].copy_from_slice(&digest);
    digest
}

pub(super) fn pattern(len: usize, mul: usize, add: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * mul + add) & 0xff) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// S0 S1 S2 of a server without digests: zero version, S2 echoes C1 with its version zeroed, as
/// FFmpeg's server does.
fn plain_server(c1: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut s1 = vec![0, 0, 0, 7, 0, 0, 0, 0];
    s1.extend(pattern(RANDOM_LEN, 13, 5));
    let mut s2 = c1.to_vec();
    s2[4..8].fill(0);
    ([&[3][..], &s1, &s2].concat(), s1)
}

/// S0 S1 S2 of a digest server that writes its S1 digest in the `base` layout; finds the C1 digest
/// in either layout, as nginx-rtmp does. Returns the response and S1.
fn digest_server(c1: &[u8], base: usize) -> (Vec<u8>, Vec<u8>) {
    let c1_digest = valid_digest(c1, &fp_key()[..30], 772)
        .or_else(|| valid_digest(c1, &fp_key()[..30], 8))
        .expect("C1 carries no valid digest");
    let mut s1 = vec![0, 0, 0, 0, 0x0d, 0x0e, 0x0a, 0x0d];
    s1.extend(pattern(RANDOM_LEN, 13, 5));
    sign(&mut s1, &fms_key()[..36], base);
    let mut s2 = pattern(FILLER_LEN, 11, 1);
    let sig = h(&h(&fms_key(), &[&c1_digest]), &[&s2]);
    s2.extend_from_slice(&sig);
    ([&[3][..], &s1, &s2].concat(), s1)
}

fn random() -> Vec<u8> {
    pattern(RANDOM_LEN + FILLER_LEN, 7, 3)
}

fn done(progress: HandshakeProgress) -> Bytes {
    match progress {
        HandshakeProgress::Done(c2) => c2,
        HandshakeProgress::NeedMore => panic!("handshake not done"),
    }
}

/// Asserts `c2` is a digest C2 answering `s1`, with the caller's filler.
fn assert_digest_c2(c2: &[u8], s1: &[u8]) {
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    let s1_digest = valid_digest(s1, &fms_key()[..36], 8)
        .or_else(|| valid_digest(s1, &fms_key()[..36], 772))
        .unwrap();
    let (filler, sig) = c2.split_at(FILLER_LEN);
    assert_eq!(filler, &random()[RANDOM_LEN..]);
    assert_eq!(sig, h(&h(&fp_key(), &[&s1_digest]), &[filler]));
}

#[test]
fn keys() {
    assert_eq!(&PLAYER_KEY[..], &fp_key()[..]);
    assert_eq!(&SERVER_KEY[..], &fms_key()[..]);
}

#[test]
fn simple_c0c1_layout() {
    let hs = ClientHandshake::new(HandshakeMode::Simple, 0x0102_0304, &random());
    let c0c1 = hs.c0c1();
    assert_eq!(c0c1.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(&c0c1[..9], &[3, 1, 2, 3, 4, 0, 0, 0, 0]);
    assert_eq!(&c0c1[9..], &random()[..RANDOM_LEN]);
}

#[test]
fn digest_c1_known_answer() {
    // Python: C1 = time 0x01020304, version 80 00 07 02, random (i*7+3)&0xff; digest at
    // sum(C1[8..12]) % 728 + 12 = 66, HMAC-SHA256 keyed by the 30-byte Flash Player key.
    let hs = ClientHandshake::new(HandshakeMode::Digest, 0x0102_0304, &random());
    let c0c1 = hs.c0c1();
    let c1 = &c0c1[1..];
    assert_eq!(c0c1[0], 3);
    assert_eq!(&c1[..8], &[1, 2, 3, 4, 0x80, 0x00, 0x07, 0x02]);
    assert_eq!(offset(c1, 8), 66);
    assert_eq!(
        hex(&c1[66..98]),
        "303e0c5b79999306b6b109b49100ea3e1587e526d26ee3ed418010500e885c0c"
    );
    // Everything else is the caller's random bytes.
    assert_eq!(&c1[8..66], &random()[..58]);
    assert_eq!(&c1[98..], &random()[90..RANDOM_LEN]);
}

#[test]
fn digest_c1_verifies_with_client_key() {
    for seed in 0..64 {
        let random = pattern(RANDOM_LEN, 31 + 2 * seed, seed * 17);
        let hs = ClientHandshake::new(HandshakeMode::Digest, seed as u32, &random);
        let c1 = hs.c0c1().slice(1..);
        assert!(
            valid_digest(&c1, &fp_key()[..30], 8).is_some(),
            "seed {seed}"
        );
        // Keyed by the 30-byte text part only: neither the full key nor the server key verifies.
        assert!(valid_digest(&c1, &fp_key(), 8).is_none());
        assert!(valid_digest(&c1, &fms_key()[..36], 8).is_none());
    }
}

#[test]
fn simple_handshake_against_fake_server() {
    let mut hs = ClientHandshake::new(HandshakeMode::Simple, 42, &random());
    let (response, s1) = plain_server(&hs.c0c1()[1..]);
    let mut input = BytesMut::from(&response[..]);
    let c2 = done(hs.feed(&mut input).unwrap());
    assert_eq!(&c2[..], &s1[..]);
    assert!(input.is_empty());
}

#[test]
fn simple_mode_accepts_s2_that_does_not_echo() {
    let mut hs = ClientHandshake::new(HandshakeMode::Simple, 42, &random());
    let (mut response, s1) = plain_server(&hs.c0c1()[1..]);
    response[1 + HANDSHAKE_SIZE..].fill(0x55);
    let c2 = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
    assert_eq!(&c2[..], &s1[..]);
}

#[test]
fn digest_handshake_against_fake_server_both_layouts() {
    for base in [8, 772] {
        let mut hs = ClientHandshake::new(HandshakeMode::Digest, 1000, &random());
        let (response, s1) = digest_server(&hs.c0c1()[1..], base);
        let mut input = BytesMut::from(&response[..]);
        let c2 = done(hs.feed(&mut input).unwrap());
        assert_ne!(&c2[..], &s1[..]);
        assert_digest_c2(&c2, &s1);
        assert!(input.is_empty());
    }
}

#[test]
fn digest_exchange_known_answer() {
    // Python: S1 = time 0, version 0d 0e 0a 0d, (i*13+5)&0xff, digest at 110 keyed by the 36-byte
    // server key; S2 = (i*11+1)&0xff for 1504 bytes, then HMAC(HMAC(server key, C1 digest), S2 filler);
    // C2 = random[1528..3032], then HMAC(HMAC(player key, S1 digest), C2 filler).
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 0x0102_0304, &random());
    let (response, s1) = digest_server(&hs.c0c1()[1..], 8);
    assert_eq!(offset(&s1, 8), 110);
    assert_eq!(
        hex(&s1[110..142]),
        "50d8e9595b4362027d9c4cd717e30742e0f71a9c4e072faae33754f6dadc4e00"
    );
    assert_eq!(
        hex(&response[response.len() - 32..]),
        "3103f4b93e579db84e360f06808f782eab84424acecbe3c2707e88937b80dcb1"
    );
    let c2 = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
    assert_eq!(
        hex(&c2[FILLER_LEN..]),
        "5e316ce2d1cd1f6f6bdc326283c42e30f0d7de79e777bd264edccfbe5d3abc53"
    );
}

#[test]
fn digest_mode_echoes_plain_s1() {
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 7, &random());
    let (response, s1) = plain_server(&hs.c0c1()[1..]);
    let c2 = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
    assert_eq!(&c2[..], &s1[..]);
}

#[test]
fn digest_mode_echoes_versioned_s1_without_digest() {
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 7, &random());
    let (mut response, _) = digest_server(&hs.c0c1()[1..], 8);
    // Spoil the S1 digest: the server version stays, the digest no longer verifies in any layout.
    let off = offset(&response[1..], 8);
    response[1 + off] ^= 1;
    let s1 = response[1..1 + HANDSHAKE_SIZE].to_vec();
    let c2 = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
    assert_eq!(&c2[..], &s1[..]);
}

#[test]
fn digest_mode_rejects_bad_s2_after_digest_s1() {
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 7, &random());
    let (mut response, _) = digest_server(&hs.c0c1()[1..], 772);
    *response.last_mut().unwrap() ^= 0x80;
    assert_eq!(
        hs.feed(&mut BytesMut::from(&response[..])),
        Err(HandshakeError::BadDigest)
    );
    // An echo of C1 as S2, as a server would send that ignored our digest, is rejected too.
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 7, &random());
    let c1 = hs.c0c1().slice(1..);
    let (mut response, _) = digest_server(&c1, 8);
    response[1 + HANDSHAKE_SIZE..].copy_from_slice(&c1);
    assert_eq!(
        hs.feed(&mut BytesMut::from(&response[..])),
        Err(HandshakeError::BadDigest)
    );
}

/// Feeds `response` + `extra` split at every byte boundary, keeping one buffer as a reader would.
fn check_every_split(mode: HandshakeMode) {
    let extra = b"\x02\x00\x00\x00\x00\x00\x04\x01";
    let (response, expected) = {
        let mut hs = ClientHandshake::new(mode, 9, &random());
        let (response, _) = match mode {
            HandshakeMode::Simple => plain_server(&hs.c0c1()[1..]),
            HandshakeMode::Digest => digest_server(&hs.c0c1()[1..], 8),
        };
        let expected = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
        (response, expected)
    };
    let all = [&response[..], extra].concat();
    for split in 0..=all.len() {
        let mut hs = ClientHandshake::new(mode, 9, &random());
        let mut input = BytesMut::from(&all[..split]);
        let first = hs.feed(&mut input).unwrap();
        if split < response.len() {
            assert_eq!(first, HandshakeProgress::NeedMore, "split {split}");
            assert!(input.is_empty());
            input.extend_from_slice(&all[split..]);
            assert_eq!(
                done(hs.feed(&mut input).unwrap()),
                expected,
                "split {split}"
            );
        } else {
            assert_eq!(done(first), expected, "split {split}");
            input.extend_from_slice(&all[split..]);
        }
        assert_eq!(&input[..], &extra[..], "split {split}");
    }
}

#[test]
fn simple_every_split() {
    check_every_split(HandshakeMode::Simple);
}

#[test]
fn digest_every_split() {
    check_every_split(HandshakeMode::Digest);
}

#[test]
fn byte_by_byte_with_fresh_buffers() {
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 9, &random());
    let (response, s1) = digest_server(&hs.c0c1()[1..], 8);
    let (last, head) = response.split_last().unwrap();
    for &b in head {
        assert_eq!(
            hs.feed(&mut BytesMut::from(&[b][..])),
            Ok(HandshakeProgress::NeedMore)
        );
    }
    let c2 = done(hs.feed(&mut BytesMut::from(&[*last][..])).unwrap());
    assert_digest_c2(&c2, &s1);
}

#[test]
fn wrong_version_fails_on_first_byte() {
    for mode in [HandshakeMode::Simple, HandshakeMode::Digest] {
        for version in [0, 6, 8, 9, 0xff] {
            let mut hs = ClientHandshake::new(mode, 0, &random());
            assert_eq!(
                hs.feed(&mut BytesMut::from(&[version][..])),
                Err(HandshakeError::UnsupportedVersion(version))
            );
        }
        let mut hs = ClientHandshake::new(mode, 0, &random());
        let mut response = plain_server(&hs.c0c1()[1..]).0;
        response[0] = 6;
        assert_eq!(
            hs.feed(&mut BytesMut::from(&response[..])),
            Err(HandshakeError::UnsupportedVersion(6))
        );
    }
}

#[test]
fn empty_input_needs_more() {
    let mut hs = ClientHandshake::new(HandshakeMode::Simple, 0, &random());
    assert_eq!(
        hs.feed(&mut BytesMut::new()),
        Ok(HandshakeProgress::NeedMore)
    );
}

#[test]
fn leftover_bytes_after_s2_are_kept() {
    // Set Chunk Size 4096 and Window Acknowledgement Size, sent right after S2 by some servers.
    let extra = b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x10\x00\
                  \x02\x00\x00\x00\x00\x00\x04\x05\x00\x00\x00\x00\x00\x26\x25\xa0";
    for mode in [HandshakeMode::Simple, HandshakeMode::Digest] {
        let mut hs = ClientHandshake::new(mode, 0, &random());
        let (response, _) = match mode {
            HandshakeMode::Simple => plain_server(&hs.c0c1()[1..]),
            HandshakeMode::Digest => digest_server(&hs.c0c1()[1..], 772),
        };
        let mut input = BytesMut::from(&[&response[..], &extra[..]].concat()[..]);
        done(hs.feed(&mut input).unwrap());
        assert_eq!(&input[..], &extra[..]);
    }
}

#[test]
fn feed_after_done_consumes_nothing() {
    let mut hs = ClientHandshake::new(HandshakeMode::Simple, 0, &random());
    let (response, _) = plain_server(&hs.c0c1()[1..]);
    assert_eq!(
        done(hs.feed(&mut BytesMut::from(&response[..])).unwrap()).len(),
        HANDSHAKE_SIZE
    );
    let mut more = BytesMut::from(&b"abc"[..]);
    assert_eq!(
        hs.feed(&mut more),
        Ok(HandshakeProgress::Done(Bytes::new()))
    );
    assert_eq!(&more[..], b"abc");
}

#[test]
fn short_random_is_zero_filled() {
    let hs = ClientHandshake::new(HandshakeMode::Simple, 0, &[1, 2, 3]);
    let c0c1 = hs.c0c1();
    assert_eq!(c0c1.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(&c0c1[9..12], &[1, 2, 3]);
    assert!(c0c1[12..].iter().all(|&b| b == 0));

    // Digest mode with no random bytes at all still makes a valid C1 and completes; the C2 filler
    // reuses C1's bytes.
    let mut hs = ClientHandshake::new(HandshakeMode::Digest, 0, &[]);
    let c1 = hs.c0c1().slice(1..);
    assert_eq!(offset(&c1, 8), 12);
    assert!(valid_digest(&c1, &fp_key()[..30], 8).is_some());
    let (response, _) = digest_server(&c1, 8);
    let c2 = done(hs.feed(&mut BytesMut::from(&response[..])).unwrap());
    assert_eq!(&c2[..FILLER_LEN], &c1[8..8 + FILLER_LEN]);
}

#[test]
fn digest_offset_extremes() {
    let mut block = vec![0u8; HANDSHAKE_SIZE];
    assert_eq!(digest_offset(&block, DIGEST_FIRST_BASE), Some(12));
    assert_eq!(digest_offset(&block, DIGEST_SECOND_BASE), Some(776));
    block[8..12].fill(0xff);
    block[772..776].fill(0xff);
    // 1020 % 728 = 292.
    assert_eq!(digest_offset(&block, DIGEST_FIRST_BASE), Some(304));
    assert_eq!(digest_offset(&block, DIGEST_SECOND_BASE), Some(1068));
    // The largest offset: sum % 728 = 727 (e.g. 255+255+217+0), digest ends at byte 1535.
    block[772..776].copy_from_slice(&[255, 255, 217, 0]);
    assert_eq!(digest_offset(&block, DIGEST_SECOND_BASE), Some(1503));
    // Too short blocks give no offset instead of panicking.
    assert_eq!(digest_offset(&block[..800], DIGEST_SECOND_BASE), None);
    assert_eq!(digest_offset(&block[..10], DIGEST_FIRST_BASE), None);
}

#[test]
fn an_http_answer_is_named_not_taken_for_a_version() {
    for mode in [HandshakeMode::Simple, HandshakeMode::Digest] {
        // Byte by byte (the first byte alone decides) and all at once.
        let mut hs = ClientHandshake::new(mode, 0, &random());
        let err = hs.feed(&mut BytesMut::from(&b"H"[..])).unwrap_err();
        assert_eq!(err, HandshakeError::NotRtmp("HTTP"));
        assert_eq!(
            err.to_string(),
            "not an RTMP server (it answered with HTTP)"
        );
        let mut hs = ClientHandshake::new(mode, 0, &random());
        assert_eq!(
            hs.feed(&mut BytesMut::from(
                &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..]
            )),
            Err(HandshakeError::NotRtmp("HTTP"))
        );
        // A TLS server's alert.
        let mut hs = ClientHandshake::new(mode, 0, &random());
        let err = hs
            .feed(&mut BytesMut::from(&[21u8, 3, 1, 0, 2, 2, 50][..]))
            .unwrap_err();
        assert!(err.to_string().contains("rtmps://"), "{err}");
        // The first byte alone decides, however the answer is split (the fuzzer found
        // "HTTP," refused as version 72 whole but as HTTP byte by byte).
        for answer in [&b"HTTP,9FS"[..], b"Hello"] {
            let mut hs = ClientHandshake::new(mode, 0, &random());
            assert_eq!(
                hs.feed(&mut BytesMut::from(answer)),
                Err(HandshakeError::NotRtmp("HTTP")),
                "{answer:?}"
            );
        }
        let mut hs = ClientHandshake::new(mode, 0, &random());
        assert_eq!(
            hs.feed(&mut BytesMut::from(&[22u8, 9][..])),
            Err(HandshakeError::NotRtmp("TLS; try rtmps://"))
        );
        let mut hs = ClientHandshake::new(mode, 0, &random());
        assert_eq!(
            hs.feed(&mut BytesMut::from(&[72u8 - 1][..])),
            Err(HandshakeError::UnsupportedVersion(71))
        );
    }
}
