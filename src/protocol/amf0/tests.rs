use super::test_data::{FFMPEG_ON_METADATA, hex};
use super::*;
use crate::protocol::amf3::Amf3Value;

fn enc(value: &Amf0Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

fn dec(bytes: &[u8]) -> Result<Amf0Value, AmfError> {
    let mut input = bytes;
    let value = decode(&mut input)?;
    assert!(input.is_empty(), "{} bytes left over", input.len());
    Ok(value)
}

fn obj(props: &[(&str, Amf0Value)]) -> Vec<(String, Amf0Value)> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(text: &str) -> Amf0Value {
    Amf0Value::String(text.to_string())
}

/// One value of every type, nested where the type allows it.
fn every_type() -> Vec<Amf0Value> {
    vec![
        Amf0Value::Number(0.0),
        Amf0Value::Number(-1.5e300),
        Amf0Value::Number(f64::INFINITY),
        Amf0Value::Boolean(true),
        Amf0Value::Boolean(false),
        s(""),
        s("héllo ✓"),
        Amf0Value::Object(obj(&[
            ("z", Amf0Value::Null),
            ("a", Amf0Value::Object(vec![])),
            ("m", s("x")),
        ])),
        Amf0Value::Null,
        Amf0Value::Undefined,
        Amf0Value::Reference(0x1234),
        Amf0Value::EcmaArray(obj(&[
            ("0", Amf0Value::Number(1.0)),
            ("", Amf0Value::Boolean(true)),
        ])),
        Amf0Value::EcmaArray(vec![]),
        Amf0Value::StrictArray(vec![
            Amf0Value::Number(1.0),
            s("two"),
            Amf0Value::StrictArray(vec![]),
        ]),
        Amf0Value::Date {
            millis: 1_700_000_000_123.0,
            time_zone: -60,
        },
        Amf0Value::LongString("short but long".to_string()),
        Amf0Value::LongString(String::new()),
        Amf0Value::Unsupported,
        Amf0Value::XmlDocument("<a b=\"c\"/>".to_string()),
        Amf0Value::TypedObject {
            class_name: "org.Foo".to_string(),
            properties: obj(&[("bar", Amf0Value::Undefined)]),
        },
        Amf0Value::AvmPlus(Amf3Value::Object {
            class_name: String::new(),
            properties: vec![
                ("a".to_string(), Amf3Value::Integer(1)),
                ("b".to_string(), Amf3Value::String("c".into())),
            ],
        }),
        Amf0Value::AvmPlus(Amf3Value::Null),
    ]
}

#[test]
fn connect_command_matches_hand_written_bytes() {
    let values = vec![
        s("connect"),
        Amf0Value::Number(1.0),
        Amf0Value::Object(obj(&[
            ("app", s("live")),
            ("type", s("nonprivate")),
            ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("tcUrl", s("rtmp://localhost:1935/live")),
        ])),
    ];
    let mut expected = hex("02 0007");
    expected.extend_from_slice(b"connect");
    expected.extend(hex("00 3ff0000000000000 03 0003"));
    expected.extend_from_slice(b"app");
    expected.extend(hex("02 0004"));
    expected.extend_from_slice(b"live");
    expected.extend(hex("0004"));
    expected.extend_from_slice(b"type");
    expected.extend(hex("02 000a"));
    expected.extend_from_slice(b"nonprivate");
    expected.extend(hex("0008"));
    expected.extend_from_slice(b"flashVer");
    expected.extend(hex("02 001f"));
    expected.extend_from_slice(b"FMLE/3.0 (compatible; FMSc/1.0)");
    expected.extend(hex("0005"));
    expected.extend_from_slice(b"tcUrl");
    expected.extend(hex("02 001a"));
    expected.extend_from_slice(b"rtmp://localhost:1935/live");
    expected.extend(hex("0000 09"));

    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, expected);
    assert_eq!(decode_all(&expected).unwrap(), values);
}

