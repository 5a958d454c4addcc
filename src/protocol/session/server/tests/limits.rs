//! Limits and hostile or confused clients: every case ends in an error or a refusal the client
//! can read, never a panic, and nothing unbounded is held.

use super::raw_client::{RawClient, command, connect_command, simple_handshake, string, summary};
use super::*;
use crate::protocol::chunk::{ChunkError, RawMessage};
use crate::protocol::handshake::HandshakeError;

fn video(stream_id: u32, len: usize) -> RawMessage {
    RawMessage {
        type_id: type_id::VIDEO,
        timestamp: 0,
        stream_id,
        payload: vec![0x17; len].into(),
    }
}

/// A connected client publishing on stream 1.
fn publishing() -> RawClient {
    let mut client = RawClient::connected(ServerConfig::default());
    assert_eq!(client.create_stream(2.0), Some(1.0));
    client
        .command(1, "publish", 0.0, vec![string("key"), string("live")])
        .unwrap();
    assert!(matches!(
        client.server.poll_event(),
        Some(ServerEvent::PublishRequest { stream_id: 1, .. })
    ));
    client.server.accept_publish(1).unwrap();
    client.answers();
    client
}

#[test]
fn a_huge_message_before_connect_is_refused_at_its_header() {
    let mut server = ServerSession::new(ServerConfig::default(), 0, &[]);
    server.handle_input(&simple_handshake()).unwrap();
    // Type 0 header on chunk stream 3: length 16 MiB - 1, command; no payload follows yet.
    let header = [3, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0];
    assert_eq!(
        server.handle_input(&header),
        Err(ServerError::Chunk(ChunkError::MessageTooLarge(
            0xFF_FFFF,
            DEFAULT_MAX_SETUP_MESSAGE_SIZE
        )))
    );
    assert_eq!(server.state(), ServerState::Closed);
    assert!(server.buffered_bytes() <= header.len());
    // Once closed, input is dropped unread.
    server.handle_input(&[0; 100_000]).unwrap();
    assert_eq!(server.buffered_bytes(), 0);
}

#[test]
fn large_messages_are_taken_once_connected() {
    let config = ServerConfig::default();
    // Before connect, one byte over the setup limit is too much.
    let mut client = RawClient::new(config.clone());
    let too_big = command(
        0,
        "connect",
        1.0,
        Amf0Value::Null,
        vec![string(&"x".repeat(DEFAULT_MAX_SETUP_MESSAGE_SIZE as usize))],
    );
    assert!(matches!(
        client.send(&too_big, 0),
        Err(ServerError::Chunk(ChunkError::MessageTooLarge(..)))
    ));
    // Connected and publishing, a 1 MiB frame is fine.
    let mut client = publishing();
    client.send_raw(6, &video(1, 1 << 20)).unwrap();
    assert!(matches!(
        client.server.poll_event(),
        Some(ServerEvent::Media { payload, .. }) if payload.len() == 1 << 20
    ));
}

#[test]
fn garbage_after_the_handshake_is_an_error_not_a_panic() {
    let mut server = ServerSession::new(ServerConfig::default(), 0, &[]);
    server.handle_input(&simple_handshake()).unwrap();
    // A type 3 header on a chunk stream that never had a message.
    let err = server.handle_input(&[0xff; 64]).unwrap_err();
    assert!(matches!(
        err,
        ServerError::Chunk(ChunkError::NoPreviousHeader(_))
    ));
    assert!(err.to_string().contains("from client"), "{err}");
    assert_eq!(server.state(), ServerState::Closed);
}

#[test]
fn a_client_that_is_not_rtmp_fails_the_handshake() {
    let mut server = ServerSession::new(ServerConfig::default(), 0, &[]);
    assert_eq!(
        server.handle_input(b"GET / HTTP/1.1\r\n"),
        Err(ServerError::Handshake(HandshakeError::ClientNotRtmp(
            "HTTP"
        )))
    );
    assert_eq!(server.state(), ServerState::Closed);
    assert!(!server.has_output());
}

