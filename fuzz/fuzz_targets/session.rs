//! A client session, publishing or playing, fed a proper simple S0+S1+S2 and then arbitrary
//! server bytes in arbitrary pieces, with media sent whenever it is publishing, the chunk size
//! changed now and then, and a close at the end.
//!
//! Invariants: an error closes the session; media is refused unless publishing; the events and
//! the bytes the session queues in answer stay proportional to what it received; everything the
//! session sends parses back (chunks and messages), and the media it was given arrives intact
//! and in order with its timestamps; close leaves the session closed.
//!
//! Input: control byte (bit 0 play, bit 1 digest handshake, bits 2-4 stop commands), 4 bytes of
//! seed for the splits and the media, then the server's bytes after the handshake.
#![no_main]

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::Rng;
use gstrtmp::protocol::chunk::{ChunkReader, RawMessage};
use gstrtmp::protocol::handshake::{HANDSHAKE_SIZE, HandshakeMode};
use gstrtmp::protocol::message::{Message, type_id};
use gstrtmp::protocol::session::{
    ClientConfig, ClientSession, SessionError, SessionEvent, SessionMode, SessionState,
    StopCommands,
};

fn drain(session: &mut ClientSession, out: &mut BytesMut) {
    let mut parts = VecDeque::new();
    session.take_output(&mut parts);
    for part in parts {
        out.extend_from_slice(&part);
    }
    assert!(!session.has_output());
}

fn config(ctrl: u8) -> ClientConfig {
    let mode = if ctrl & 1 != 0 {
        SessionMode::Play {
            stream: "test".into(),
            start: -2.0,
            buffer_ms: 1000,
        }
    } else {
        SessionMode::Publish {
            stream: "test".into(),
            publish_type: "live".into(),
        }
    };
    let mut config = ClientConfig::new("live", "rtmp://127.0.0.1/live", mode);
    if ctrl & 2 != 0 {
        config.handshake = HandshakeMode::Digest;
    }
    config
}

/// Media the fuzzer asks the session to send: (type id, timestamp, payload).
fn random_media(rng: &mut Rng) -> (u8, u32, Bytes) {
    let kind = [type_id::AUDIO, type_id::VIDEO, type_id::DATA_AMF0][rng.below(3)];
    let timestamp = match rng.below(4) {
        0 => rng.below(100_000) as u32,
        1 => u32::MAX - rng.below(100_000) as u32,
        2 => 0xFF_FFFF - 2 + rng.below(4) as u32,
        _ => rng.next_u64() as u32,
    };
    let len = [0, 1, 5, 127, 128, 129, 4096, 5000][rng.below(8)];
    let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ kind).collect();
    (kind, timestamp, Bytes::from(payload))
}

