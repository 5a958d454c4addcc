use super::*;
use crate::protocol::amf0::MAX_NESTING_DEPTH;
use crate::protocol::amf0::test_data::hex;

fn enc(value: &Amf3Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

fn dec(bytes: &[u8]) -> Result<Amf3Value, AmfError> {
    let mut input = bytes;
    let value = decode(&mut input)?;
    assert!(input.is_empty(), "{} bytes left over", input.len());
    Ok(value)
}

fn s(text: &str) -> Amf3Value {
    Amf3Value::String(text.to_string())
}

fn object(class_name: &str, props: &[(&str, Amf3Value)]) -> Amf3Value {
    Amf3Value::Object {
        class_name: class_name.to_string(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

fn dense(items: Vec<Amf3Value>) -> Amf3Value {
    Amf3Value::Array {
        assoc: vec![],
        dense: items,
    }
}

fn every_type() -> Vec<Amf3Value> {
    vec![
        Amf3Value::Undefined,
        Amf3Value::Null,
        Amf3Value::Boolean(false),
        Amf3Value::Boolean(true),
        Amf3Value::Integer(0),
        Amf3Value::Integer(-1),
        Amf3Value::Integer((1 << 28) - 1),
        Amf3Value::Integer(-(1 << 28)),
        Amf3Value::Double(3.25),
        Amf3Value::Double(f64::NEG_INFINITY),
        s(""),
        s("héllo"),
        Amf3Value::XmlDocument("<a/>".into()),
        Amf3Value::Date(1_700_000_000_000.0),
        Amf3Value::Array {
            assoc: vec![("k".into(), s("v")), ("n".into(), Amf3Value::Null)],
            dense: vec![Amf3Value::Integer(1), dense(vec![]), s("x")],
        },
        dense(vec![]),
        object(
            "",
            &[
                ("a", Amf3Value::Integer(1)),
                ("b", object("", &[("c", s("d"))])),
            ],
        ),
        object("org.Foo", &[("x", Amf3Value::Double(1.5))]),
        object("", &[]),
        Amf3Value::Xml("<b/>".into()),
        Amf3Value::ByteArray(vec![0, 1, 0xff]),
        Amf3Value::ByteArray(vec![]),
        Amf3Value::VectorInt(vec![1, -1, i32::MIN]),
        Amf3Value::VectorUint(vec![0, u32::MAX]),
        Amf3Value::VectorDouble(vec![0.5, -2.0]),
        Amf3Value::VectorObject {
            type_name: "Foo".into(),
            items: vec![Amf3Value::Null, object("", &[])],
        },
        Amf3Value::Dictionary(vec![
            (s("k"), Amf3Value::Integer(7)),
            (Amf3Value::Integer(1), dense(vec![])),
        ]),
    ]
}

#[test]
fn u29_integers_match_the_spec() {
    for (value, bytes) in [
        (0, "00"),
        (127, "7f"),
        (128, "81 00"),
        (16383, "ff 7f"),
        (16384, "81 80 00"),
        (2_097_151, "ff ff 7f"),
        (2_097_152, "80 c0 80 00"),
        (268_435_455, "bf ff ff ff"),
        (-1, "ff ff ff ff"),
        (-268_435_456, "c0 80 80 00"),
    ] {
        let mut expected = vec![INTEGER];
        expected.extend(hex(bytes));
        assert_eq!(enc(&Amf3Value::Integer(value)), expected, "{value}");
        assert_eq!(dec(&expected), Ok(Amf3Value::Integer(value)), "{value}");
    }
}

#[test]
fn integers_outside_29_bits_are_sent_as_doubles() {
    assert_eq!(
        enc(&Amf3Value::Integer(1 << 28)),
        hex("05 41b0000000000000")
    );
    assert_eq!(
        dec(&enc(&Amf3Value::Integer(i32::MIN))),
        Ok(Amf3Value::Double(f64::from(i32::MIN)))
    );
}

#[test]
fn encodings_match_the_spec() {
    assert_eq!(enc(&Amf3Value::Undefined), hex("00"));
    assert_eq!(enc(&Amf3Value::Null), hex("01"));
    assert_eq!(enc(&Amf3Value::Boolean(false)), hex("02"));
    assert_eq!(enc(&Amf3Value::Boolean(true)), hex("03"));
    assert_eq!(enc(&Amf3Value::Double(1.0)), hex("05 3ff0000000000000"));
    assert_eq!(enc(&s("hello")), hex("06 0b 68656c6c6f"));
    assert_eq!(enc(&s("")), hex("06 01"));
    assert_eq!(
        enc(&Amf3Value::XmlDocument("abc".into())),
        hex("07 07 616263")
    );
    assert_eq!(enc(&Amf3Value::Date(1.0)), hex("08 01 3ff0000000000000"));
    assert_eq!(
        enc(&Amf3Value::Array {
            assoc: vec![("a".into(), Amf3Value::Null)],
            dense: vec![Amf3Value::Boolean(true)]
        }),
        hex("09 03 03 61 01 01 03")
    );
    // Inline object, inline traits, dynamic, no sealed members; anonymous.
    assert_eq!(
        enc(&object("", &[("a", Amf3Value::Integer(1))])),
        hex("0a 0b 01 03 61 04 01 01")
    );
    assert_eq!(enc(&Amf3Value::Xml("abc".into())), hex("0b 07 616263"));
    assert_eq!(
        enc(&Amf3Value::ByteArray(vec![1, 2, 3])),
        hex("0c 07 010203")
    );
    assert_eq!(
        enc(&Amf3Value::VectorInt(vec![1, -1])),
        hex("0d 05 00 00000001 ffffffff")
    );
    assert_eq!(
        enc(&Amf3Value::VectorUint(vec![u32::MAX])),
        hex("0e 03 00 ffffffff")
    );
    assert_eq!(
        enc(&Amf3Value::VectorDouble(vec![1.0])),
        hex("0f 03 00 3ff0000000000000")
    );
    assert_eq!(
        enc(&Amf3Value::VectorObject {
            type_name: String::new(),
            items: vec![Amf3Value::Integer(1), s("a")]
        }),
        hex("10 05 00 01 04 01 06 03 61")
    );
    assert_eq!(
        enc(&Amf3Value::Dictionary(vec![(
            s("k"),
            Amf3Value::Integer(7)
        )])),
        hex("11 03 00 06 03 6b 04 07")
    );
}

#[test]
fn every_type_round_trips() {
    for value in every_type() {
        let bytes = enc(&value);
        assert_eq!(dec(&bytes), Ok(value), "bytes {bytes:02x?}");
    }
    let all = dense(every_type());
    assert_eq!(dec(&enc(&all)), Ok(all));
}

#[test]
fn string_references() {
    // ["hello", <string 0>]
    assert_eq!(
        dec(&hex("09 05 01 06 0b 68656c6c6f 06 00")),
        Ok(dense(vec![s("hello"), s("hello")]))
    );
    // The empty string never enters the table: reference 0 is "hello".
    assert_eq!(
        dec(&hex("09 07 01 06 01 06 0b 68656c6c6f 06 00")),
        Ok(dense(vec![s(""), s("hello"), s("hello")]))
    );
    // Member names share the table with string values.
    assert_eq!(
        dec(&hex("09 05 01 0a 0b 01 03 61 06 00 01 06 00")),
        Ok(dense(vec![object("", &[("a", s("a"))]), s("a")]))
    );
}

#[test]
fn traits_and_object_references() {
    let foo = |x, y| {
        object(
            "Foo",
            &[("x", Amf3Value::Integer(x)), ("y", Amf3Value::Integer(y))],
        )
    };
    let bytes = hex(concat!(
        "09 07 01",                                // array of three
        "0a 23 07 466f6f 03 78 03 79 04 01 04 02", // Foo, sealed x and y, not dynamic
        "0a 01 04 03 04 04",                       // traits reference 0
        "0a 02",                                   // object reference 1 (the first Foo)
    ));
    assert_eq!(
        dec(&bytes),
        Ok(dense(vec![foo(1, 2), foo(3, 4), foo(1, 2)]))
    );

    // Sealed then dynamic members, in order.
    assert_eq!(
        dec(&hex("0a 1b 01 03 61 04 05 03 62 04 06 01")),
        Ok(object(
            "",
            &[("a", Amf3Value::Integer(5)), ("b", Amf3Value::Integer(6))]
        ))
    );
}

#[test]
fn references_to_every_complex_type() {
    let samples = [
        "08 01 3ff0000000000000",
        "07 07 616263",
        "0b 07 616263",
        "0c 05 0102",
        "0d 03 00 00000001",
        "0e 03 00 00000001",
        "0f 03 00 3ff0000000000000",
        "10 03 00 01 01",
        "11 03 00 01 01",
        "09 01 01",
        "0a 0b 01 01",
    ];
    for sample in samples {
        // [value, <object 1>]: the array itself is object 0.
        let marker = &sample[..2];
        let bytes = hex(&format!("09 05 01 {sample} {marker} 02"));
        let value = dec(&hex(sample)).unwrap();
        assert_eq!(
            dec(&bytes),
            Ok(dense(vec![value.clone(), value])),
            "{sample}"
        );
    }
}

#[test]
fn reference_tables_live_for_one_call() {
    let bytes = hex("06 0b 68656c6c6f 06 00");
    let mut input = &bytes[..];
    assert_eq!(decode(&mut input), Ok(s("hello")));
    assert_eq!(decode(&mut input), Err(AmfError::BadReference(0)));
}

#[test]
fn bad_references() {
    assert_eq!(dec(&hex("06 02")), Err(AmfError::BadReference(1)));
    assert_eq!(dec(&hex("0a 04")), Err(AmfError::BadReference(2)));
    assert_eq!(dec(&hex("0a 05")), Err(AmfError::BadReference(1))); // traits reference
    assert_eq!(dec(&hex("0c 00")), Err(AmfError::BadReference(0)));
    // A value cannot contain itself: the tree would be infinite.
    assert_eq!(dec(&hex("09 03 01 09 00")), Err(AmfError::BadReference(0)));
    assert_eq!(
        dec(&hex("0a 0b 01 03 61 0a 00 01")),
        Err(AmfError::BadReference(0))
    );
}

#[test]
fn externalizable_objects_are_refused() {
    let mut bytes = hex("0a 07 43");
    bytes.extend_from_slice(b"flex.messaging.io.ArrayCollection");
    bytes.extend(hex("09 01 01"));
    assert_eq!(
        dec(&bytes),
        Err(AmfError::Amf3Externalizable(
            "flex.messaging.io.ArrayCollection".into()
        ))
    );
}

#[test]
fn bad_input() {
    for marker in [0x12, 0x80, 0xff] {
        assert_eq!(dec(&[marker]), Err(AmfError::UnknownAmf3Marker(marker)));
    }
    assert_eq!(dec(&hex("06 05 c328")), Err(AmfError::InvalidUtf8));
    assert_eq!(
        dec(&hex("0a 0b 01 03 ff 01 01")),
        Err(AmfError::InvalidUtf8)
    );
}

#[test]
fn empty_member_names_are_not_encoded() {
    let value = object("", &[("", Amf3Value::Null), ("a", Amf3Value::Null)]);
    assert_eq!(dec(&enc(&value)), Ok(object("", &[("a", Amf3Value::Null)])));
}

#[test]
fn every_truncation_is_an_error() {
    let mut samples: Vec<Vec<u8>> = every_type().iter().map(enc).collect();
    samples.push(hex(
        "09 07 01 0a 23 07 466f6f 03 78 03 79 04 01 04 02 0a 01 04 03 04 04 0a 02",
    ));
    samples.push(hex("0a 1b 01 03 61 04 05 03 62 04 06 01"));
    samples.push(enc(&Amf3Value::Integer(-1)));
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
}

#[test]
fn nesting_limit() {
    let nested = |levels: usize| {
        let mut bytes = hex("09 03 01").repeat(levels - 1);
        bytes.extend(hex("09 01 01"));
        bytes
    };
    assert!(dec(&nested(MAX_NESTING_DEPTH)).is_ok());
    assert_eq!(dec(&nested(MAX_NESTING_DEPTH + 1)), Err(AmfError::TooDeep));
}

#[test]
fn depth_bombs_fail_without_recursing() {
    for level in ["09 03 01", "0a 0b 01 03 61", "10 03 00 01", "11 03 00"] {
        let bomb = hex(level).repeat(1_000_000);
        let mut input = &bomb[..];
        assert_eq!(decode(&mut input), Err(AmfError::TooDeep), "{level}");
    }
}

#[test]
fn references_cannot_build_a_tree_past_the_depth_limit() {
    // [A, B]: A is a chain of 60 arrays; B is a chain of `m` arrays whose innermost holds
    // a reference to A (object 1), putting A's 60 levels under B's.
    let bytes = |m: usize| {
        let mut bytes = hex("09 05 01");
        bytes.extend(hex("09 03 01").repeat(59));
        bytes.extend(hex("09 01 01"));
        bytes.extend(hex("09 03 01").repeat(m));
        bytes.extend(hex("09 02"));
        bytes
    };
    // Top array (1) + B (3) + A (60) = 64 levels.
    assert!(dec(&bytes(3)).is_ok());
    assert_eq!(dec(&bytes(4)), Err(AmfError::TooDeep));
}

#[test]
fn reference_bombs_hit_the_expansion_limit() {
    // Each level is an array holding ten references to the level before: 10^12 values.
    let levels = 12;
    let mut bytes = hex("09");
    put_u29(((levels + 1) << 1) | 1, &mut bytes);
    bytes.push(0x01);
    bytes.extend(hex("09 15 01"));
    bytes.extend([NULL; 10]);
    for level in 1..=levels {
        bytes.extend(hex("09 15 01"));
        for _ in 0..10 {
            bytes.push(ARRAY);
            put_u29(level << 1, &mut bytes); // object `level` is the level before
        }
    }
    assert_eq!(dec(&bytes), Err(AmfError::TooLarge));

    // A string repeated by reference is charged too.
    let mut bytes = hex("09");
    put_u29((200_000 << 1) | 1, &mut bytes);
    bytes.extend(hex("01 06"));
    put_u29((1000 << 1) | 1, &mut bytes);
    bytes.extend([b'a'; 1000]);
    bytes.extend(hex("06 00").repeat(200_000 - 1));
    assert_eq!(dec(&bytes), Err(AmfError::TooLarge));
}

#[test]
fn modest_reuse_is_fine() {
    // One object referenced a thousand times.
    let mut bytes = hex("09");
    put_u29((1001 << 1) | 1, &mut bytes);
    bytes.extend(hex("01 0a 0b 01 03 61 06 07 616263 01"));
    bytes.extend(hex("0a 02").repeat(1000));
    let item = object("", &[("a", s("abc"))]);
    assert_eq!(dec(&bytes), Ok(dense(vec![item; 1001])));
}

#[test]
fn huge_declared_lengths_with_little_data() {
    for bytes in [
        "06 ff ff ff ff 61",
        "07 ff ff ff ff 61",
        "0b ff ff ff ff 61",
        "0c ff ff ff ff 61",
        "09 ff ff ff ff 01 01",
        "0a ff ff ff fb 01 03 61", // 2^25 sealed members
        "0d ff ff ff ff 00 00000001",
        "0e ff ff ff ff 00 00000001",
        "0f ff ff ff ff 00 00000001",
        "10 ff ff ff ff 00 01 01",
        "11 ff ff ff ff 00 01 01",
    ] {
        assert_eq!(dec(&hex(bytes)), Err(AmfError::UnexpectedEnd), "{bytes}");
    }
}

#[test]
fn decode_advances_past_one_value() {
    let bytes = hex("04 01 05");
    let mut input = &bytes[..];
    assert_eq!(decode(&mut input), Ok(Amf3Value::Integer(1)));
    assert_eq!(input, &[0x05][..]);
}