#[test]
fn commands_and_media_before_connect_are_errors() {
    let mut client = RawClient::new(ServerConfig::default());
    let err = client.command(0, "createStream", 2.0, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "client sent the command createStream before connect"
    );

    let mut client = RawClient::new(ServerConfig::default());
    assert_eq!(
        client.send_raw(6, &video(1, 10)),
        Err(ServerError::BeforeConnect("video".into()))
    );

    // Nor may it go on while its connect awaits the decision: the input waits, unread.
    let mut client = RawClient::new(ServerConfig::default());
    client.send(&connect_command(0.0), 0).unwrap();
    client.command(0, "createStream", 2.0, vec![]).unwrap();
    assert!(client.server.awaiting_decision());
    assert!(client.server.buffered_bytes() > 0);
    client.server.poll_event().unwrap();
    client.server.accept_connect().unwrap();
    assert_eq!(client.server.buffered_bytes(), 0);
    let answers: Vec<String> = client.answers().iter().map(summary).collect();
    assert_eq!(answers.last().map(String::as_str), Some("_result"));
}

#[test]
fn a_second_connect_is_an_error() {
    let mut client = RawClient::connected(ServerConfig::default());
    assert_eq!(
        client.send(&connect_command(0.0), 0),
        Err(ServerError::DuplicateConnect)
    );
}

#[test]
fn create_stream_beyond_max_streams_gets_an_error() {
    let config = ServerConfig {
        max_streams: 3,
        ..ServerConfig::default()
    };
    let mut client = RawClient::connected(config);
    for id in 1..=3 {
        assert_eq!(
            client.create_stream(f64::from(id) + 1.0),
            Some(f64::from(id))
        );
    }
    client.command(0, "createStream", 9.0, vec![]).unwrap();
    assert_eq!(
        client.answers().iter().map(summary).collect::<Vec<_>>(),
        ["_error NetConnection.Call.Failed"]
    );
    // Deleting one makes room again, under a new id.
    client
        .command(0, "deleteStream", 0.0, vec![Amf0Value::Number(2.0)])
        .unwrap();
    assert_eq!(client.create_stream(10.0), Some(4.0));
}

#[test]
fn media_on_a_stream_that_does_not_publish_is_dropped() {
    let mut client = publishing();
    client.send_raw(6, &video(7, 10)).unwrap();
    client.send_raw(6, &video(0, 10)).unwrap();
    assert_eq!(client.server.poll_event(), None);
    client.send_raw(6, &video(1, 10)).unwrap();
    assert!(matches!(
        client.server.poll_event(),
        Some(ServerEvent::Media { stream_id: 1, .. })
    ));
}

#[test]
fn publish_or_play_on_a_stream_not_created_is_refused() {
    let mut client = RawClient::connected(ServerConfig::default());
    client
        .command(5, "publish", 0.0, vec![string("key"), string("live")])
        .unwrap();
    client.command(6, "play", 0.0, vec![string("key")]).unwrap();
    assert_eq!(
        client.answers().iter().map(summary).collect::<Vec<_>>(),
        [
            "onStatus NetStream.Publish.Failed",
            "onStatus NetStream.Play.Failed"
        ]
    );
    assert_eq!(client.server.poll_event(), None);
    assert!(!client.server.awaiting_decision());
}

#[test]
fn a_publish_without_a_name_is_a_bad_name() {
    let mut client = RawClient::connected(ServerConfig::default());
    client.create_stream(2.0).unwrap();
    client.command(1, "publish", 0.0, vec![]).unwrap();
    assert_eq!(
        client.answers().iter().map(summary).collect::<Vec<_>>(),
        ["onStatus NetStream.Publish.BadName"]
    );
}

#[test]
fn undecodable_amf_is_skipped_once_connected_fatal_before() {
    let broken = RawMessage {
        type_id: type_id::DATA_AMF0,
        timestamp: 0,
        stream_id: 1,
        payload: vec![0x02, 0x00, 0x05, b'a', 0x42].into(),
    };
    let mut client = publishing();
    client.send_raw(4, &broken).unwrap();
    assert!(matches!(
        client.server.poll_event(),
        Some(ServerEvent::Skipped { type_id: 18, .. })
    ));
    let mut client = RawClient::new(ServerConfig::default());
    assert!(matches!(
        client.send_raw(4, &broken),
        Err(ServerError::Message(_))
    ));
}

