//! Property tests of the protocol core's round trips: AMF0 and AMF3 value trees through their
//! encoders and decoders, and message sequences through the chunk writer and reader at arbitrary
//! chunk sizes (changed between messages by Set Chunk Size, as a peer does) and input splits.
//!
//! Case counts are kept modest so that `cargo test` stays fast; the fuzz targets in `fuzz/`
//! explore the decoders on malformed input.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::amf0::{self, Amf0Value};
use super::amf3::{self, Amf3Value};
use super::chunk::{ChunkReader, ChunkWriter, MAX_CHUNK_SIZE, RawMessage};

/// Floats compare by bits: NaN payloads and the sign of zero must survive.
fn f64_eq(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn pairs_eq<T>(a: &[(String, T)], b: &[(String, T)], eq: fn(&T, &T) -> bool) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && eq(va, vb))
}

fn items_eq<T>(a: &[T], b: &[T], eq: fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| eq(x, y))
}

fn amf0_eq(a: &Amf0Value, b: &Amf0Value) -> bool {
    use Amf0Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => f64_eq(*x, *y),
        (
            V::Date {
                millis: x,
                time_zone: tx,
            },
            V::Date {
                millis: y,
                time_zone: ty,
            },
        ) => f64_eq(*x, *y) && tx == ty,
        (V::Object(x), V::Object(y)) | (V::EcmaArray(x), V::EcmaArray(y)) => {
            pairs_eq(x, y, amf0_eq)
        }
        (V::StrictArray(x), V::StrictArray(y)) => items_eq(x, y, amf0_eq),
        (
            V::TypedObject {
                class_name: cx,
                properties: px,
            },
            V::TypedObject {
                class_name: cy,
                properties: py,
            },
        ) => cx == cy && pairs_eq(px, py, amf0_eq),
        (V::AvmPlus(x), V::AvmPlus(y)) => amf3_eq(x, y),
        _ => a == b,
    }
}

fn amf3_eq(a: &Amf3Value, b: &Amf3Value) -> bool {
    use Amf3Value as V;
    match (a, b) {
        (V::Double(x), V::Double(y)) | (V::Date(x), V::Date(y)) => f64_eq(*x, *y),
        (V::VectorDouble(x), V::VectorDouble(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| f64_eq(*p, *q))
        }
        (
            V::Array {
                assoc: ax,
                dense: dx,
            },
            V::Array {
                assoc: ay,
                dense: dy,
            },
        ) => pairs_eq(ax, ay, amf3_eq) && items_eq(dx, dy, amf3_eq),
        (
            V::Object {
                class_name: cx,
                properties: px,
            },
            V::Object {
                class_name: cy,
                properties: py,
            },
        ) => cx == cy && pairs_eq(px, py, amf3_eq),
        (
            V::VectorObject {
                type_name: tx,
                items: ix,
            },
            V::VectorObject {
                type_name: ty,
                items: iy,
            },
        ) => tx == ty && items_eq(ix, iy, amf3_eq),
        (V::Dictionary(x), V::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| amf3_eq(kx, ky) && amf3_eq(vx, vy))
        }
        _ => a == b,
    }
}

