//! The client session driven against a scripted in-memory server built from the same protocol parts.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::protocol::chunk::{ChunkReader, ChunkWriter, RawMessage};
use crate::protocol::handshake::HANDSHAKE_SIZE;
use crate::protocol::message::{Message, PeerBandwidthLimit, UserControlEvent, type_id};

/// The server end of an in-memory connection: answers the simple handshake and speaks chunks.
struct ScriptedServer {
    from_client: BytesMut,
    handshake_done: bool,
    sent_s0s1s2: bool,
    reader: ChunkReader,
    writer: ChunkWriter,
    to_client: BytesMut,
    received: VecDeque<Message>,
}

impl ScriptedServer {
    fn new() -> Self {
        ScriptedServer {
            from_client: BytesMut::new(),
            handshake_done: false,
            sent_s0s1s2: false,
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
            to_client: BytesMut::new(),
            received: VecDeque::new(),
        }
    }

    /// Takes the client's output and parses what it can.
    fn receive(&mut self, client: &mut ClientSession) {
        let mut parts = VecDeque::new();
        client.take_output(&mut parts);
        self.receive_bytes(parts.iter());
    }

    /// Parses what it can of the client's output, taken by the test.
    fn receive_bytes<'a>(&mut self, parts: impl Iterator<Item = &'a Bytes>) {
        for part in parts {
            self.from_client.extend_from_slice(part);
        }
        if !self.handshake_done {
            if self.from_client.len() < 1 + HANDSHAKE_SIZE {
                return;
            }
            if !self.sent_s0s1s2 {
                self.sent_s0s1s2 = true;
                let c1 = self.from_client[1..1 + HANDSHAKE_SIZE].to_vec();
                self.to_client.extend_from_slice(&[3]);
                self.to_client.extend_from_slice(&[0x55; HANDSHAKE_SIZE]);
                self.to_client.extend_from_slice(&c1);
            }
            if self.from_client.len() < 1 + 2 * HANDSHAKE_SIZE {
                return;
            }
            let _ = self.from_client.split_to(1 + 2 * HANDSHAKE_SIZE);
            self.handshake_done = true;
        }
        while let Some(raw) = self.reader.read(&mut self.from_client).unwrap() {
            let message = Message::parse(raw).unwrap();
            if let Message::SetChunkSize(size) = message {
                self.reader.set_chunk_size(size).unwrap();
            }
            self.received.push_back(message);
        }
    }

    fn send(&mut self, chunk_stream: u32, message: &Message, timestamp: u32, stream_id: u32) {
        let raw = message.to_raw(timestamp, stream_id);
        self.send_raw(chunk_stream, &raw);
    }

    fn send_raw(&mut self, chunk_stream: u32, raw: &RawMessage) {
        self.writer.write(chunk_stream, raw, &mut self.to_client);
    }

    /// Delivers what the server wrote to the client, in two pieces to exercise reassembly.
    fn deliver(&mut self, client: &mut ClientSession) -> Result<(), SessionError> {
        let bytes = self.to_client.split();
        let middle = bytes.len() / 2;
        client.handle_input(&bytes[..middle])?;
        client.handle_input(&bytes[middle..])
    }

    fn next_command(&mut self) -> (String, f64, Amf0Value, Vec<Amf0Value>, u32) {
        loop {
            match self.received.pop_front() {
                Some(Message::Command {
                    name,
                    transaction_id,
                    command_object,
                    args,
                    stream_id,
                }) => return (name, transaction_id, command_object, args, stream_id),
                Some(_) => continue,
                None => panic!("the client sent no further command"),
            }
        }
    }

    fn result(&mut self, transaction_id: f64, args: Vec<Amf0Value>) {
        let message = Message::Command {
            stream_id: 0,
            name: "_result".into(),
            transaction_id,
            command_object: Amf0Value::Null,
            args,
        };
        self.send(3, &message, 0, 0);
    }

    fn on_status(&mut self, stream_id: u32, level: &str, code: &str) {
        let info = Amf0Value::Object(vec![
            ("level".into(), Amf0Value::String(level.into())),
            ("code".into(), Amf0Value::String(code.into())),
            (
                "description".into(),
                Amf0Value::String(format!("{code} described")),
            ),
        ]);
        let message = Message::Command {
            stream_id,
            name: "onStatus".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args: vec![info],
        };
        self.send(5, &message, 0, stream_id);
    }
}