#[test]
fn ffmpeg_on_metadata_decodes_and_reencodes_identically() {
    let body = hex(FFMPEG_ON_METADATA);
    let values = decode_all(&body).unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0].as_str(), Some("onMetaData"));
    let meta = &values[1];
    assert!(matches!(meta, Amf0Value::EcmaArray(_)));
    let keys: Vec<&str> = meta
        .properties()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "duration",
            "width",
            "height",
            "videodatarate",
            "framerate",
            "videocodecid",
            "audiodatarate",
            "audiosamplerate",
            "audiosamplesize",
            "stereo",
            "audiocodecid",
            "encoder",
            "filesize"
        ]
    );
    let num = |k: &str| meta.get(k).and_then(Amf0Value::as_number);
    assert_eq!(num("duration"), Some(2.08));
    assert_eq!(num("width"), Some(320.0));
    assert_eq!(num("height"), Some(240.0));
    assert_eq!(num("framerate"), Some(25.0));
    assert_eq!(num("videocodecid"), Some(7.0)); // AVC
    assert_eq!(num("audiocodecid"), Some(10.0)); // AAC
    assert_eq!(num("audiosamplerate"), Some(44100.0));
    assert_eq!(num("filesize"), Some(32379.0));
    // lavfi `sine` is mono.
    assert_eq!(meta.get("stereo").and_then(Amf0Value::as_bool), Some(false));
    assert_eq!(
        meta.get("encoder").and_then(Amf0Value::as_str),
        Some("Lavf59.27.100")
    );

    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, body);
}

#[test]
fn every_type_round_trips() {
    for value in every_type() {
        let bytes = enc(&value);
        assert_eq!(dec(&bytes).unwrap(), value, "bytes {bytes:02x?}");
    }
    let all = every_type();
    let mut out = Vec::new();
    encode_all(&all, &mut out);
    assert_eq!(decode_all(&out).unwrap(), all);
}

#[test]
fn scalar_encodings_match_the_spec() {
    assert_eq!(enc(&Amf0Value::Number(1.0)), hex("00 3ff0000000000000"));
    assert_eq!(enc(&Amf0Value::Boolean(true)), hex("01 01"));
    assert_eq!(enc(&Amf0Value::Null), hex("05"));
    assert_eq!(enc(&Amf0Value::Undefined), hex("06"));
    assert_eq!(enc(&Amf0Value::Reference(2)), hex("07 0002"));
    assert_eq!(enc(&Amf0Value::Unsupported), hex("0d"));
    assert_eq!(
        enc(&Amf0Value::Date {
            millis: 1.0,
            time_zone: 0
        }),
        hex("0b 3ff0000000000000 0000")
    );
    assert_eq!(
        enc(&Amf0Value::LongString("ab".into())),
        hex("0c 00000002 6162")
    );
    assert_eq!(
        enc(&Amf0Value::XmlDocument("ab".into())),
        hex("0f 00000002 6162")
    );
    assert_eq!(
        enc(&Amf0Value::EcmaArray(obj(&[("a", Amf0Value::Null)]))),
        hex("08 00000001 0001 61 05 0000 09")
    );
    assert_eq!(
        enc(&Amf0Value::StrictArray(vec![
            Amf0Value::Null,
            Amf0Value::Undefined
        ])),
        hex("0a 00000002 05 06")
    );
    assert_eq!(
        enc(&Amf0Value::TypedObject {
            class_name: "C".into(),
            properties: vec![]
        }),
        hex("10 0001 43 0000 09")
    );
    assert_eq!(
        enc(&Amf0Value::AvmPlus(Amf3Value::Integer(5))),
        hex("11 04 05")
    );
    // Any non-zero byte is true.
    assert_eq!(dec(&hex("01 02")).unwrap(), Amf0Value::Boolean(true));
}

#[test]
fn string_picks_short_or_long_form_by_length() {
    let short = "a".repeat(65535);
    let bytes = enc(&Amf0Value::String(short.clone()));
    assert_eq!(&bytes[..3], &hex("02 ffff")[..]);
    assert_eq!(bytes.len(), 3 + 65535);
    assert_eq!(dec(&bytes).unwrap(), Amf0Value::String(short));

    let long = "a".repeat(65536);
    let bytes = enc(&Amf0Value::String(long.clone()));
    assert_eq!(&bytes[..5], &hex("0c 00010000")[..]);
    assert_eq!(bytes.len(), 5 + 65536);
    // A long string on the wire comes back as LongString; as_str reads both.
    let back = dec(&bytes).unwrap();
    assert_eq!(back, Amf0Value::LongString(long.clone()));
    assert_eq!(back.as_str(), Some(long.as_str()));
}