#[test]
fn decisions_without_a_request_are_refused() {
    let mut client = RawClient::new(ServerConfig::default());
    assert_eq!(
        client.server.accept_connect(),
        Err(ServerError::NoRequest {
            request: "connect",
            stream_id: 0
        })
    );
    let mut client = RawClient::connected(ServerConfig::default());
    assert!(client.server.accept_play(1).is_err());
    assert!(client.server.reject_publish(1, "x", "y").is_err());
    assert_eq!(
        client.server.send_video(1, 0, Bytes::from_static(&[1])),
        Err(ServerError::NotPlaying(1))
    );
    assert_eq!(client.server.end_play(1), Err(ServerError::NotPlaying(1)));
}

#[test]
fn aggregates_from_a_publisher_are_split() {
    let mut client = publishing();
    // Two FLV tags: audio at 10, video at 30 (20 after the first).
    let mut payload = Vec::new();
    for (kind, ts, body) in [
        (8u8, 10u32, &[0xaf, 1][..]),
        (9, 30, &[0x17, 1, 0, 0, 0][..]),
    ] {
        payload.push(kind);
        payload.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        payload.extend_from_slice(&ts.to_be_bytes()[1..]);
        payload.push(0);
        payload.extend_from_slice(&[0, 0, 0]);
        payload.extend_from_slice(body);
        payload.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    let aggregate = RawMessage {
        type_id: type_id::AGGREGATE,
        timestamp: 1000,
        stream_id: 1,
        payload: payload.into(),
    };
    client.send_raw(6, &aggregate).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| client.server.poll_event()).collect();
    assert!(matches!(
        events.as_slice(),
        [
            ServerEvent::Media {
                kind: MediaKind::Audio,
                timestamp: 1000,
                ..
            },
            ServerEvent::Media {
                kind: MediaKind::Video,
                timestamp: 1020,
                ..
            },
        ]
    ));
}

#[test]
fn set_chunk_size_and_abort_from_the_client_are_followed() {
    use crate::protocol::message::Message;
    let mut client = publishing();
    client.send(&Message::SetChunkSize(50), 0).unwrap();
    assert_eq!(client.server.stats().in_chunk_size, 50);
    client.send(&Message::SetChunkSize(0), 0).unwrap_err();
}

#[test]
fn chunk_size_set_before_connect_is_announced_with_the_answer() {
    // Found by the server_session fuzz target: a Set Chunk Size came out before S0+S1+S2.
    let mut server = ServerSession::new(ServerConfig::default(), 0, &[]);
    server.set_chunk_size(60_000);
    assert!(!server.has_output());
    let mut client = RawClient::new(ServerConfig::default());
    client.server.set_chunk_size(1000);
    client.send(&connect_command(0.0), 0).unwrap();
    client.server.poll_event().unwrap();
    client.server.accept_connect().unwrap();
    let answers = client.answers();
    assert_eq!(
        answers[2],
        crate::protocol::message::Message::SetChunkSize(1000)
    );
    assert_eq!(client.server.stats().out_chunk_size, 1000);
}

#[test]
fn closing_drops_partly_received_messages() {
    // Found by the server_session fuzz target: a closed session still held a half-sent message.
    let mut client = publishing();
    let frame = video(1, 10_000);
    let bytes = client.encode(6, &frame);
    client.server.handle_input(&bytes[..5000]).unwrap();
    assert!(client.server.buffered_bytes() > 4000);
    client.server.close();
    assert_eq!(client.server.buffered_bytes(), 0);
    client.server.handle_input(&bytes[5000..]).unwrap();
    assert_eq!(client.server.buffered_bytes(), 0);
    assert_eq!(client.server.poll_event(), None);
}