fn connect_success() -> Vec<Amf0Value> {
    vec![Amf0Value::Object(vec![
        ("level".into(), Amf0Value::String("status".into())),
        (
            "code".into(),
            Amf0Value::String("NetConnection.Connect.Success".into()),
        ),
    ])]
}

fn publish_config() -> ClientConfig {
    ClientConfig::new(
        "live",
        "rtmp://127.0.0.1/live",
        SessionMode::Publish {
            stream: "key".into(),
            publish_type: "live".into(),
        },
    )
}

fn play_config() -> ClientConfig {
    ClientConfig::new(
        "live",
        "rtmp://127.0.0.1/live",
        SessionMode::Play {
            stream: "key".into(),
            start: -2.0,
            buffer_ms: 1000,
        },
    )
}

fn events(client: &mut ClientSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

/// Runs handshake and connect up to the client's createStream; returns its transaction id.
fn connect(client: &mut ClientSession, server: &mut ScriptedServer) -> f64 {
    server.receive(client);
    server.deliver(client).unwrap();
    server.receive(client);
    let (name, txn, object, _, _) = server.next_command();
    assert_eq!(name, "connect");
    assert_eq!(object.get("app").and_then(Amf0Value::as_str), Some("live"));
    assert_eq!(
        object.get("tcUrl").and_then(Amf0Value::as_str),
        Some("rtmp://127.0.0.1/live")
    );
    assert_eq!(client.state(), SessionState::Connecting);
    server.send(2, &Message::WindowAckSize(5_000_000), 0, 0);
    server.send(
        2,
        &Message::SetPeerBandwidth {
            size: 5_000_000,
            limit: PeerBandwidthLimit::Dynamic,
        },
        0,
        0,
    );
    server.send(2, &Message::SetChunkSize(4096), 0, 0);
    server.writer.set_chunk_size(4096);
    server.result(txn, connect_success());
    server.deliver(client).unwrap();
    server.receive(client);
    assert!(matches!(
        events(client).as_slice(),
        [SessionEvent::Connected(_)]
    ));
    // Our chunk size followed the connect command; the peer bandwidth got our window back.
    assert!(server.received.contains(&Message::SetChunkSize(4096)));
    assert!(
        server
            .received
            .contains(&Message::WindowAckSize(DEFAULT_WINDOW_ACK_SIZE))
    );
    let stats = client.stats();
    assert_eq!(stats.in_chunk_size, 4096);
    assert_eq!(stats.out_chunk_size, 4096);
    assert_eq!(stats.in_window_ack_size, 5_000_000);
    loop {
        let (name, txn, _, _, _) = server.next_command();
        if name == "createStream" {
            return txn;
        }
    }
}

fn start_publishing(client: &mut ClientSession, server: &mut ScriptedServer) {
    let txn = connect(client, server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(client).unwrap();
    server.receive(client);
    let (name, _, _, args, stream_id) = server.next_command();
    assert_eq!(name, "publish");
    assert_eq!(stream_id, 1);
    assert_eq!(
        args,
        vec![
            Amf0Value::String("key".into()),
            Amf0Value::String("live".into())
        ]
    );
    server.on_status(1, "status", "NetStream.Publish.Start");
    server.deliver(client).unwrap();
    assert_eq!(events(client), vec![SessionEvent::PublishStarted]);
    assert_eq!(client.state(), SessionState::Publishing);
}

#[test]
fn publish_flow_sends_release_fcpublish_create_and_publish() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    let txn = connect(&mut client, &mut server);
    // releaseStream and FCPublish came before createStream, with the stream name.
    assert!(txn >= 3.0);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    let (name, ..) = server.next_command();
    assert_eq!(name, "publish");
}

#[test]
fn published_media_reaches_the_server_with_timestamps() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_publishing(&mut client, &mut server);

    let frame = Bytes::from(vec![0x17; 10_000]);
    client.send_video(40, frame.clone()).unwrap();
    client
        .send_audio(41, Bytes::from_static(&[0xAF, 1, 2, 3]))
        .unwrap();
    client
        .send_video(0x0100_0000, Bytes::from_static(&[0x27, 1, 0, 0, 0]))
        .unwrap();
    server.receive(&mut client);
    let media: Vec<_> = server
        .received
        .drain(..)
        .filter(|m| matches!(m, Message::Audio { .. } | Message::Video { .. }))
        .collect();
    assert_eq!(
        media,
        vec![
            Message::Video {
                timestamp: 40,
                stream_id: 1,
                payload: frame
            },
            Message::Audio {
                timestamp: 41,
                stream_id: 1,
                payload: Bytes::from_static(&[0xAF, 1, 2, 3])
            },
            Message::Video {
                timestamp: 0x0100_0000,
                stream_id: 1,
                payload: Bytes::from_static(&[0x27, 1, 0, 0, 0])
            },
        ]
    );
}

