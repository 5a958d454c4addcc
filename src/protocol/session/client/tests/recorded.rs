//! Playing recordings: the stream length query, seek and pause on the wire, and the order in
//! which a server's answers to a seek reach the caller relative to media already in flight.

use super::*;

fn vod_config() -> ClientConfig {
    let mut config = play_config();
    config.query_stream_length = true;
    config
}

/// Like `start_playing`, with the getStreamLength exchange before play; returns the events of
/// the play start.
fn start_vod(client: &mut ClientSession, server: &mut ScriptedServer, length: Amf0Value) {
    let txn = connect(client, server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(client).unwrap();
    server.receive(client);
    let (name, length_txn, _, args, stream_id) = server.next_command();
    assert_eq!(name, "getStreamLength");
    assert_eq!(stream_id, 0);
    assert_eq!(args, vec![Amf0Value::String("key".into())]);
    let (name, ..) = server.next_command();
    assert_eq!(name, "play", "play follows getStreamLength, as in FFmpeg");
    server.result(length_txn, vec![length]);
    server.on_status(1, "status", "NetStream.Play.Start");
    server.send(
        2,
        &Message::UserControl(UserControlEvent::StreamIsRecorded(1)),
        0,
        0,
    );
    server.deliver(client).unwrap();
}

fn video(timestamp: u32) -> Message {
    Message::Video {
        timestamp,
        stream_id: 1,
        payload: Bytes::from(vec![0x27, 1, 0, 0, 0, 0xAA]),
    }
}

#[test]
fn stream_length_answer_becomes_an_event() {
    let mut client = ClientSession::new(vod_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_vod(&mut client, &mut server, Amf0Value::Number(20.5));
    assert_eq!(
        events(&mut client),
        vec![
            SessionEvent::StreamLength(20.5),
            SessionEvent::PlayStarted,
            SessionEvent::StreamIsRecorded
        ]
    );
}

#[test]
fn a_useless_stream_length_answer_is_ignored() {
    for answer in [Amf0Value::Number(0.0), Amf0Value::Null] {
        let mut client = ClientSession::new(vod_config(), 0, &[7; 1528]);
        let mut server = ScriptedServer::new();
        start_vod(&mut client, &mut server, answer);
        assert_eq!(
            events(&mut client),
            vec![SessionEvent::PlayStarted, SessionEvent::StreamIsRecorded]
        );
    }
}

#[test]
fn no_stream_length_query_unless_asked() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    assert!(
        !server
            .received
            .iter()
            .any(|m| matches!(m, Message::Command { name, .. } if name == "getStreamLength"))
    );
}

#[test]
fn seek_and_pause_go_out_on_the_media_stream_only_while_playing() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    assert_eq!(client.seek(1000), Err(SessionError::NotPlaying));
    assert_eq!(client.pause(true, 0), Err(SessionError::NotPlaying));
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    client.seek(12_345).unwrap();
    client.pause(true, 13_000).unwrap();
    client.pause(false, 13_000).unwrap();
    server.receive(&mut client);
    let (name, txn, object, args, stream_id) = server.next_command();
    assert_eq!(
        (name.as_str(), txn, object, args, stream_id),
        (
            "seek",
            0.0,
            Amf0Value::Null,
            vec![Amf0Value::Number(12_345.0)],
            1
        )
    );
    for paused in [true, false] {
        let (name, _, _, args, stream_id) = server.next_command();
        assert_eq!(
            (name.as_str(), args, stream_id),
            (
                "pause",
                vec![Amf0Value::Boolean(paused), Amf0Value::Number(13_000.0)],
                1
            )
        );
    }
}

/// nginx-rtmp answers a seek with StreamEOF, `NetStream.Seek.Notify` and StreamBegin, and
/// media sent before it saw the seek is still on the wire: the caller gets everything in
/// order, so it can drop what precedes the notification.
#[test]
fn seek_answers_keep_their_place_among_media_in_flight() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    client.seek(10_000).unwrap();
    server.receive(&mut client);
    server.send(6, &video(1_000), 1_000, 1);
    server.send(6, &video(1_040), 1_040, 1);
    server.send(
        2,
        &Message::UserControl(UserControlEvent::StreamEof(1)),
        0,
        0,
    );
    server.on_status(1, "status", "NetStream.Seek.Notify");
    server.send(
        2,
        &Message::UserControl(UserControlEvent::StreamBegin(1)),
        0,
        0,
    );
    server.send(6, &video(10_000), 10_000, 1);
    server.deliver(&mut client).unwrap();
    let got: Vec<String> = events(&mut client)
        .into_iter()
        .map(|e| match e {
            SessionEvent::Media { timestamp, .. } => format!("media {timestamp}"),
            SessionEvent::Status(status) => status.code,
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            "media 1000",
            "media 1040",
            "StreamEof",
            "NetStream.Seek.Notify",
            "StreamBegin",
            "media 10000"
        ]
    );
    assert_eq!(client.state(), SessionState::Playing);
}

/// What nginx-rtmp really sent (captures in `testdata_nginx_vod`), through the session.
fn events_of_capture(capture: &[crate::protocol::testdata_nginx_vod::Captured]) -> Vec<String> {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    for message in capture {
        let raw = crate::protocol::testdata_nginx_vod::raw(message);
        let chunk_stream = if raw.type_id == type_id::USER_CONTROL {
            2
        } else {
            5
        };
        server.send_raw(chunk_stream, &raw);
    }
    server.deliver(&mut client).unwrap();
    events(&mut client)
        .into_iter()
        .map(|e| match e {
            SessionEvent::Status(status) => status.code,
            SessionEvent::Data { values, .. } => {
                let name = values[0].as_str().unwrap_or_default().to_owned();
                let code = values
                    .get(1)
                    .and_then(|v| v.get("code"))
                    .and_then(Amf0Value::as_str)
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default();
                name + &code
            }
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn nginx_vod_answers_play_seek_pause_and_the_end_as_captured() {
    use crate::protocol::testdata_nginx_vod as nginx;
    assert_eq!(
        events_of_capture(nginx::PLAY_FLV),
        [
            "StreamBegin",
            "NetStream.Play.Start",
            "StreamIsRecorded",
            "|RtmpSampleAccess",
            "onMetaData"
        ]
    );
    assert_eq!(
        events_of_capture(nginx::SEEK_FLV),
        ["StreamEof", "NetStream.Seek.Notify", "StreamBegin"]
    );
    assert_eq!(
        events_of_capture(nginx::PAUSE_FLV),
        ["NetStream.Pause.Notify"]
    );
    // The end of the file, twice after a seek (a send timer from before it fires again).
    let end = [
        "StreamEof",
        "onPlayStatus NetStream.Play.Complete",
        "NetStream.Play.Stop",
    ];
    let seek = ["StreamEof", "NetStream.Seek.Notify", "StreamBegin"];
    let expected: Vec<&str> = seek.iter().chain(&end).chain(&end).copied().collect();
    assert_eq!(events_of_capture(nginx::SEEK_TO_END_FLV), expected);
    // A missing recording is an error of the play.
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    let txn = connect(&mut client, &mut server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(&mut client).unwrap();
    for message in nginx::PLAY_NOT_FOUND {
        server.send_raw(5, &nginx::raw(message));
    }
    assert!(matches!(
        server.deliver(&mut client),
        Err(SessionError::StreamNotFound(_))
    ));
}
