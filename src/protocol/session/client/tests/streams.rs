//! A second stream on one connection (renditions), play2, and the bandwidth-check answers.

use super::*;

fn command(name: &str, txn: f64, args: Vec<Amf0Value>) -> Message {
    Message::Command {
        stream_id: 0,
        name: name.into(),
        transaction_id: txn,
        command_object: Amf0Value::Null,
        args,
    }
}

/// The AMF0 body of a command, as on the wire.
fn body(message: &Message) -> Vec<u8> {
    message.to_raw(0, 0).payload.to_vec()
}

fn amf_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

fn amf_number(n: f64) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

fn media(client: &mut ClientSession, server: &mut ScriptedServer, stream_id: u32, ts: u32) {
    server.send(
        6,
        &Message::Video {
            timestamp: ts,
            stream_id,
            payload: Bytes::from(vec![0x17, 1, 0, 0, 0, stream_id as u8]),
        },
        ts,
        stream_id,
    );
    server.deliver(client).unwrap();
}

#[test]
fn bandwidth_checks_are_answered_as_librtmp_does() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    server.received.clear();

    // FMS/SRS: onBWDone (txn 0, null, a number) -> one _checkbw; a second onBWDone gets none.
    let on_bw_done = command("onBWDone", 0.0, vec![Amf0Value::Number(8192.0)]);
    server.send(3, &on_bw_done, 0, 0);
    server.send(3, &on_bw_done, 0, 0);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    let (name, txn, object, args, stream_id) = server.next_command();
    assert_eq!((name.as_str(), stream_id), ("_checkbw", 0));
    // connect was 1, createStream 2: the next transaction.
    assert_eq!(txn, 3.0);
    let checkbw = command("_checkbw", txn, args.clone());
    let mut expected = amf_string("_checkbw");
    expected.extend(amf_number(3.0));
    expected.push(0x05);
    assert_eq!(body(&checkbw), expected, "_checkbw 3 null");
    assert_eq!((object, args), (Amf0Value::Null, vec![]));
    assert!(
        server
            .received
            .iter()
            .all(|m| !matches!(m, Message::Command { .. }))
    );

    // _onbwcheck (with the server's payload) -> _result with the same txn and a counter.
    for (i, server_txn) in [(0.0, 11.0), (1.0, 12.0)] {
        let check = command(
            "_onbwcheck",
            server_txn,
            vec![Amf0Value::String("x".repeat(64))],
        );
        server.send(3, &check, 0, 0);
        server.deliver(&mut client).unwrap();
        server.receive(&mut client);
        let (name, txn, _, args, _) = server.next_command();
        let answer = command(&name, txn, args);
        let mut expected = amf_string("_result");
        expected.extend(amf_number(server_txn));
        expected.push(0x05);
        expected.extend(amf_number(i));
        assert_eq!(body(&answer), expected);
    }
    // _onbwdone (latency, bandwidth) needs nothing, and nothing reaches the caller.
    let done = command(
        "_onbwdone",
        0.0,
        vec![Amf0Value::Number(5.0), Amf0Value::Number(9000.0)],
    );
    server.send(3, &done, 0, 0);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    assert!(
        server
            .received
            .iter()
            .all(|m| !matches!(m, Message::Command { .. }))
    );
    assert_eq!(events(&mut client), vec![]);
    assert_eq!(client.state(), SessionState::Playing);
}

#[test]
fn a_second_stream_plays_beside_the_first_and_takes_over() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    server.received.clear();

    client.play_another("key_sd").unwrap();
    server.receive(&mut client);
    let (name, txn, ..) = server.next_command();
    assert_eq!(name, "createStream");
    server.result(txn, vec![Amf0Value::Number(2.0)]);
    server.deliver(&mut client).unwrap();
    assert_eq!(events(&mut client), vec![SessionEvent::ExtraStream(Ok(2))]);
    server.receive(&mut client);
    let (name, _, _, args, stream_id) = server.next_command();
    assert_eq!((name.as_str(), stream_id), ("play", 2));
    assert_eq!(args[0], Amf0Value::String("key_sd".into()));
    assert!(
        server
            .received
            .contains(&Message::UserControl(UserControlEvent::SetBufferLength {
                stream_id: 2,
                buffer_ms: 1000
            }))
    );

    // Both streams flow; the second one's events come wrapped.
    server.on_status(2, "status", "NetStream.Play.Start");
    server.deliver(&mut client).unwrap();
    media(&mut client, &mut server, 1, 100);
    media(&mut client, &mut server, 2, 5000);
    let got = events(&mut client);
    let wrapped = |event| SessionEvent::OnStream {
        stream_id: 2,
        event: Box::new(event),
    };
    assert_eq!(got[0], wrapped(SessionEvent::PlayStarted));
    assert!(matches!(
        &got[1],
        SessionEvent::Media { timestamp: 100, .. }
    ));
    assert!(
        matches!(&got[2], SessionEvent::OnStream { stream_id: 2, event } if matches!(**event, SessionEvent::Media { timestamp: 5000, .. }))
    );
    // A failure of the second stream is not the session's.
    server.on_status(2, "error", "NetStream.Play.Failed");
    server.deliver(&mut client).unwrap();
    assert!(
        matches!(&events(&mut client)[0], SessionEvent::OnStream { event, .. } if matches!(&**event, SessionEvent::Status(s) if s.code == "NetStream.Play.Failed"))
    );

    // Cut over: stream 2 is the main one, stream 1 is closed and deleted, and what it still
    // sends is dropped.
    assert_eq!(client.promote(2), Ok(1));
    assert_eq!(client.stream_id(), 2);
    client.delete_stream(1).unwrap();
    server.receive(&mut client);
    let (name, _, _, _, stream_id) = server.next_command();
    assert_eq!((name.as_str(), stream_id), ("closeStream", 1));
    let (name, _, _, args, _) = server.next_command();
    assert_eq!(name, "deleteStream");
    assert_eq!(args, vec![Amf0Value::Number(1.0)]);
    media(&mut client, &mut server, 1, 133);
    media(&mut client, &mut server, 2, 5033);
    server.on_status(1, "status", "NetStream.Play.Stop");
    server.deliver(&mut client).unwrap();
    assert_eq!(
        events(&mut client),
        vec![SessionEvent::Media {
            kind: MediaKind::Video,
            timestamp: 5033,
            payload: Bytes::from(vec![0x17, 1, 0, 0, 0, 2]),
        }]
    );
    assert_eq!(client.state(), SessionState::Playing);
    // The main stream cannot be deleted.
    assert!(client.delete_stream(2).is_err());
}