#[test]
fn media_in_parts_is_queued_uncopied_and_arrives_whole() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_publishing(&mut client, &mut server);
    let mut drained = VecDeque::new();
    client.take_output(&mut drained);
    server.receive_bytes(drained.iter());

    let header = Bytes::from_static(&[0x17, 1, 0, 0, 0]);
    let frame = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let payload = crate::protocol::chunk::Payload::from_parts([header.clone(), frame.clone()]);
    client.send_video(40, payload).unwrap();
    let mut output = VecDeque::new();
    client.take_output(&mut output);
    // Every byte of the frame is queued as a slice of it, none copied.
    let frame_range = frame.as_ptr_range();
    let from_frame: usize = output
        .iter()
        .filter(|p| frame_range.contains(&p.as_ptr()))
        .map(Bytes::len)
        .sum();
    assert_eq!(from_frame, frame.len());
    server.receive_bytes(output.iter());
    let video: Vec<_> = server
        .received
        .drain(..)
        .filter(|m| matches!(m, Message::Video { .. }))
        .collect();
    assert_eq!(
        video,
        vec![Message::Video {
            timestamp: 40,
            stream_id: 1,
            payload: [header, frame].concat().into()
        }]
    );
}

#[test]
fn close_sends_the_stop_commands() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_publishing(&mut client, &mut server);
    client.close(StopCommands::default());
    server.receive(&mut client);
    let (name, _, _, args, _) = server.next_command();
    assert_eq!(name, "FCUnpublish");
    assert_eq!(args, vec![Amf0Value::String("key".into())]);
    let (name, _, _, args, _) = server.next_command();
    assert_eq!(name, "deleteStream");
    assert_eq!(args, vec![Amf0Value::Number(1.0)]);
    assert_eq!(client.state(), SessionState::Closed);
    assert_eq!(
        client.send_video(0, Bytes::from_static(&[0x17])),
        Err(SessionError::NotPublishing)
    );
}

#[test]
fn oversized_media_is_refused_not_sent() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_publishing(&mut client, &mut server);
    let huge = Bytes::from(vec![0u8; 0x100_0000]);
    assert_eq!(
        client.send_video(0, huge),
        Err(SessionError::MessageTooLarge(0x100_0000))
    );
    assert!(!client.has_output());
}

#[test]
fn media_before_publish_start_is_refused() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    assert_eq!(
        client.send_audio(0, Bytes::from_static(&[0xAF])),
        Err(SessionError::NotPublishing)
    );
}

