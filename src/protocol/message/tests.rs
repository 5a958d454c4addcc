use bytes::BytesMut;

use super::*;
use crate::protocol::chunk::ChunkReader;
use crate::protocol::chunk::testdata::{FFMPEG_CLIENT_STREAM, NGINX_SERVER_STREAM, hex};

fn raw(type_id: u8, timestamp: u32, stream_id: u32, payload: &[u8]) -> RawMessage {
    RawMessage {
        type_id,
        timestamp,
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Reads a captured stream, applying Set Chunk Size as a session would.
fn read_capture(stream: &str) -> Vec<RawMessage> {
    let mut reader = ChunkReader::new();
    let mut input = BytesMut::from(&hex(stream)[..]);
    let mut out = Vec::new();
    while let Some(m) = reader.read(&mut input).unwrap() {
        if m.type_id == type_id::SET_CHUNK_SIZE {
            let Ok(Message::SetChunkSize(size)) = Message::parse(m.clone()) else {
                panic!("bad Set Chunk Size")
            };
            reader.set_chunk_size(size).unwrap();
        }
        out.push(m);
    }
    assert!(input.is_empty());
    out
}

// --- Protocol control and user control messages ---

/// Each control message with its exact encoding (RTMP 1.0, 5.4 and 7.1.7).
#[test]
fn control_messages_round_trip() {
    let cases = [
        (Message::SetChunkSize(4096), 1, "00001000"),
        (Message::Abort(5), 2, "00000005"),
        (Message::Acknowledgement(0x0102_0304), 3, "01020304"),
        (Message::WindowAckSize(2_500_000), 5, "002625a0"),
        (
            Message::SetPeerBandwidth {
                size: 5_000_000,
                limit: PeerBandwidthLimit::Hard,
            },
            6,
            "004c4b40 00",
        ),
        (
            Message::SetPeerBandwidth {
                size: 1,
                limit: PeerBandwidthLimit::Soft,
            },
            6,
            "00000001 01",
        ),
        (
            Message::SetPeerBandwidth {
                size: 2,
                limit: PeerBandwidthLimit::Dynamic,
            },
            6,
            "00000002 02",
        ),
        (
            Message::UserControl(UserControlEvent::StreamBegin(1)),
            4,
            "0000 00000001",
        ),
        (
            Message::UserControl(UserControlEvent::StreamEof(1)),
            4,
            "0001 00000001",
        ),
        (
            Message::UserControl(UserControlEvent::StreamDry(2)),
            4,
            "0002 00000002",
        ),
        (
            Message::UserControl(UserControlEvent::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            }),
            4,
            "0003 00000001 00000bb8",
        ),
        (
            Message::UserControl(UserControlEvent::StreamIsRecorded(1)),
            4,
            "0004 00000001",
        ),
        (
            Message::UserControl(UserControlEvent::PingRequest(0xDEAD_BEEF)),
            4,
            "0006 deadbeef",
        ),
        (
            Message::UserControl(UserControlEvent::PingResponse(7)),
            4,
            "0007 00000007",
        ),
        (
            Message::UserControl(UserControlEvent::Other {
                event_type: 31,
                value: 1,
            }),
            4,
            "001f 00000001",
        ),
    ];
    for (message, type_id, bytes) in cases {
        let encoded = message.to_raw(0, 0);
        assert_eq!(encoded, raw(type_id, 0, 0, &hex(bytes)), "{message:?}");
        assert_eq!(Message::parse(encoded), Ok(message));
    }
}

#[test]
fn to_raw_takes_control_timestamp_and_stream_from_arguments() {
    let m = Message::Acknowledgement(1).to_raw(77, 3);
    assert_eq!((m.timestamp, m.stream_id), (77, 3));
}

#[test]
fn short_control_messages_are_errors() {
    for (type_id, bytes) in [
        (1, "000010"),
        (2, ""),
        (3, "01"),
        (5, "000000"),
        (6, "00000001"),
        (4, "00"),
    ] {
        assert_eq!(
            Message::parse(raw(type_id, 0, 0, &hex(bytes))),
            Err(MessageError::TooShort {
                type_id,
                len: bytes.len() / 2
            }),
            "type {type_id}"
        );
    }
    for bytes in ["0000 000001", "0003 00000001 000001", "0006", "0007 00"] {
        let len = hex(bytes).len();
        assert_eq!(
            Message::parse(raw(4, 0, 0, &hex(bytes))),
            Err(MessageError::TooShort { type_id: 4, len }),
            "{bytes}"
        );
    }
}

#[test]
fn user_control_other_events_keep_up_to_four_data_bytes() {
    let parse = |bytes: &str| Message::parse(raw(4, 0, 0, &hex(bytes))).unwrap();
    // 26/27: SWF verification, 32: BufferReady (Wowza/FMS), 5: unused by the spec.
    assert_eq!(
        parse("001a"),
        Message::UserControl(UserControlEvent::Other {
            event_type: 26,
            value: 0
        })
    );
    assert_eq!(
        parse("0020 0102"),
        Message::UserControl(UserControlEvent::Other {
            event_type: 32,
            value: 0x0102
        })
    );
    assert_eq!(
        parse("0005 01020304 05"),
        Message::UserControl(UserControlEvent::Other {
            event_type: 5,
            value: 0x0102_0304
        })
    );
}

#[test]
fn trailing_bytes_after_control_fields_are_ignored() {
    assert_eq!(
        Message::parse(raw(5, 0, 0, &hex("00001000 ff"))),
        Ok(Message::WindowAckSize(4096))
    );
}

#[test]
fn unknown_peer_bandwidth_limit_is_kept_as_other() {
    let r = raw(6, 0, 0, &hex("00001000 03"));
    assert_eq!(Message::parse(r.clone()), Ok(Message::Other(r)));
}

#[test]
fn audio_and_video_keep_their_payload_and_header_fields() {
    let a = raw(8, 1234, 1, &hex("af 01 21"));
    let parsed = Message::parse(a.clone()).unwrap();
    assert_eq!(
        parsed,
        Message::Audio {
            timestamp: 1234,
            stream_id: 1,
            payload: a.payload.clone()
        }
    );
    // Their own timestamp and stream id win over the arguments.
    assert_eq!(parsed.to_raw(0, 0), a);
    let v = raw(9, 99, 2, &hex("17 01 000000"));
    let parsed = Message::parse(v.clone()).unwrap();
    assert_eq!(
        parsed,
        Message::Video {
            timestamp: 99,
            stream_id: 2,
            payload: v.payload.clone()
        }
    );
    assert_eq!(parsed.to_raw(5, 5), v);
    // Empty media messages are valid (an empty audio message ends a stream for some players).
    assert!(matches!(
        Message::parse(raw(8, 0, 1, &[])),
        Ok(Message::Audio { .. })
    ));
}

#[test]
fn shared_objects_aggregates_and_unknown_types_are_other() {
    for type_id in [16, 19, 22, 7, 10, 23, 255] {
        let r = raw(type_id, 5, 1, &[1, 2, 3]);
        let parsed = Message::parse(r.clone()).unwrap();
        assert_eq!(parsed, Message::Other(r.clone()));
        assert_eq!(parsed.to_raw(0, 0), r);
    }
}

#[test]
fn capture_nginx_control_messages() {
    let msgs = read_capture(NGINX_SERVER_STREAM);
    let control: Vec<_> = msgs[..3]
        .iter()
        .map(|m| Message::parse(m.clone()).unwrap())
        .collect();
    assert_eq!(
        control,
        [
            Message::WindowAckSize(5_000_000),
            Message::SetPeerBandwidth {
                size: 5_000_000,
                limit: PeerBandwidthLimit::Dynamic
            },
            Message::SetChunkSize(4096),
        ]
    );
    assert!(msgs[3..].iter().all(|m| m.type_id == type_id::COMMAND_AMF0));
}

// --- Aggregate messages ---

/// Builds an FLV tag as found in an aggregate body.
fn tag(type_id: u8, timestamp: u32, body: &[u8]) -> Vec<u8> {
    let mut t = vec![type_id];
    t.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    t.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    t.push((timestamp >> 24) as u8);
    t.extend_from_slice(&[0, 0, 0]);
    t.extend_from_slice(body);
    t.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    t
}

#[test]
fn aggregate_is_split_and_rebased() {
    let body = [
        tag(9, 5000, &[0x17, 1]),
        tag(8, 5020, &[0xAF]),
        tag(9, 5040, &[]),
    ]
    .concat();
    let agg = raw(22, 100, 1, &body);
    let subs = split_aggregate(&agg).unwrap();
    assert_eq!(
        subs,
        [
            raw(9, 100, 1, &[0x17, 1]),
            raw(8, 120, 1, &[0xAF]),
            raw(9, 140, 1, &[])
        ]
    );
    // Bodies point into the aggregate's payload.
    assert_eq!(
        subs[0].payload.as_ptr() as usize,
        agg.payload.as_ptr() as usize + 11
    );
    assert_eq!(
        subs[1].payload.as_ptr() as usize,
        agg.payload.as_ptr() as usize + 28
    );
}

#[test]
fn aggregate_timestamps_use_the_extension_byte_and_wrap() {
    let body = [tag(9, 0x0100_0000, &[1]), tag(9, 0x0100_0010, &[2])].concat();
    let subs = split_aggregate(&raw(22, 0xFFFF_FFF8, 1, &body)).unwrap();
    assert_eq!((subs[0].timestamp, subs[1].timestamp), (0xFFFF_FFF8, 8));
}

#[test]
fn empty_aggregate_has_no_sub_messages() {
    assert_eq!(split_aggregate(&raw(22, 0, 1, &[])), Ok(vec![]));
}

#[test]
fn malformed_aggregates_are_errors() {
    let good = tag(9, 0, &[1, 2, 3]);
    let mut too_big = good.clone();
    too_big[3] = 4; // size 4 with 3 body bytes: the back pointer runs past the end
    let cases = [
        good[..good.len() - 1].to_vec(),  // back pointer cut short
        good[..10].to_vec(),              // header cut short
        [&good[..], &[9, 0, 0]].concat(), // trailing partial header
        too_big,
        hex("09 ffffff 000000 00 000000"), // size far beyond the payload
    ];
    for body in cases {
        assert_eq!(
            split_aggregate(&raw(22, 0, 1, &body)),
            Err(MessageError::MalformedAggregate),
            "{body:02x?}"
        );
    }
}

/// Tests of command and data messages, which go through the AMF0/AMF3 codecs.
mod amf {
    use super::*;
    use crate::protocol::amf0;
    use crate::protocol::amf3::Amf3Value;

    fn s(v: &str) -> Amf0Value {
        Amf0Value::String(v.into())
    }

    fn obj(props: &[(&str, Amf0Value)]) -> Amf0Value {
        Amf0Value::Object(
            props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn status(code: &str, description: &str) -> Amf0Value {
        obj(&[
            ("level", s("status")),
            ("code", s(code)),
            ("description", s(description)),
        ])
    }

    fn command(
        stream_id: u32,
        name: &str,
        txid: f64,
        object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Message {
        Message::Command {
            stream_id,
            name: name.into(),
            transaction_id: txid,
            command_object: object,
            args,
        }
    }

    #[test]
    fn capture_nginx_command_results() {
        let msgs = read_capture(NGINX_SERVER_STREAM);
        let commands: Vec<_> = msgs[3..]
            .iter()
            .map(|m| Message::parse(m.clone()).unwrap())
            .collect();
        let connect_info = obj(&[
            ("level", s("status")),
            ("code", s("NetConnection.Connect.Success")),
            ("description", s("Connection succeeded.")),
            ("objectEncoding", Amf0Value::Number(0.0)),
        ]);
        assert_eq!(
            commands,
            [
                command(
                    0,
                    "_result",
                    1.0,
                    obj(&[
                        ("fmsVer", s("FMS/3,0,1,123")),
                        ("capabilities", Amf0Value::Number(31.0))
                    ]),
                    vec![connect_info],
                ),
                command(
                    0,
                    "_result",
                    4.0,
                    Amf0Value::Null,
                    vec![Amf0Value::Number(1.0)]
                ),
                command(
                    1,
                    "onStatus",
                    0.0,
                    Amf0Value::Null,
                    vec![status("NetStream.Publish.Start", "Start publishing")]
                ),
                command(
                    1,
                    "onStatus",
                    0.0,
                    Amf0Value::Null,
                    vec![status("NetStream.Unpublish.Success", "Stop publishing")],
                ),
            ]
        );
    }

    #[test]
    fn capture_ffmpeg_commands_and_metadata() {
        let msgs = read_capture(FFMPEG_CLIENT_STREAM);
        let parsed: Vec<_> = msgs
            .iter()
            .map(|m| Message::parse(m.clone()).unwrap())
            .collect();
        let names: Vec<_> = parsed
            .iter()
            .filter_map(|m| match m {
                Message::Command {
                    name,
                    transaction_id,
                    ..
                } => Some((name.as_str(), *transaction_id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                ("connect", 1.0),
                ("releaseStream", 2.0),
                ("FCPublish", 3.0),
                ("createStream", 4.0),
                ("publish", 5.0),
                ("FCUnpublish", 6.0),
                ("deleteStream", 7.0),
            ]
        );
        let Message::Command { command_object, .. } = &parsed[0] else {
            panic!("connect expected")
        };
        assert_eq!(command_object.get("app"), Some(&s("live")));
        assert_eq!(
            command_object.get("tcUrl"),
            Some(&s("rtmp://127.0.0.1:46361/live"))
        );
        let Message::Command {
            stream_id, args, ..
        } = &parsed[5]
        else {
            panic!("publish expected")
        };
        assert_eq!((*stream_id, &args[..]), (1, &[s("test"), s("live")][..]));

        let Message::Data {
            timestamp,
            stream_id,
            values,
            raw,
        } = &parsed[6]
        else {
            panic!("data expected")
        };
        assert_eq!((*timestamp, *stream_id), (0, 1));
        assert_eq!(&values[..2], &[s("@setDataFrame"), s("onMetaData")]);
        assert_eq!(values[2].get("width"), Some(&Amf0Value::Number(160.0)));
        assert_eq!(values[2].get("encoder"), Some(&s("Lavf59.27.100")));
        assert_eq!(raw, &msgs[6].payload);
        assert!(matches!(parsed[7], Message::Video { .. }));
    }

    #[test]
    fn command_round_trip() {
        let cmd = command(
            1,
            "publish",
            5.0,
            Amf0Value::Null,
            vec![s("key"), s("live")],
        );
        let r = cmd.to_raw(0, 1);
        assert_eq!(r.type_id, type_id::COMMAND_AMF0);
        assert_eq!(
            r.payload,
            hex("02 0007 7075626c697368 00 4014000000000000 05 02 0003 6b6579 02 0004 6c697665")
        );
        assert_eq!(Message::parse(r), Ok(cmd));
    }

    #[test]
    fn command_stream_id_comes_from_the_argument() {
        let cmd = command(1, "play", 0.0, Amf0Value::Null, vec![]);
        assert_eq!(cmd.to_raw(0, 7).stream_id, 7);
    }

    /// An AMF3 command (type 17): a 0x00 format byte, then AMF0 values, one of them switched to
    /// AMF3 with the avmplus marker.
    #[test]
    fn amf3_command_with_avmplus_value() {
        let bytes = hex("00 02 0008 6f6e537461747573 00 0000000000000000 05 11 06 05 6869");
        let parsed = Message::parse(raw(17, 0, 1, &bytes)).unwrap();
        assert_eq!(
            parsed,
            command(
                1,
                "onStatus",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::AvmPlus(Amf3Value::String("hi".into()))]
            )
        );
        // Sent back out as AMF0 (type 20).
        assert_eq!(parsed.to_raw(0, 1).type_id, 20);
    }

    #[test]
    fn amf3_command_name_and_transaction_id_may_be_amf3() {
        // Name as an AMF3 string, transaction id as an AMF3 integer.
        let bytes = hex("00 11 06 0f 5f726573756c74 11 04 03 05");
        let parsed = Message::parse(raw(17, 0, 0, &bytes)).unwrap();
        assert_eq!(parsed, command(0, "_result", 3.0, Amf0Value::Null, vec![]));
    }

    #[test]
    fn command_object_may_be_missing() {
        let bytes = [
            &hex("02 0008")[..],
            b"onBWDone",
            &hex("00 0000000000000000"),
        ]
        .concat();
        let parsed = Message::parse(raw(20, 0, 0, &bytes)).unwrap();
        assert_eq!(parsed, command(0, "onBWDone", 0.0, Amf0Value::Null, vec![]));
    }

    #[test]
    fn name_only_command_as_ffmpeg_server_answers_fcpublish() {
        // FFmpeg's rtmpproto.c (listen mode) writes just the string "onFCPublish".
        let bytes = [&hex("02 000b")[..], b"onFCPublish"].concat();
        let parsed = Message::parse(raw(20, 0, 0, &bytes)).unwrap();
        assert_eq!(
            parsed,
            command(0, "onFCPublish", 0.0, Amf0Value::Null, vec![])
        );
    }

    #[test]
    fn malformed_commands() {
        for bytes in [
            "",                         // empty
            "00",                       // AMF3 format byte only (type 17 below)
            "00 3ff0000000000000",      // number where the name should be
            "02 0004 74657374 02 0000", // string where the transaction id should be
        ] {
            let type_id = if bytes == "00" { 17 } else { 20 };
            assert_eq!(
                Message::parse(raw(type_id, 0, 0, &hex(bytes))),
                Err(MessageError::MalformedCommand),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn bad_amf_in_commands_and_data() {
        assert_eq!(
            Message::parse(raw(20, 0, 0, &hex("02 0010 6869"))),
            Err(MessageError::Amf {
                type_id: 20,
                source: AmfError::UnexpectedEnd
            })
        );
        assert_eq!(
            Message::parse(raw(18, 0, 0, &hex("02 0002 6869 ff"))),
            Err(MessageError::Amf {
                type_id: 18,
                source: AmfError::UnknownMarker(0xFF)
            })
        );
    }

    #[test]
    fn data_messages() {
        let amf = hex(
            "02 000a 6f6e4d65746144617461 08 00000001 0005 7769647468 00 4064000000000000 000009",
        );
        let expected_values = vec![
            s("onMetaData"),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(160.0))]),
        ];
        // AMF0 data (type 18).
        let parsed = Message::parse(raw(18, 40, 1, &amf)).unwrap();
        let Message::Data {
            timestamp: 40,
            stream_id: 1,
            values,
            raw: kept,
        } = &parsed
        else {
            panic!("data expected: {parsed:?}")
        };
        assert_eq!((values, &kept[..]), (&expected_values, &amf[..]));
        assert_eq!(parsed.to_raw(0, 0), raw(18, 40, 1, &amf));
        // AMF3 data (type 15): the format byte is not part of `raw`; sent back as type 18.
        let amf3 = [&[0u8][..], &amf].concat();
        let parsed = Message::parse(raw(15, 40, 1, &amf3)).unwrap();
        let Message::Data {
            values, raw: kept, ..
        } = &parsed
        else {
            panic!("data expected")
        };
        assert_eq!((values, &kept[..]), (&expected_values, &amf[..]));
        assert_eq!(parsed.to_raw(0, 0), raw(18, 40, 1, &amf));
        // Built locally: encoded from the values.
        let local = Message::Data {
            timestamp: 0,
            stream_id: 1,
            values: expected_values.clone(),
            raw: Bytes::new(),
        };
        assert_eq!(local.to_raw(9, 9), raw(18, 0, 1, &amf));
        // Empty data messages have no values.
        let parsed = Message::parse(raw(18, 0, 1, &[])).unwrap();
        assert!(matches!(parsed, Message::Data { ref values, .. } if values.is_empty()));
    }

    /// The AMF encoder writes what `to_raw` sends; checks a locally built connect end to end.
    #[test]
    fn connect_command_encodes_its_object() {
        let object = obj(&[("app", s("live")), ("tcUrl", s("rtmp://h/live"))]);
        let cmd = command(0, "connect", 1.0, object.clone(), vec![]);
        let r = cmd.to_raw(0, 0);
        let mut expected = BytesMut::new();
        amf0::encode_all(
            &[s("connect"), Amf0Value::Number(1.0), object],
            &mut expected,
        );
        assert_eq!(r.payload, expected.freeze());
        assert_eq!(Message::parse(r), Ok(cmd));
    }
}

#[test]
fn command_header_decodes_name_and_transaction_whatever_follows() {
    // "_result", 2.0, then an unknown marker: the message does not parse, its header does.
    let mut p = hex("0200075f726573756c74004000000000000000");
    p.push(0xff);
    let bad = raw(type_id::COMMAND_AMF0, 0, 0, &p);
    assert!(Message::parse(bad.clone()).is_err());
    assert_eq!(command_header(&bad), Some(("_result".into(), 2.0)));
    // AMF3 commands start with a format byte; a name alone has transaction id 0.
    let mut amf3 = vec![0];
    amf3.extend_from_slice(&p);
    assert_eq!(
        command_header(&raw(type_id::COMMAND_AMF3, 0, 0, &amf3)),
        Some(("_result".into(), 2.0))
    );
    let name_only = raw(type_id::COMMAND_AMF0, 0, 0, &p[..10]);
    assert_eq!(command_header(&name_only), Some(("_result".into(), 0.0)));
    // Nothing to go on: no name, a name that is not a string, not a command.
    for (type_id, payload) in [
        (type_id::COMMAND_AMF0, &[][..]),
        (type_id::COMMAND_AMF0, &[0xff, 0][..]),
        (type_id::COMMAND_AMF0, &p[10..]),
        (type_id::DATA_AMF0, &p[..]),
    ] {
        assert_eq!(command_header(&raw(type_id, 0, 0, payload)), None);
    }
}
