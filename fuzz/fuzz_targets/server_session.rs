//! A server session fed arbitrary client bytes in arbitrary pieces, after a proper simple
//! C0+C1+C2 or with the handshake itself fuzzed, the application's decisions (accept or reject
//! connect, publish and play; end_play; media to players; chunk size changes) driven by the input.
//!
//! Invariants: an error closes the session and a closed session holds no input; a decision on a
//! request just reported never meets "no such request" (input after a request waits for its
//! decision); media is refused unless the stream plays; events, answers and heap held stay
//! proportional to the bytes received (a 16 MiB message announced before connect is refused at
//! its header); everything the session sends parses back as chunks and messages, and the media
//! it was given arrives intact and in order.
//!
//! Input: control byte (bit 0: the input starts with the client's own handshake; bits 1-2: how
//! often to refuse), 4 bytes of seed for the splits and decisions, then the client's bytes.
#![no_main]

use std::collections::{BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::{Rng, peak_bytes, reset_peak};
use gstrtmp::protocol::chunk::{AHEAD_ALLOWANCE, ChunkReader, RawMessage};
use gstrtmp::protocol::handshake::HANDSHAKE_SIZE;
use gstrtmp::protocol::message::{Message, type_id};
use gstrtmp::protocol::session::{
    ServerConfig, ServerError, ServerEvent, ServerSession, ServerState,
};

/// C0 + a plain C1 (zero version) + C2.
fn simple_handshake() -> Vec<u8> {
    let mut bytes = vec![3];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend((0..HANDSHAKE_SIZE - 8).map(|i| i as u8));
    bytes.extend_from_slice(&[0x5a; HANDSHAKE_SIZE]);
    bytes
}

fn drain(session: &mut ServerSession, out: &mut BytesMut) {
    let queued = session.output_bytes();
    let mut parts = VecDeque::new();
    session.take_output(&mut parts);
    assert_eq!(parts.iter().map(Bytes::len).sum::<usize>(), queued);
    for part in parts {
        out.extend_from_slice(&part);
    }
    assert!(!session.has_output());
    assert_eq!(session.output_bytes(), 0);
}

struct Run {
    session: ServerSession,
    rng: Rng,
    /// 0: never refuse; else refuse one request in `refuse`.
    refuse: usize,
    playing: BTreeSet<u32>,
    media: Vec<RawMessage>,
    media_bytes: usize,
}

impl Run {
    fn refuses(&mut self) -> bool {
        self.refuse != 0 && self.rng.below(self.refuse) == 0
    }

    /// A decision's outcome: fine, or an error in the input that waited, which closes.
    fn decided(&mut self, result: Result<(), ServerError>) {
        match result {
            Ok(()) => {}
            Err(ServerError::NoRequest { .. }) => panic!("a fresh request was not pending"),
            Err(_) => assert_eq!(self.session.state(), ServerState::Closed),
        }
    }

    fn handle(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::ConnectRequest { .. } => {
                if self.refuses() {
                    let result = self.session.reject_connect("no");
                    assert!(result.is_ok());
                    assert_eq!(self.session.state(), ServerState::Closed);
                } else {
                    let result = self.session.accept_connect();
                    self.decided(result);
                }
            }
            ServerEvent::PublishRequest { stream_id, .. } => {
                let result = if self.refuses() {
                    self.session
                        .reject_publish(stream_id, "NetStream.Publish.BadName", "taken")
                } else {
                    self.session.accept_publish(stream_id)
                };
                self.decided(result);
            }
            ServerEvent::PlayRequest { stream_id, .. } => {
                if self.refuses() {
                    let result = self.session.reject_play(
                        stream_id,
                        "NetStream.Play.StreamNotFound",
                        "none",
                    );
                    self.decided(result);
                } else {
                    // Playing from the moment the answer is queued, whatever follows.
                    let result = self.session.accept_play(stream_id);
                    let closed = result.is_err();
                    self.decided(result);
                    if !closed {
                        self.playing.insert(stream_id);
                    }
                }
            }
            ServerEvent::PlayEnded { stream_id } => {
                self.playing.remove(&stream_id);
            }
            ServerEvent::Media { payload, .. } => assert!(!payload.is_empty()),
            _ => {}
        }
    }

    fn send_media(&mut self) {
        let stream_id = match self.rng.below(4) {
            0 => self.rng.below(10) as u32,
            _ => match self.playing.iter().next() {
                Some(id) => *id,
                None => return,
            },
        };
        let kind = [type_id::AUDIO, type_id::VIDEO, type_id::DATA_AMF0][self.rng.below(3)];
        let timestamp = self.rng.next_u64() as u32;
        let len = [1, 127, 128, 129, 5000][self.rng.below(5)];
        let payload = Bytes::from((0..len).map(|i| (i as u8) ^ kind).collect::<Vec<u8>>());
        let result = match kind {
            type_id::AUDIO => self
                .session
                .send_audio(stream_id, timestamp, payload.clone()),
            type_id::VIDEO => self
                .session
                .send_video(stream_id, timestamp, payload.clone()),
            _ => self
                .session
                .send_data(stream_id, timestamp, payload.clone()),
        };
        let plays =
            self.playing.contains(&stream_id) && self.session.state() != ServerState::Closed;
        if plays {
            result.expect("media to a playing stream");
            self.media_bytes += payload.len();
            self.media.push(RawMessage {
                type_id: kind,
                timestamp,
                stream_id,
                payload,
            });
        } else {
            assert!(result.is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[ctrl, s0, s1, s2, s3], client_bytes)) = data.split_first_chunk::<5>() else {
        return;
    };
    let input: Vec<u8> = if ctrl & 1 != 0 {
        client_bytes.to_vec()
    } else {
        [&simple_handshake()[..], client_bytes].concat()
    };
    let baseline = reset_peak();
    let mut run = Run {
        session: ServerSession::new(ServerConfig::default(), 1234, &[0x42; 3032]),
        rng: Rng::new(u64::from(u32::from_le_bytes([s0, s1, s2, s3]))),
        refuse: [0, 2, 4, 16][usize::from(ctrl >> 1 & 3)],
        playing: BTreeSet::new(),
        media: Vec::new(),
        media_bytes: 0,
    };
    let mut sent = BytesMut::new();
    let mut fed = 0usize;
    let mut events = 0usize;
    let mut pos = 0;
    while pos < input.len() {
        let max = [1, 16, 300, 5000][run.rng.below(4)];
        let n = (1 + run.rng.below(max)).min(input.len() - pos);
        let piece = &input[pos..pos + n];
        pos += n;
        fed += n;
        let result = if run.rng.below(2) == 0 {
            run.session.handle_input(piece)
        } else {
            run.session.recv_buffer().extend_from_slice(piece);
            run.session.process()
        };
        if result.is_err() {
            assert_eq!(run.session.state(), ServerState::Closed);
        }
        while let Some(event) = run.session.poll_event() {
            events += 1;
            run.handle(event);
        }
        // Every event comes from a message of at least one byte.
        assert!(events <= fed, "{events} events from {fed} bytes");
        for _ in 0..run.rng.below(3) {
            run.send_media();
        }
        if run.rng.below(4) == 0
            && let Some(&id) = run.playing.iter().next()
        {
            let result = run.session.end_play(id);
            if run.session.state() == ServerState::Closed {
                assert_eq!(result, Err(ServerError::Closed));
            } else {
                result.expect("end of a playing stream");
            }
            run.playing.remove(&id);
        }
        if run.rng.below(8) == 0 {
            run.session
                .set_chunk_size([1, 128, 4096, 65536, 0x7FFF_FFFF][run.rng.below(5)]);
        }
        assert!(run.session.buffered_bytes() <= fed);
        drain(&mut run.session, &mut sent);
        // Answers stay proportional to the input (an `_error` for a 14-byte unknown call is
        // about 100 bytes); media is ours, up to 6 bytes per byte at chunk size 1.
        let answers = sent.len().saturating_sub(1 + 2 * HANDSHAKE_SIZE);
        assert!(
            answers <= 16384 + 16 * fed + 8 * run.media_bytes,
            "{answers} bytes sent for {fed} received"
        );
        // Heap: the input and partly received messages (buffer growth doubles), what the chunk
        // reader may allocate ahead and keep pooled, our own media and answers in flight.
        let held = peak_bytes().saturating_sub(baseline);
        assert!(
            held <= 256 * 1024 + AHEAD_ALLOWANCE + 4 * 1024 * 1024 + 8 * fed + 16 * run.media_bytes,
            "{held} bytes held after receiving {fed}"
        );
    }
    let stats = run.session.stats();
    assert!(stats.in_bytes_total <= fed as u64);

    run.session.close();
    assert_eq!(run.session.state(), ServerState::Closed);
    run.session
        .handle_input(&[3; 64])
        .expect("input after close is dropped");
    assert_eq!(run.session.buffered_bytes(), 0);
    assert!(
        run.session
            .send_audio(1, 0, Bytes::from_static(&[0xaf]))
            .is_err()
    );
    drain(&mut run.session, &mut sent);

    // After S0 S1 S2 everything is well-formed chunks carrying well-formed messages, and the
    // media we sent is there in order.
    if sent.len() < 1 + 2 * HANDSHAKE_SIZE {
        assert!(run.media.is_empty());
        return;
    }
    let mut wire = sent.split_off(1 + 2 * HANDSHAKE_SIZE);
    let mut reader = ChunkReader::new();
    let mut received_media = Vec::new();
    let total = wire.len();
    while let Some(raw) = reader.read(&mut wire).unwrap_or_else(|e| {
        let at = total - wire.len();
        panic!(
            "our own chunks parse: {e} at {at} of {total}: {:02x?}",
            &wire[..wire.len().min(32)]
        )
    }) {
        if matches!(raw.type_id, type_id::AUDIO | type_id::VIDEO)
            || (raw.type_id == type_id::DATA_AMF0 && raw.payload.first() != Some(&2))
        {
            received_media.push(raw);
            continue;
        }
        match Message::parse(raw.clone()).expect("our own messages parse") {
            Message::SetChunkSize(size) => reader.set_chunk_size(size).expect("valid chunk size"),
            Message::Command { name, .. } => assert!(!name.is_empty()),
            // |RtmpSampleAccess from accept_play; our data payloads never start with 2.
            Message::Data { .. } => {}
            _ => {}
        }
    }
    assert!(
        wire.is_empty(),
        "{} bytes of a partial chunk at the end",
        wire.len()
    );
    assert_eq!(received_media, run.media);
});
