//! Byte-vector tests of the server's answers: the exact bytes of the connect answer, and the
//! answers to what real clients sent (captures from `tests/server_session_real_clients.rs` with
//! `RTMP_CAPTURE_DIR` set: FFmpeg 5.1 publishing and playing, librtmp's rtmpsink publishing with
//! its releaseStream/FCPublish/_checkbw, rtmpdump playing live with FCSubscribe, rtmp2sink and
//! rtmp2src), replayed byte for byte.

use super::raw_client::{RawClient, capture_messages, connect_command, summary};
use super::*;
use crate::protocol::message::{Message, UserControlEvent};

const FFMPEG51_PUBLISH: &[u8] = include_bytes!("../testdata/ffmpeg51_publish_start.bin");
const LIBRTMP_PUBLISH: &[u8] = include_bytes!("../testdata/librtmp_publish_start.bin");
const RTMP2SINK_PUBLISH: &[u8] = include_bytes!("../testdata/rtmp2sink_publish_start.bin");
const FFMPEG51_PLAY: &[u8] = include_bytes!("../testdata/ffmpeg51_play.bin");
const RTMPDUMP_PLAY: &[u8] = include_bytes!("../testdata/rtmpdump_play.bin");
const RTMP2SRC_PLAY: &[u8] = include_bytes!("../testdata/rtmp2src_play.bin");

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn connect_answer_bytes_are_exact() {
    let mut client = RawClient::new(ServerConfig::default());
    client.send(&connect_command(0.0), 0).unwrap();
    assert!(!client.server.has_output(), "nothing before the decision");
    client.server.poll_event().unwrap();
    client.server.accept_connect().unwrap();
    let expected = hex(
        // The properties object ends with Enhanced RTMP's fourCcList, FourCC info maps (CanDecode
        // | CanForward for each) and capsEx (Multitrack | ModEx | TimestampNanoOffset).
        // Window Acknowledgement Size 2 500 000: chunk stream 2, type 5.
        "02 000000 000004 05 00000000  002625a0
         42 000000 000005 06           002625a0 02
         42 000000 000004 01           00001000
         03 000000 0001ec 14 00000000
            0200075f726573756c74 003ff0000000000000
            03 0006666d7356657202000d464d532f332c302c312c313233
               000c6361706162696c6974696573 00403f000000000000
               000a666f757243634c6973740a0000000a02000461766331020004687663310200046176303102000476703039020004
               6d7034610200042e6d70330200044f707573020004664c614302000461632d3302000465632d330012766964656f466f
               75724363496e666f4d617003000461766331004014000000000000000468766331004014000000000000000461763031
               0040140000000000000004767030390040140000000000000000090012617564696f466f75724363496e666f4d617003
               00046d70346100401400000000000000042e6d703300401400000000000000044f707573004014000000000000000466
               4c6143004014000000000000000461632d33004014000000000000000465632d33004014000000000000000009000663
               617073457800402c000000000000
               000009
            03 00056c6576656c 0200067374617475730004636f6465
               02001d4e6574436f6e6e656374696f6e2e436f6e6e6563742e53756363657373
               000b6465736372697074696f6e 020015436f6e6e656374696f6e207375636365656465642e
               000e6f626a656374456e636f64696e67 000000000000000000 000009
         43 000000 00001e 14
            0200086f6e4257446f6e65 000000000000000000 05 0040c0000000000000",
    );
    assert_eq!(hex_dump(&client.take_bytes()), hex_dump(&expected));
    assert_eq!(client.server.state(), ServerState::Connected);
    let stats = client.server.stats();
    assert_eq!(stats.out_chunk_size, 4096);
    assert_eq!(stats.out_window_ack_size, DEFAULT_WINDOW_ACK_SIZE);
}