#[test]
fn over_long_names_are_cut_on_a_character_boundary() {
    // 'é' is two bytes: 32768 of them are 65536 bytes, one more than a name can hold.
    let name = "é".repeat(32768);
    let bytes = enc(&Amf0Value::Object(vec![(name, Amf0Value::Null)]));
    let back = dec(&bytes).unwrap();
    let props = back.properties().unwrap();
    assert_eq!(props[0].0, "é".repeat(32767));
}

#[test]
fn accessors() {
    assert_eq!(s("x").as_str(), Some("x"));
    assert_eq!(Amf0Value::LongString("y".into()).as_str(), Some("y"));
    assert_eq!(Amf0Value::XmlDocument("z".into()).as_str(), None);
    assert_eq!(Amf0Value::Number(1.0).as_str(), None);
    assert_eq!(Amf0Value::Number(2.5).as_number(), Some(2.5));
    assert_eq!(s("2.5").as_number(), None);
    assert_eq!(Amf0Value::Boolean(false).as_bool(), Some(false));
    assert_eq!(Amf0Value::Number(0.0).as_bool(), None);

    let props = obj(&[
        ("k", Amf0Value::Number(1.0)),
        ("k", Amf0Value::Number(2.0)),
        ("j", Amf0Value::Null),
    ]);
    for value in [
        Amf0Value::Object(props.clone()),
        Amf0Value::EcmaArray(props.clone()),
        Amf0Value::TypedObject {
            class_name: "C".into(),
            properties: props.clone(),
        },
    ] {
        assert_eq!(value.properties(), Some(&props[..]));
        // The first of duplicate names wins.
        assert_eq!(value.get("k"), Some(&Amf0Value::Number(1.0)));
        assert_eq!(value.get("j"), Some(&Amf0Value::Null));
        assert_eq!(value.get("missing"), None);
    }
    assert_eq!(Amf0Value::StrictArray(vec![]).properties(), None);
    assert_eq!(Amf0Value::Null.get("k"), None);
}

#[test]
fn property_order_is_kept() {
    let bytes = hex("03 0001 7a 05  0001 61 05  0001 6d 05  0000 09");
    let value = dec(&bytes).unwrap();
    let keys: Vec<&str> = value
        .properties()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["z", "a", "m"]);
    assert_eq!(enc(&value), bytes);
}

#[test]
fn ecma_array_count_is_only_a_hint() {
    // Declares 0 but holds two properties.
    let value = dec(&hex("08 00000000 0001 61 05 0001 62 06 0000 09")).unwrap();
    assert_eq!(
        value,
        Amf0Value::EcmaArray(obj(&[("a", Amf0Value::Null), ("b", Amf0Value::Undefined)]))
    );
    // Declares four billion and holds none: nothing is allocated for the count.
    assert_eq!(
        dec(&hex("08 ffffffff 0000 09")).unwrap(),
        Amf0Value::EcmaArray(vec![])
    );
    // The end marker is required: the count alone does not end the array.
    assert_eq!(
        dec(&hex("08 00000001 0001 61 05")),
        Err(AmfError::UnexpectedEnd)
    );
}

#[test]
fn empty_name_without_end_marker_is_a_property() {
    let value = dec(&hex("03 0000 05 0000 09")).unwrap();
    assert_eq!(value, Amf0Value::Object(obj(&[("", Amf0Value::Null)])));
}

#[test]
fn every_truncation_is_an_error() {
    let mut samples: Vec<Vec<u8>> = every_type().iter().map(enc).collect();
    samples.push(hex(FFMPEG_ON_METADATA)[13..].to_vec()); // the ECMA array alone
    for bytes in samples {
        for len in 0..bytes.len() {
            let mut input = &bytes[..len];
            assert_eq!(
                decode(&mut input),
                Err(AmfError::UnexpectedEnd),
                "prefix {len} of {bytes:02x?}"
            );
        }
    }
    // decode_all stops at the first incomplete value too.
    let body = hex(FFMPEG_ON_METADATA);
    // Byte 13 ends the first value ("onMetaData"), so that prefix is complete.
    for len in (1..body.len()).filter(|&len| len != 13) {
        assert!(decode_all(&body[..len]).is_err(), "prefix {len}");
    }
}