/// What the AMF3 encoder documents it can carry: integers outside 29 bits become doubles and
/// members with empty names are left out.
fn amf3_sendable(v: &Amf3Value) -> Amf3Value {
    use Amf3Value as V;
    let members = |m: &[(String, V)]| -> Vec<(String, V)> {
        m.iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), amf3_sendable(v)))
            .collect()
    };
    match v {
        V::Integer(i) if !(-(1 << 28)..(1 << 28)).contains(i) => V::Double(f64::from(*i)),
        V::Array { assoc, dense } => V::Array {
            assoc: members(assoc),
            dense: dense.iter().map(amf3_sendable).collect(),
        },
        V::Object {
            class_name,
            properties,
        } => V::Object {
            class_name: class_name.clone(),
            properties: members(properties),
        },
        V::VectorObject { type_name, items } => V::VectorObject {
            type_name: type_name.clone(),
            items: items.iter().map(amf3_sendable).collect(),
        },
        V::Dictionary(pairs) => V::Dictionary(
            pairs
                .iter()
                .map(|(k, v)| (amf3_sendable(k), amf3_sendable(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn amf0_sendable(v: &Amf0Value) -> Amf0Value {
    use Amf0Value as V;
    let props = |p: &[(String, V)]| {
        p.iter()
            .map(|(k, v)| (k.clone(), amf0_sendable(v)))
            .collect()
    };
    match v {
        V::Object(p) => V::Object(props(p)),
        V::EcmaArray(p) => V::EcmaArray(props(p)),
        V::StrictArray(items) => V::StrictArray(items.iter().map(amf0_sendable).collect()),
        V::TypedObject {
            class_name,
            properties,
        } => V::TypedObject {
            class_name: class_name.clone(),
            properties: props(properties),
        },
        V::AvmPlus(x) => V::AvmPlus(amf3_sendable(x)),
        other => other.clone(),
    }
}

/// Any f64, NaNs with payloads and both zeros included, with the special values made likely.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300
        ]),
    ]
}

/// Short text, empty and non-ASCII included.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
    .boxed()
}

fn amf3_leaf() -> impl Strategy<Value = Amf3Value> {
    use Amf3Value as V;
    prop_oneof![
        Just(V::Undefined),
        Just(V::Null),
        any::<bool>().prop_map(V::Boolean),
        any::<i32>().prop_map(V::Integer),
        (-(1i32 << 28)..(1 << 28)).prop_map(V::Integer),
        any_f64().prop_map(V::Double),
        text().prop_map(V::String),
        text().prop_map(V::XmlDocument),
        any_f64().prop_map(V::Date),
        text().prop_map(V::Xml),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(V::ByteArray),
        prop::collection::vec(any::<i32>(), 0..5).prop_map(V::VectorInt),
        prop::collection::vec(any::<u32>(), 0..5).prop_map(V::VectorUint),
        prop::collection::vec(any_f64(), 0..5).prop_map(V::VectorDouble),
    ]
}