#[test]
fn a_server_that_repeats_the_stream_id_is_told_apart() {
    // nginx-rtmp answers every createStream with 1.
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    server.received.clear();
    client.play_another("key_sd").unwrap();
    server.receive(&mut client);
    let (_, txn, ..) = server.next_command();
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(&mut client).unwrap();
    let got = events(&mut client);
    assert!(
        matches!(&got[..], [SessionEvent::ExtraStream(Err(why))] if why.contains("one stream per connection")),
        "{got:?}"
    );
    server.receive(&mut client);
    assert!(
        server
            .received
            .iter()
            .all(|m| !matches!(m, Message::Command { .. })),
        "no play on the stream in use"
    );
    media(&mut client, &mut server, 1, 100);
    assert!(matches!(
        &events(&mut client)[..],
        [SessionEvent::Media { .. }]
    ));
}

#[test]
fn play2_asks_for_a_switch_on_the_played_stream() {
    let mut client = ClientSession::new(play_config(), 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    start_playing(&mut client, &mut server);
    server.received.clear();
    client
        .play2(&Play2 {
            stream_name: "key_sd".into(),
            old_stream_name: "key".into(),
            transition: "switch".into(),
        })
        .unwrap();
    server.receive(&mut client);
    let (name, txn, object, args, stream_id) = server.next_command();
    assert_eq!((name.as_str(), txn, stream_id), ("play2", 0.0, 1));
    assert_eq!(object, Amf0Value::Null);
    let options = &args[0];
    let text = |k| options.get(k).and_then(Amf0Value::as_str);
    assert_eq!(text("streamName"), Some("key_sd"));
    assert_eq!(text("oldStreamName"), Some("key"));
    assert_eq!(text("transition"), Some("switch"));
    assert_eq!(
        options.get("start").and_then(Amf0Value::as_number),
        Some(-2.0)
    );
    // FMS: Play.Transition on the stream, media goes on there.
    server.on_status(1, "status", "NetStream.Play.Transition");
    server.deliver(&mut client).unwrap();
    media(&mut client, &mut server, 1, 200);
    let got = events(&mut client);
    assert!(matches!(&got[0], SessionEvent::Status(s) if s.code == "NetStream.Play.Transition"));
    assert!(matches!(
        &got[1],
        SessionEvent::Media { timestamp: 200, .. }
    ));
}

#[test]
fn a_deferred_play_waits_after_create_stream_until_named() {
    let mut config = play_config();
    config.defer_play = true;
    let mut client = ClientSession::new(config, 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    let txn = connect(&mut client, &mut server);
    server.result(txn, vec![Amf0Value::Number(1.0)]);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    assert!(
        server
            .received
            .iter()
            .all(|m| !matches!(m, Message::Command { name, .. } if name == "play")),
        "no play before it is named"
    );
    assert_eq!(client.state(), SessionState::StartingStream);
    client.play_deferred("key_sd").unwrap();
    server.receive(&mut client);
    let (name, _, _, args, stream_id) = server.next_command();
    assert_eq!((name.as_str(), stream_id), ("play", 1));
    assert_eq!(args[0], Amf0Value::String("key_sd".into()));
    server.on_status(1, "status", "NetStream.Play.Start");
    server.deliver(&mut client).unwrap();
    assert_eq!(events(&mut client), vec![SessionEvent::PlayStarted]);
    assert!(client.play_deferred("again").is_err());
}