fuzz_target!(|data: &[u8]| {
    let Some((&[ctrl, s0, s1, s2, s3], server_bytes)) = data.split_first_chunk::<5>() else {
        return;
    };
    let mut rng = Rng::new(u64::from(u32::from_le_bytes([s0, s1, s2, s3])));
    let mut session = ClientSession::new(config(ctrl), 1234, &[0x42; 1528]);
    let mut sent = BytesMut::new();
    drain(&mut session, &mut sent);
    assert_eq!(sent.len(), 1 + HANDSHAKE_SIZE);

    // A plain S1 (zero version, so no digest) and S2 echoing C1.
    let mut handshake = vec![3u8];
    handshake.extend_from_slice(&[0; HANDSHAKE_SIZE]);
    handshake.extend_from_slice(&sent[1..]);
    session.handle_input(&handshake).expect("handshake");
    assert_eq!(session.state(), SessionState::Connecting);
    drain(&mut session, &mut sent);
    assert_eq!(
        &sent[1 + HANDSHAKE_SIZE..1 + 2 * HANDSHAKE_SIZE],
        &[0; HANDSHAKE_SIZE][..]
    );
    let own_bytes = sent.len();

    let mut media = Vec::new();
    let mut fed = 0usize;
    let mut events = 0usize;
    let mut media_bytes = 0usize;
    let mut pos = 0;
    let mut failed = false;
    while pos < server_bytes.len() && !failed {
        let max = [1, 16, 300, 5000][rng.below(4)];
        let n = (1 + rng.below(max)).min(server_bytes.len() - pos);
        let piece = &server_bytes[pos..pos + n];
        pos += n;
        fed += n;
        let result = if rng.below(2) == 0 {
            session.handle_input(piece)
        } else {
            session.recv_buffer().extend_from_slice(piece);
            session.process()
        };
        if result.is_err() {
            assert_eq!(session.state(), SessionState::Closed);
            failed = true;
        }
        while let Some(event) = session.poll_event() {
            events += 1;
            if let SessionEvent::Media { payload, .. } = &event {
                assert!(!payload.is_empty());
            }
        }
        // Every event comes from a message of at least one byte.
        assert!(events <= fed, "{events} events from {fed} bytes");

        for _ in 0..rng.below(3) {
            let (kind, timestamp, payload) = random_media(&mut rng);
            let result = match kind {
                type_id::AUDIO => session.send_audio(timestamp, payload.clone()),
                type_id::VIDEO => session.send_video(timestamp, payload.clone()),
                _ => session.send_data(timestamp, payload.clone()),
            };
            if session.state() == SessionState::Publishing {
                result.expect("media while publishing");
                media_bytes += payload.len();
                media.push(RawMessage {
                    type_id: kind,
                    timestamp,
                    stream_id: session.stream_id(),
                    payload,
                });
            } else {
                assert_eq!(result, Err(SessionError::NotPublishing));
            }
        }
        if rng.below(8) == 0 {
            session.set_chunk_size([1, 128, 4096, 65536, 0x7FFF_FFFF][rng.below(5)]);
        }
        drain(&mut session, &mut sent);
        // Answers (acks, pongs, window sizes) stay proportional to the input; media is ours,
        // and at chunk size 1 with extended timestamps each media byte carries a 1-byte basic
        // header and a repeated 4-byte timestamp: up to 6 bytes per byte.
        let answers = sent.len() - own_bytes;
        assert!(
            answers <= 8192 + 4 * fed + 8 * media_bytes,
            "{answers} bytes sent for {fed} received"
        );
    }

    let stats = session.stats();
    assert!(stats.in_bytes_total <= (handshake.len() + fed) as u64);
    session.close(StopCommands {
        fc_unpublish: ctrl & 4 != 0,
        close_stream: ctrl & 8 != 0,
        delete_stream: ctrl & 16 != 0,
    });
    assert_eq!(session.state(), SessionState::Closed);
    assert_eq!(
        session.send_audio(0, Bytes::from_static(&[0xaf])),
        Err(SessionError::NotPublishing)
    );
    drain(&mut session, &mut sent);

    // Everything after C0 C1 C2 is well-formed chunks carrying well-formed messages, and our
    // media is there in order.
    let mut wire = sent.split_off(1 + 2 * HANDSHAKE_SIZE);
    let mut reader = ChunkReader::new();
    let mut received_media = Vec::new();
    while let Some(raw) = reader.read(&mut wire).expect("our own chunks parse") {
        // The session sends these types only for the caller.
        if matches!(
            raw.type_id,
            type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0
        ) {
            received_media.push(raw);
            continue;
        }
        match Message::parse(raw).expect("our own messages parse") {
            Message::SetChunkSize(size) => reader.set_chunk_size(size).expect("valid chunk size"),
            Message::Command { name, .. } => assert!(!name.is_empty()),
            _ => {}
        }
    }
    assert!(
        wire.is_empty(),
        "{} bytes of a partial chunk at the end",
        wire.len()
    );
    assert_eq!(received_media, media);
});