fn amf3_value() -> impl Strategy<Value = Amf3Value> {
    use Amf3Value as V;
    amf3_leaf().prop_recursive(4, 48, 5, |inner| {
        let members = prop::collection::vec((text(), inner.clone()), 0..4);
        prop_oneof![
            (members.clone(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(assoc, dense)| V::Array { assoc, dense }),
            (text(), members).prop_map(|(class_name, properties)| V::Object {
                class_name,
                properties
            }),
            (text(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(type_name, items)| V::VectorObject { type_name, items }),
            prop::collection::vec((inner.clone(), inner), 0..3).prop_map(V::Dictionary),
        ]
    })
}

fn amf0_value() -> impl Strategy<Value = Amf0Value> {
    use Amf0Value as V;
    let leaf = prop_oneof![
        any_f64().prop_map(V::Number),
        any::<bool>().prop_map(V::Boolean),
        text().prop_map(V::String),
        Just(V::Null),
        Just(V::Undefined),
        any::<u16>().prop_map(V::Reference),
        (any_f64(), any::<i16>()).prop_map(|(millis, time_zone)| V::Date { millis, time_zone }),
        text().prop_map(V::LongString),
        Just(V::Unsupported),
        text().prop_map(V::XmlDocument),
        amf3_value().prop_map(V::AvmPlus),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        // Empty property names are allowed: the end marker is an empty name followed by 0x09,
        // and no value starts with 0x09.
        let props = prop::collection::vec((text(), inner.clone()), 0..4);
        prop_oneof![
            props.clone().prop_map(V::Object),
            props.clone().prop_map(V::EcmaArray),
            prop::collection::vec(inner, 0..4).prop_map(V::StrictArray),
            (text(), props).prop_map(|(class_name, properties)| V::TypedObject {
                class_name,
                properties
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn amf0_values_round_trip(values in prop::collection::vec(amf0_value(), 0..4)) {
        let mut encoded = BytesMut::new();
        amf0::encode_all(&values, &mut encoded);
        let decoded = amf0::decode_all(&encoded).unwrap();
        let expected: Vec<_> = values.iter().map(amf0_sendable).collect();
        prop_assert!(items_eq(&decoded, &expected, amf0_eq), "{decoded:?}\n!=\n{expected:?}");
        // And the encoding of what came back is the same bytes.
        let mut again = BytesMut::new();
        amf0::encode_all(&decoded, &mut again);
        prop_assert_eq!(encoded, again);
    }

    #[test]
    fn amf3_values_round_trip(value in amf3_value()) {
        let mut encoded = BytesMut::new();
        amf3::encode(&value, &mut encoded);
        let mut input = &encoded[..];
        let decoded = amf3::decode(&mut input).unwrap();
        prop_assert!(input.is_empty());
        let expected = amf3_sendable(&value);
        prop_assert!(amf3_eq(&decoded, &expected), "{decoded:?}\n!=\n{expected:?}");
        // Every strict prefix is a truncation, never a different value or another error.
        for cut in 0..encoded.len() {
            let mut prefix = &encoded[..cut];
            prop_assert_eq!(amf3::decode(&mut prefix), Err(amf0::AmfError::UnexpectedEnd));
        }
    }
}

/// One message to send, on its chunk stream, and a chunk-size change to announce before it.
#[derive(Debug, Clone)]
struct Send {
    csid: u32,
    message: RawMessage,
    new_chunk_size: Option<u32>,
}

fn chunk_size() -> impl Strategy<Value = u32> {
    prop_oneof![
        1..=300u32,
        Just(128),
        Just(4096),
        300..=70_000u32,
        Just(MAX_CHUNK_SIZE),
    ]
}

fn timestamp_step() -> impl Strategy<Value = (bool, u32)> {
    // (absolute, value): absolute times near the 24-bit and 32-bit limits, or deltas that
    // may wrap past 2^32 and may be "backwards" (>= 2^31).
    prop_oneof![
        (Just(true), any::<u32>()),
        (Just(true), 0xFF_FFF0..=0x100_0010u32),
        (Just(true), u32::MAX - 100..=u32::MAX),
        (Just(false), 0..100u32),
        (Just(false), Just(0)),
        (Just(false), 0xFF_FFF0..=0x100_0010u32),
        (Just(false), u32::MAX - 100..=u32::MAX),
    ]
}

fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0..300usize,
        3 => 0..5000usize,
        1 => 0..=300_000usize,
    ]
}

/// A sequence of messages on a few chunk streams (so headers get compressed), with message
/// stream ids and type ids that sometimes repeat and sometimes change.
fn sends() -> impl Strategy<Value = Vec<Send>> {
    let csid = prop_oneof![2..=10u32, 60..=70u32, 310..=330u32, 65_590..=65_599u32];
    let pool = prop::collection::vec(csid, 1..4);
    pool.prop_flat_map(|pool| {
        let send = (
            prop::sample::select(pool),
            // Type 1 is Set Chunk Size, which the reading side acts on.
            prop_oneof![Just(9u8), Just(8u8), 2..=255u8],
            prop_oneof![Just(1u32), any::<u32>()],
            timestamp_step(),
            payload_len(),
            prop::option::weighted(0.2, chunk_size()),
        );
        prop::collection::vec(send, 1..10)
    })
    .prop_map(|raw| {
        let mut time = 0u32;
        raw.into_iter()
            .map(
                |(csid, type_id, stream_id, (absolute, t), len, new_chunk_size)| {
                    time = if absolute { t } else { time.wrapping_add(t) };
                    let payload: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
                    Send {
                        csid,
                        message: RawMessage {
                            type_id,
                            timestamp: time,
                            stream_id,
                            payload: Bytes::from(payload),
                        },
                        new_chunk_size,
                    }
                },
            )
            .collect()
    })
}

/// Writes the messages as a peer would, announcing chunk-size changes on chunk stream 2.
/// Returns the bytes and the messages a reader must see (Set Chunk Size included).
fn write_stream(sends: &[Send], vectored: bool) -> (Vec<u8>, Vec<RawMessage>) {
    let mut writer = ChunkWriter::new();
    let mut out = BytesMut::new();
    let mut headers = BytesMut::new();
    let mut expected = Vec::new();
    let mut write = |writer: &mut ChunkWriter, csid: u32, m: &RawMessage| {
        if vectored {
            let mut parts = Vec::new();
            writer.write_vectored(csid, m, &mut headers, &mut parts);
            parts.iter().for_each(|p| out.extend_from_slice(p));
        } else {
            writer.write(csid, m, &mut out);
        }
    };
    for send in sends {
        if let Some(size) = send.new_chunk_size {
            let announce = RawMessage {
                type_id: 1,
                timestamp: 0,
                stream_id: 0,
                payload: Bytes::copy_from_slice(&size.to_be_bytes()),
            };
            write(&mut writer, 2, &announce);
            writer.set_chunk_size(size);
            expected.push(announce);
        }
        write(&mut writer, send.csid, &send.message);
        expected.push(send.message.clone());
    }
    (out.to_vec(), expected)
}

/// Reads `bytes` fed in pieces of the given sizes (cycled), following Set Chunk Size.
fn read_stream(bytes: &[u8], pieces: &[usize]) -> (Vec<RawMessage>, usize) {
    let mut reader = ChunkReader::new();
    let mut input = BytesMut::new();
    let mut messages = Vec::new();
    let mut offset = 0;
    for &piece in pieces.iter().cycle() {
        if offset >= bytes.len() {
            break;
        }
        let end = bytes.len().min(offset + piece);
        input.extend_from_slice(&bytes[offset..end]);
        offset = end;
        while let Some(m) = reader.read(&mut input).unwrap() {
            if m.type_id == 1 {
                let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                reader.set_chunk_size(size).unwrap();
            }
            messages.push(m);
        }
    }
    (messages, input.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunk_stream_round_trips_at_any_split(
        sends in sends(),
        pieces in prop::collection::vec(prop_oneof![1..20usize, 1..2000usize, 1..400_000usize], 1..8),
    ) {
        let (bytes, expected) = write_stream(&sends, false);
        let (messages, left) = read_stream(&bytes, &pieces);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(messages.len(), expected.len());
        for (got, want) in messages.iter().zip(&expected) {
            prop_assert_eq!(
                (got.type_id, got.timestamp, got.stream_id, got.payload.len()),
                (want.type_id, want.timestamp, want.stream_id, want.payload.len())
            );
            prop_assert!(got.payload == want.payload);
        }
    }

    #[test]
    fn write_and_write_vectored_give_the_same_bytes(sends in sends()) {
        let (plain, _) = write_stream(&sends, false);
        let (vectored, _) = write_stream(&sends, true);
        prop_assert!(plain == vectored);
    }
}

#[test]
fn write_vectored_keeps_what_headers_held() {
    // The scratch buffer may hold bytes from elsewhere: they stay and are not sent.
    let message = RawMessage {
        type_id: 9,
        timestamp: 0x0100_0000,
        stream_id: 1,
        payload: Bytes::from(vec![7u8; 300]),
    };
    let mut headers = BytesMut::from(&b"unrelated"[..]);
    let mut parts = Vec::new();
    ChunkWriter::new().write_vectored(6, &message, &mut headers, &mut parts);
    let mut plain = BytesMut::new();
    ChunkWriter::new().write(6, &message, &mut plain);
    assert_eq!(&headers[..], b"unrelated");
    assert_eq!(parts.concat(), plain.to_vec());
}
