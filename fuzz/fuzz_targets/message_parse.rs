//! Typed messages from arbitrary type ids and payloads, and aggregate splitting.
//!
//! Invariants: whatever parses converts back with `to_raw` to a message that parses to the same
//! thing (NaN-aware); `split_aggregate` only succeeds when the sub-messages tile the payload
//! exactly, the first keeps the aggregate's timestamp and all keep its stream id; each
//! sub-message goes through `Message::parse` as the session does; `Status::from_args` never
//! panics on command arguments.
//!
//! Input: type id (1 byte), timestamp (4), stream id (4), then the payload.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::{amf0_eq, amf0_list_eq, amf0_sendable, f64_eq};
use gstrtmp::protocol::chunk::RawMessage;
use gstrtmp::protocol::command::Status;
use gstrtmp::protocol::message::{Message, split_aggregate, type_id};

/// Equality of parsed messages with NaN-aware AMF values.
fn message_eq(a: &Message, b: &Message) -> bool {
    match (a, b) {
        (
            Message::Command {
                stream_id: sa,
                name: na,
                transaction_id: ta,
                command_object: oa,
                args: aa,
            },
            Message::Command {
                stream_id: sb,
                name: nb,
                transaction_id: tb,
                command_object: ob,
                args: ab,
            },
        ) => sa == sb && na == nb && f64_eq(*ta, *tb) && amf0_eq(oa, ob) && amf0_list_eq(aa, ab),
        (
            Message::Data {
                timestamp: ta,
                stream_id: sa,
                values: va,
                raw: ra,
            },
            Message::Data {
                timestamp: tb,
                stream_id: sb,
                values: vb,
                raw: rb,
            },
        ) => ta == tb && sa == sb && amf0_list_eq(va, vb) && ra == rb,
        _ => a == b,
    }
}

fn check_round_trip(raw: &RawMessage) {
    let Ok(message) = Message::parse(raw.clone()) else {
        return;
    };
    if let Message::Command { args, .. } = &message {
        let _ = Status::from_args(args);
    }
    let back = message.to_raw(raw.timestamp, raw.stream_id);
    // Media, data and unknown messages keep their own fields; the rest take the arguments.
    assert_eq!(
        (back.timestamp, back.stream_id),
        (raw.timestamp, raw.stream_id)
    );
    match &message {
        Message::Audio { payload, .. } | Message::Video { payload, .. } => {
            assert_eq!(payload, &raw.payload)
        }
        Message::Other(other) => assert_eq!(other, raw),
        _ => {}
    }
    let again = Message::parse(back.clone()).expect("a re-encoded message must parse");
    // Commands are re-encoded, so they come back as far as AMF3 can carry them (members with
    // empty names dropped); data messages keep their bytes.
    let expected = match message {
        Message::Command {
            stream_id,
            name,
            transaction_id,
            command_object,
            args,
        } => Message::Command {
            stream_id,
            name,
            transaction_id,
            command_object: amf0_sendable(&command_object),
            args: args.iter().map(amf0_sendable).collect(),
        },
        other => other,
    };
    assert!(
        message_eq(&expected, &again),
        "round trip changed the message:\n{expected:?}\n{again:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&[type_id, t0, t1, t2, t3, s0, s1, s2, s3], payload)) = data.split_first_chunk::<9>()
    else {
        return;
    };
    let raw = RawMessage {
        type_id,
        timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
        stream_id: u32::from_le_bytes([s0, s1, s2, s3]),
        payload: Bytes::copy_from_slice(payload),
    };
    check_round_trip(&raw);

    // Any payload as an aggregate.
    match split_aggregate(&raw) {
        Ok(parts) => {
            let mut pos = 0;
            for (i, part) in parts.iter().enumerate() {
                assert_eq!(part.stream_id, raw.stream_id);
                if i == 0 {
                    assert_eq!(part.timestamp, raw.timestamp);
                }
                // Type, size, body, back pointer: the parts tile the payload.
                assert_eq!(part.type_id, payload[pos]);
                let size =
                    u32::from_be_bytes([0, payload[pos + 1], payload[pos + 2], payload[pos + 3]]);
                assert_eq!(part.payload.len(), size as usize);
                assert_eq!(
                    &part.payload[..],
                    &payload[pos + 11..pos + 11 + size as usize]
                );
                pos += 11 + size as usize + 4;
                check_round_trip(part);
            }
            assert_eq!(pos, payload.len());
            if raw.type_id == type_id::AGGREGATE {
                assert!(Message::parse(raw.clone()).is_ok_and(|m| matches!(m, Message::Other(_))));
            }
        }
        Err(_) => assert!(!payload.is_empty()),
    }
});