#[test]
fn bad_name_and_denied_become_errors() {
    for (code, expected) in [
        (
            "NetStream.Publish.BadName",
            SessionError::PublishBadName("NetStream.Publish.BadName described".into()),
        ),
        (
            "NetStream.Publish.Denied",
            SessionError::PublishDenied("NetStream.Publish.Denied described".into()),
        ),
    ] {
        let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
        let mut server = ScriptedServer::new();
        let txn = connect(&mut client, &mut server);
        server.result(txn, vec![Amf0Value::Number(1.0)]);
        server.deliver(&mut client).unwrap();
        server.on_status(1, "error", code);
        assert_eq!(server.deliver(&mut client), Err(expected));
        assert_eq!(client.state(), SessionState::Closed);
    }
}

#[test]
fn connect_error_is_reported_with_its_description() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    server.receive(&mut client);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    let (_, txn, ..) = server.next_command();
    let message = Message::Command {
        stream_id: 0,
        name: "_error".into(),
        transaction_id: txn,
        command_object: Amf0Value::Null,
        args: vec![Amf0Value::Object(vec![
            ("level".into(), Amf0Value::String("error".into())),
            (
                "code".into(),
                Amf0Value::String("NetConnection.Connect.Rejected".into()),
            ),
            (
                "description".into(),
                Amf0Value::String("[ AccessManager.Reject ]".into()),
            ),
        ])],
    };
    server.send(3, &message, 0, 0);
    assert_eq!(
        server.deliver(&mut client),
        Err(SessionError::ConnectRejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: "[ AccessManager.Reject ]".into()
        })
    );
}

#[test]
fn ping_is_answered_and_acks_follow_the_window() {
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_publishing(&mut client, &mut server);
    server.received.clear();

    server.send(
        2,
        &Message::UserControl(UserControlEvent::PingRequest(1234)),
        0,
        0,
    );
    server.send(2, &Message::WindowAckSize(1000), 0, 0);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    assert!(
        server
            .received
            .contains(&Message::UserControl(UserControlEvent::PingResponse(1234)))
    );
    server.received.clear();
    // 3 x 600 bytes of data messages cross the 1000-byte window once.
    for _ in 0..3 {
        let raw = RawMessage {
            type_id: type_id::AUDIO,
            timestamp: 0,
            stream_id: 1,
            payload: Bytes::from(vec![0xAF; 600]),
        };
        server.send_raw(4, &raw);
        server.deliver(&mut client).unwrap();
    }
    server.receive(&mut client);
    let acks: Vec<_> = server
        .received
        .iter()
        .filter_map(|m| match m {
            Message::Acknowledgement(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    let total = client.stats().in_bytes_total;
    assert!(u64::from(acks[0]) <= total && u64::from(acks[0]) > total - 1000);
    assert_eq!(client.stats().in_bytes_acked, u64::from(acks[0]));
}

fn start_playing(client: &mut ClientSession, server: &mut ScriptedServer) {
    let txn = connect(client, server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(client).unwrap();
    server.receive(client);
    let (name, _, _, args, stream_id) = server.next_command();
    assert_eq!(name, "play");
    assert_eq!(stream_id, 1);
    assert_eq!(
        args,
        vec![Amf0Value::String("key".into()), Amf0Value::Number(-2.0)]
    );
    assert!(
        server
            .received
            .contains(&Message::UserControl(UserControlEvent::SetBufferLength {
                stream_id: 1,
                buffer_ms: 1000
            }))
    );
    server.send(
        2,
        &Message::UserControl(UserControlEvent::StreamBegin(1)),
        0,
        0,
    );
    server.on_status(1, "status", "NetStream.Play.Reset");
    server.on_status(1, "status", "NetStream.Play.Start");
    server.deliver(client).unwrap();
    let got = events(client);
    assert_eq!(got[0], SessionEvent::StreamBegin);
    assert_eq!(got[1], SessionEvent::PlayStarted);
    assert_eq!(client.state(), SessionState::Playing);
}

#[test]
fn play_flow_delivers_media_data_and_eof() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);

    let video = Bytes::from(vec![0x17; 9000]);
    server.send(
        6,
        &Message::Video {
            timestamp: 0xFF_FFFF + 5,
            stream_id: 1,
            payload: video.clone(),
        },
        0,
        1,
    );
    server.send(
        5,
        &Message::Audio {
            timestamp: 20,
            stream_id: 1,
            payload: Bytes::from_static(&[0xAF, 1, 9]),
        },
        0,
        1,
    );
    let data = Message::Data {
        timestamp: 0,
        stream_id: 1,
        values: vec![
            Amf0Value::String("onMetaData".into()),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]),
        ],
        raw: Bytes::new(),
    };
    server.send(4, &data, 0, 1);
    server.send(
        2,
        &Message::UserControl(UserControlEvent::StreamEof(1)),
        0,
        0,
    );
    server.on_status(1, "status", "NetStream.Play.UnpublishNotify");
    server.deliver(&mut client).unwrap();
    let got = events(&mut client);
    assert_eq!(
        got[0],
        SessionEvent::Media {
            kind: MediaKind::Video,
            timestamp: 0xFF_FFFF + 5,
            payload: video
        }
    );
    assert_eq!(
        got[1],
        SessionEvent::Media {
            kind: MediaKind::Audio,
            timestamp: 20,
            payload: Bytes::from_static(&[0xAF, 1, 9])
        }
    );
    let SessionEvent::Data { values, .. } = &got[2] else {
        panic!("{:?}", got[2])
    };
    assert_eq!(values[0], Amf0Value::String("onMetaData".into()));
    assert_eq!(got[3], SessionEvent::StreamEof);
    let SessionEvent::Status(status) = &got[4] else {
        panic!("{:?}", got[4])
    };
    assert_eq!(status.code, "NetStream.Play.UnpublishNotify");
}