#[test]
fn nesting_limit() {
    fn nested_objects(levels: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..levels {
            bytes.extend(hex("03 0001 61"));
        }
        bytes.push(NULL);
        for _ in 0..levels {
            bytes.extend(hex("0000 09"));
        }
        bytes
    }
    assert!(dec(&nested_objects(MAX_NESTING_DEPTH)).is_ok());
    assert_eq!(
        dec(&nested_objects(MAX_NESTING_DEPTH + 1)),
        Err(AmfError::TooDeep)
    );

    // The AMF3 part of an avmplus value counts the AMF0 containers around it.
    let mut bytes = Vec::new();
    for _ in 0..MAX_NESTING_DEPTH {
        bytes.extend(hex("0a 00000001"));
    }
    bytes.extend(hex("11 09 01 01")); // an empty AMF3 array, one level too deep
    assert_eq!(dec(&bytes), Err(AmfError::TooDeep));
    let mut ok = hex("11 09 01 01");
    for _ in 0..MAX_NESTING_DEPTH - 1 {
        let mut outer = hex("0a 00000001");
        outer.extend(ok);
        ok = outer;
    }
    assert!(dec(&ok).is_ok());
}

#[test]
fn depth_bombs_fail_without_recursing() {
    // A million levels of each container: deep enough to overflow the stack if followed.
    for level in [
        "03 0001 61",
        "08 00000001 0001 61",
        "0a 00000001",
        "10 0000 0001 61",
    ] {
        let bomb = hex(level).repeat(1_000_000);
        let mut input = &bomb[..];
        assert_eq!(decode(&mut input), Err(AmfError::TooDeep), "{level}");
    }
}

#[test]
fn huge_declared_lengths_with_little_data() {
    for bytes in [
        "02 ffff 6162",
        "0c ffffffff 6162",
        "0f ffffffff 6162",
        "0a ffffffff 05 05",
        "10 ffff 61",
        "03 ffff 61",
        "08 ffffffff ffff 61",
    ] {
        assert_eq!(dec(&hex(bytes)), Err(AmfError::UnexpectedEnd), "{bytes}");
    }
}

#[test]
fn bad_input() {
    for marker in [0x04, 0x09, 0x0e, 0x12, 0xff] {
        assert_eq!(dec(&[marker]), Err(AmfError::UnknownMarker(marker)));
    }
    assert_eq!(dec(&hex("02 0002 c328")), Err(AmfError::InvalidUtf8));
    assert_eq!(
        dec(&hex("03 0001 ff 05 0000 09")),
        Err(AmfError::InvalidUtf8)
    );
    assert_eq!(dec(&hex("0c 00000001 80")), Err(AmfError::InvalidUtf8));
    assert_eq!(dec(&hex("11 12")), Err(AmfError::UnknownAmf3Marker(0x12)));
    assert_eq!(
        decode_all(&hex("05 05 04")),
        Err(AmfError::UnknownMarker(0x04))
    );
}

#[test]
fn decode_advances_past_one_value() {
    let bytes = hex("01 00 05 02 0001 61");
    let mut input = &bytes[..];
    assert_eq!(decode(&mut input), Ok(Amf0Value::Boolean(false)));
    assert_eq!(input, &hex("05 02 0001 61")[..]);
    assert_eq!(
        decode_all(&bytes).unwrap(),
        vec![Amf0Value::Boolean(false), Amf0Value::Null, s("a")]
    );
    assert_eq!(decode_all(&[]).unwrap(), vec![]);
}

#[test]
fn held_bytes_follows_what_values_own() {
    let base = std::mem::size_of::<Amf0Value>();
    assert_eq!(Amf0Value::Null.held_bytes(), base);
    assert_eq!(
        Amf0Value::String("x".repeat(100_000)).held_bytes(),
        base + 100_000
    );
    // Containers count their entries, keys and children, to any depth.
    let text = Amf0Value::String("y".repeat(1000));
    let object = Amf0Value::Object(vec![("key".into(), text.clone())]);
    assert!(object.held_bytes() > text.held_bytes() + 3);
    let nested = Amf0Value::StrictArray(vec![object.clone(), object.clone()]);
    assert!(nested.held_bytes() > 2 * object.held_bytes());
    // AMF3 values inside count too (references can make them larger than their encoding).
    let amf3 = Amf0Value::AvmPlus(Amf3Value::Array {
        assoc: vec![],
        dense: vec![Amf3Value::ByteArray(vec![0; 5000]); 4],
    });
    assert!(amf3.held_bytes() > 20_000);
    let vector = Amf3Value::VectorDouble(vec![0.0; 1000]);
    assert!(vector.held_bytes() >= 8000);
}