fn hex_dump(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn amf3_connect_is_answered_with_its_object_encoding() {
    let mut client = RawClient::new(ServerConfig::default());
    // Type 17: a 0x00 format byte, then the AMF0 command as for type 20.
    let mut raw = connect_command(3.0).to_raw(0, 0);
    raw.type_id = type_id::COMMAND_AMF3;
    raw.payload = [&[0u8][..], &raw.payload].concat().into();
    client.send_raw(3, &raw).unwrap();
    match client.server.poll_event() {
        Some(ServerEvent::ConnectRequest { object, .. }) => {
            assert_eq!(
                object.get("objectEncoding").and_then(Amf0Value::as_number),
                Some(3.0)
            );
        }
        other => panic!("{other:?}"),
    }
    client.server.accept_connect().unwrap();
    let answers = client.answers();
    let Some(Message::Command { name, args, .. }) = answers.get(3) else {
        panic!("{answers:?}");
    };
    assert_eq!(name, "_result");
    assert_eq!(
        args[0].get("objectEncoding").and_then(Amf0Value::as_number),
        Some(3.0)
    );
    // Later AMF3 commands work too.
    let mut raw = raw_client::command(0, "createStream", 2.0, Amf0Value::Null, vec![]).to_raw(0, 0);
    raw.type_id = type_id::COMMAND_AMF3;
    raw.payload = [&[0u8][..], &raw.payload].concat().into();
    client.send_raw(3, &raw).unwrap();
    assert_eq!(
        client.answers().iter().map(summary).collect::<Vec<_>>(),
        ["_result"]
    );
}

/// Replays a client's capture into a session that accepts everything, and returns the events
/// and the summaries of the answers.
fn replay(capture: &[u8]) -> (ServerSession, Vec<ServerEvent>, Vec<String>) {
    let mut server = ServerSession::new(ServerConfig::default(), 0, &[0x22; 3032]);
    let mut events = Vec::new();
    let mut output = VecDeque::new();
    // In pieces, as a socket would deliver them.
    for piece in capture.chunks(1000) {
        server.handle_input(piece).unwrap();
        while let Some(event) = server.poll_event() {
            match &event {
                ServerEvent::ConnectRequest { .. } => server.accept_connect().unwrap(),
                ServerEvent::PublishRequest { stream_id, .. } => {
                    server.accept_publish(*stream_id).unwrap()
                }
                ServerEvent::PlayRequest { stream_id, .. } => {
                    server.accept_play(*stream_id).unwrap()
                }
                _ => {}
            }
            events.push(event);
        }
        server.take_output(&mut output);
    }
    let bytes = concat(&output);
    let answers = raw_client::Decoder::new().messages(&bytes[1 + 2 * 1536..]);
    (server, events, answers.iter().map(summary).collect())
}

#[test]
fn ffmpeg51_publish_is_answered_in_order() {
    let (_, events, answers) = replay(FFMPEG51_PUBLISH);
    assert_eq!(
        answers,
        [
            "WindowAckSize(2500000)",
            "SetPeerBandwidth { size: 2500000, limit: Dynamic }",
            "SetChunkSize(4096)",
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "_result",
            "onFCPublish NetStream.Publish.Start",
            "_result",
            "_result",
            "onStatus NetStream.Publish.Start",
        ]
    );
    match &events[..3] {
        [
            ServerEvent::ConnectRequest {
                app,
                tc_url,
                flash_ver,
                ..
            },
            ServerEvent::PublishRequest {
                stream_id: 1,
                name,
                publish_type,
            },
            ServerEvent::Data { values, .. },
        ] => {
            assert_eq!(app, "live");
            assert_eq!(tc_url.as_deref(), Some("rtmp://127.0.0.1:37473/live"));
            assert_eq!(
                flash_ver.as_deref(),
                Some("FMLE/3.0 (compatible; Lavf59.27.100)")
            );
            assert_eq!((name.as_str(), publish_type.as_str()), ("key", "live"));
            assert_eq!(values[0].as_str(), Some("@setDataFrame"));
            assert_eq!(values[1].as_str(), Some("onMetaData"));
        }
        other => panic!("{other:?}"),
    }
    // The AVC sequence header (42 bytes) and the AAC one (7) come first.
    let media: Vec<(MediaKind, u32, usize)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Media {
                kind,
                timestamp,
                payload,
                stream_id: 1,
            } => Some((*kind, *timestamp, payload.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        media[..3],
        [
            (MediaKind::Video, 0, 42),
            (MediaKind::Audio, 0, 7),
            (MediaKind::Audio, 0, 230)
        ]
    );
}

#[test]
fn librtmp_publish_is_answered_in_order() {
    let (server, events, answers) = replay(LIBRTMP_PUBLISH);
    // connect, releaseStream, FCPublish, createStream, _checkbw, publish: all answered.
    assert_eq!(
        answers[3..],
        [
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "_result",
            "onFCPublish NetStream.Publish.Start",
            "_result",
            "_result",
            "onStatus NetStream.Publish.Start",
        ]
    );
    assert!(matches!(
        &events[1],
        ServerEvent::PublishRequest { stream_id: 1, name, .. } if name == "key"
    ));
    assert!(server.stats().in_bytes_total == 5000);
}

#[test]
fn rtmp2sink_publish_needs_no_answer_to_its_transactionless_calls() {
    let (_, events, answers) = replay(RTMP2SINK_PUBLISH);
    // releaseStream, FCPublish and publish come with transaction id 0: only FCPublish has an
    // answer of its own.
    assert_eq!(
        answers[3..],
        [
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "onFCPublish NetStream.Publish.Start",
            "_result",
            "onStatus NetStream.Publish.Start",
        ]
    );
    assert!(matches!(&events[1], ServerEvent::PublishRequest { .. }));
    assert!(matches!(&events[2], ServerEvent::Data { .. }));
}

/// What a player is sent once its play is accepted, after the answers to its own calls.
const PLAY_START: [&str; 4] = [
    "UserControl(StreamBegin(1))",
    "onStatus NetStream.Play.Reset",
    "onStatus NetStream.Play.Start",
    "|RtmpSampleAccess",
];

#[test]
fn ffmpeg51_play_is_answered_in_order() {
    let (_, events, answers) = replay(FFMPEG51_PLAY);
    // createStream, _checkbw, getStreamLength, play.
    assert_eq!(
        answers[3..8],
        [
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "_result",
            "_result",
            "_result"
        ]
    );
    assert_eq!(answers[8..], PLAY_START);
    assert_eq!(
        events[1..],
        [
            ServerEvent::PlayRequest {
                stream_id: 1,
                name: "key".into(),
                start: -2000.0
            },
            ServerEvent::PlayEnded { stream_id: 1 },
        ]
    );
}

#[test]
fn librtmp_live_play_with_fcsubscribe_and_checkbw() {
    let (_, events, answers) = replay(RTMPDUMP_PLAY);
    assert_eq!(
        answers[3..],
        [
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "_result",
            "onFCSubscribe NetStream.Play.Start",
            "_result",
        ]
        .into_iter()
        .chain(PLAY_START)
        .collect::<Vec<_>>()
    );
    assert_eq!(
        events[1],
        ServerEvent::PlayRequest {
            stream_id: 1,
            name: "key".into(),
            start: -1000.0
        }
    );
}

#[test]
fn rtmp2src_play_is_answered() {
    let (server, events, answers) = replay(RTMP2SRC_PLAY);
    assert_eq!(answers[answers.len() - 4..], PLAY_START);
    assert!(matches!(
        &events[1],
        ServerEvent::PlayRequest { name, start, .. } if name == "key" && *start == -2.0
    ));
    assert_eq!(server.state(), ServerState::Connected);
}

#[test]
fn pings_are_answered_and_captured_clients_are_whole() {
    for capture in [FFMPEG51_PLAY, RTMPDUMP_PLAY, RTMP2SRC_PLAY] {
        let messages = capture_messages(capture);
        assert!(matches!(&messages[0], Message::Command { name, .. } if name == "connect"));
    }
    let mut client = RawClient::connected(ServerConfig::default());
    let ping = Message::UserControl(UserControlEvent::PingRequest(1234));
    client.send(&ping, 0).unwrap();
    assert_eq!(
        client.answers(),
        [Message::UserControl(UserControlEvent::PingResponse(1234))]
    );
}

#[test]
fn unknown_calls_get_an_error_and_notifications_nothing() {
    let mut client = RawClient::connected(ServerConfig::default());
    client.command(0, "someCustomCall", 7.0, vec![]).unwrap();
    client.command(0, "someNotification", 0.0, vec![]).unwrap();
    let answers = client.answers();
    assert_eq!(
        answers.iter().map(summary).collect::<Vec<_>>(),
        ["_error NetConnection.Call.Failed"]
    );
    assert!(
        matches!(&answers[0], Message::Command { transaction_id, .. } if *transaction_id == 7.0)
    );
}

#[test]
fn obs_style_fmle_connect_and_publish() {
    use super::raw_client::{command, string};
    let mut client = RawClient::new(ServerConfig::default());
    // OBS's librtmp: FMLE flashVer, swfUrl and tcUrl alike, and the calls in one burst.
    let object = Amf0Value::Object(vec![
        ("app".into(), string("live")),
        ("type".into(), string("nonprivate")),
        ("flashVer".into(), string("FMLE/3.0 (compatible; FMSc/1.0)")),
        ("swfUrl".into(), string("rtmp://127.0.0.1/live")),
        ("tcUrl".into(), string("rtmp://127.0.0.1/live")),
    ]);
    client
        .send(&command(0, "connect", 1.0, object, vec![]), 0)
        .unwrap();
    let mut burst = Vec::new();
    for (stream_id, name, txn, args) in [
        (0, "releaseStream", 2.0, vec![string("key?secret=1")]),
        (0, "FCPublish", 3.0, vec![string("key?secret=1")]),
        (0, "createStream", 4.0, vec![]),
        (
            1,
            "publish",
            5.0,
            vec![string("key?secret=1"), string("live")],
        ),
    ] {
        let raw = command(stream_id, name, txn, Amf0Value::Null, args).to_raw(0, stream_id);
        burst.extend(client.encode(3, &raw));
    }
    client.server.handle_input(&burst).unwrap();
    match client.server.poll_event() {
        Some(ServerEvent::ConnectRequest {
            flash_ver, tc_url, ..
        }) => {
            assert_eq!(
                flash_ver.as_deref(),
                Some("FMLE/3.0 (compatible; FMSc/1.0)")
            );
            assert_eq!(tc_url.as_deref(), Some("rtmp://127.0.0.1/live"));
        }
        other => panic!("{other:?}"),
    }
    client.server.accept_connect().unwrap();
    assert_eq!(
        client.server.poll_event(),
        Some(ServerEvent::PublishRequest {
            stream_id: 1,
            name: "key?secret=1".into(),
            publish_type: "live".into()
        })
    );
    client.server.accept_publish(1).unwrap();
    let answers: Vec<String> = client.answers().iter().map(summary).collect();
    assert_eq!(
        answers[3..],
        [
            "_result NetConnection.Connect.Success",
            "onBWDone",
            "_result",
            "onFCPublish NetStream.Publish.Start",
            "_result",
            "onStatus NetStream.Publish.Start",
        ]
    );
}