#[test]
fn aggregate_messages_are_split_into_media() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);

    // Two FLV tags (audio at 1000 ms, video at 1040 ms), rebased onto the aggregate's timestamp 5000.
    let mut body = Vec::new();
    for (tag_type, ts, payload) in [
        (8u8, 1000u32, &[0xAFu8, 1, 7][..]),
        (9, 1040, &[0x27, 1, 0, 0, 0, 9][..]),
    ] {
        body.push(tag_type);
        body.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(&ts.to_be_bytes()[1..]);
        body.push((ts >> 24) as u8);
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(payload);
        body.extend_from_slice(&(11 + payload.len() as u32).to_be_bytes());
    }
    let raw = RawMessage {
        type_id: type_id::AGGREGATE,
        timestamp: 5000,
        stream_id: 1,
        payload: Bytes::from(body),
    };
    server.send_raw(6, &raw);
    server.deliver(&mut client).unwrap();
    let got = events(&mut client);
    assert_eq!(
        got,
        vec![
            SessionEvent::Media {
                kind: MediaKind::Audio,
                timestamp: 5000,
                payload: Bytes::from_static(&[0xAF, 1, 7])
            },
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp: 5040,
                payload: Bytes::from_static(&[0x27, 1, 0, 0, 0, 9])
            },
        ]
    );
}

#[test]
fn stream_not_found_is_an_error() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    let txn = connect(&mut client, &mut server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(&mut client).unwrap();
    server.on_status(1, "error", "NetStream.Play.StreamNotFound");
    assert!(matches!(
        server.deliver(&mut client),
        Err(SessionError::StreamNotFound(_))
    ));
}

#[test]
fn garbage_after_handshake_fails_cleanly() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    server.receive(&mut client);
    server.deliver(&mut client).unwrap();
    // A type-3 chunk on a chunk stream that never started a message.
    let result = client.handle_input(&[0xC9, 1, 2, 3]);
    assert!(matches!(result, Err(SessionError::Chunk(_))), "{result:?}");
    assert_eq!(client.state(), SessionState::Closed);
}

mod enhanced;
mod recorded;
mod robustness;
mod streams;
