//! Odd input from either side: server messages whose AMF does not decode (skipped unless the
//! session depends on them) and commands too large to send (errors, not panics).

use super::*;

/// A command or data payload: `name`, then the transaction id if given, then `rest` as it is.
fn amf_payload(name: &str, txn: Option<f64>, rest: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    crate::protocol::amf0::encode(&Amf0Value::String(name.into()), &mut out);
    if let Some(txn) = txn {
        crate::protocol::amf0::encode(&Amf0Value::Number(txn), &mut out);
    }
    out.extend_from_slice(rest);
    out.freeze()
}

fn raw(type_id: u8, stream_id: u32, payload: Bytes) -> RawMessage {
    RawMessage {
        type_id,
        timestamp: 0,
        stream_id,
        payload,
    }
}

#[test]
fn undecodable_data_and_commands_are_skipped() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    // An unknown AMF0 marker (0xFF) after a data message's name, in an AMF3 data message, in
    // a command's arguments, and as a command's name; an answer nobody waits for; then media.
    let null_then_ff = [0x05, 0xff];
    let messages = [
        raw(type_id::DATA_AMF0, 1, amf_payload("onFoo", None, &[0xff])),
        raw(type_id::DATA_AMF3, 1, {
            let mut p = vec![0];
            p.extend_from_slice(&amf_payload("onBar", None, &[0xff]));
            Bytes::from(p)
        }),
        raw(
            type_id::COMMAND_AMF0,
            0,
            amf_payload("onBWDone", Some(0.0), &null_then_ff),
        ),
        raw(type_id::COMMAND_AMF0, 0, Bytes::from_static(&[0xff, 1, 2])),
        raw(
            type_id::COMMAND_AMF0,
            0,
            amf_payload("_result", Some(99.0), &null_then_ff),
        ),
    ];
    for message in &messages {
        server.send_raw(3, message);
    }
    let video = Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]);
    server.send(
        6,
        &Message::Video {
            timestamp: 5,
            stream_id: 1,
            payload: video.clone(),
        },
        5,
        1,
    );
    server.deliver(&mut client).unwrap();
    let got = events(&mut client);
    let skipped: Vec<u8> = got
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Skipped { type_id, reason } => {
                assert!(!reason.is_empty());
                Some(*type_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(skipped, [18, 15, 20, 20, 20], "{got:?}");
    assert_eq!(
        got.last(),
        Some(&SessionEvent::Media {
            kind: MediaKind::Video,
            timestamp: 5,
            payload: video
        })
    );
    assert_eq!(client.state(), SessionState::Playing);
}

#[test]
fn undecodable_answer_to_connect_or_create_stream_is_fatal() {
    // The connect answer.
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    server.receive(&mut client);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    let (name, txn, ..) = server.next_command();
    assert_eq!(name, "connect");
    server.send_raw(
        3,
        &raw(
            type_id::COMMAND_AMF0,
            0,
            amf_payload("_result", Some(txn), &[0xff]),
        ),
    );
    let result = server.deliver(&mut client);
    assert!(
        matches!(
            result,
            Err(SessionError::Message(MessageError::Amf { type_id: 20, .. }))
        ),
        "{result:?}"
    );
    assert_eq!(client.state(), SessionState::Closed);

    // The createStream answer, after an undecodable answer to releaseStream (which nothing
    // waits for) was skipped.
    let mut client = ClientSession::new(publish_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    let txn = connect(&mut client, &mut server);
    let release_txn = txn - 2.0;
    server.send_raw(
        3,
        &raw(
            type_id::COMMAND_AMF0,
            0,
            amf_payload("_error", Some(release_txn), &[0xff]),
        ),
    );
    server.deliver(&mut client).unwrap();
    assert!(matches!(
        events(&mut client).as_slice(),
        [SessionEvent::Skipped { type_id: 20, .. }]
    ));
    server.send_raw(
        3,
        &raw(
            type_id::COMMAND_AMF0,
            0,
            amf_payload("_error", Some(txn), &[0x05, 0xff]),
        ),
    );
    let result = server.deliver(&mut client);
    assert!(
        matches!(result, Err(SessionError::Message(MessageError::Amf { .. }))),
        "{result:?}"
    );
}

#[test]
fn short_control_messages_stay_fatal() {
    for type_id in [1, 2, 3, 4, 5, 6] {
        let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
        let mut server = ScriptedServer::new();
        connect(&mut client, &mut server);
        server.send_raw(2, &raw(type_id, 0, Bytes::from_static(&[0])));
        let result = server.deliver(&mut client);
        assert!(
            matches!(
                result,
                Err(SessionError::Message(MessageError::TooShort { .. }))
            ),
            "type {type_id}: {result:?}"
        );
    }
}

#[test]
fn oversized_commands_are_errors_not_panics() {
    // A string longer than RTMP's 24-bit message length, in the connect command's extra
    // arguments, or as the stream name in releaseStream (publish) and play.
    let huge = "x".repeat(crate::protocol::chunk::MAX_MESSAGE_LENGTH as usize + 1);
    let mut config = publish_config();
    config.extra_connect_args = vec![Amf0Value::String(huge.clone())];
    let mut client = ClientSession::new(config, 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    server.receive(&mut client);
    let result = server.deliver(&mut client);
    assert!(
        matches!(result, Err(SessionError::MessageTooLarge(n)) if n > huge.len()),
        "{result:?}"
    );
    assert_eq!(client.state(), SessionState::Closed);

    for mode in [
        SessionMode::Publish {
            stream: huge.clone(),
            publish_type: "live".into(),
        },
        SessionMode::Play {
            stream: huge.clone(),
            start: -2.0,
            buffer_ms: 100,
        },
    ] {
        let mut config = play_config();
        config.mode = mode;
        let mut client = ClientSession::new(config, 0, &[7; 1528]);
        let mut server = ScriptedServer::new();
        server.receive(&mut client);
        server.deliver(&mut client).unwrap();
        server.receive(&mut client);
        let (_, txn, ..) = server.next_command();
        server.result(txn, connect_success());
        let mut result = server.deliver(&mut client);
        if result.is_ok() {
            // Play: the createStream answer leads to the play command.
            server.receive(&mut client);
            let txn = loop {
                let (name, txn, ..) = server.next_command();
                if name == "createStream" {
                    break txn;
                }
            };
            server.result(txn, vec![Amf0Value::Number(1.0)]);
            result = server.deliver(&mut client);
        }
        assert!(
            matches!(result, Err(SessionError::MessageTooLarge(_))),
            "{result:?}"
        );
    }
}
