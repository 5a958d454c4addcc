//! The messages a server sends back, built as nginx-rtmp, FMS and SRS shape them (what clients
//! are known to accept): field order and values as theirs, text our own.

use super::super::enhanced;
use crate::protocol::amf0::Amf0Value;
use crate::protocol::message::Message;

/// What FMS 3 says of itself, as nginx-rtmp does: clients that check look for "FMS/".
pub const FMS_VERSION: &str = "FMS/3,0,1,123";
/// FMS's capability bits, as nginx-rtmp sends them.
const CAPABILITIES: f64 = 31.0;

fn string(s: &str) -> Amf0Value {
    Amf0Value::String(s.to_owned())
}

fn object(fields: &[(&str, Amf0Value)]) -> Amf0Value {
    Amf0Value::Object(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn command(
    stream_id: u32,
    name: &str,
    transaction_id: f64,
    command_object: Amf0Value,
    args: Vec<Amf0Value>,
) -> Message {
    Message::Command {
        stream_id,
        name: name.to_owned(),
        transaction_id,
        command_object,
        args,
    }
}

/// The information object of a status: level, code, description.
pub fn status_info(level: &str, code: &str, description: &str) -> Amf0Value {
    object(&[
        ("level", string(level)),
        ("code", string(code)),
        ("description", string(description)),
    ])
}

/// `_result` of connect: `{fmsVer, capabilities, <Enhanced RTMP fields>}`, then `{level,
/// code, description, objectEncoding}` with the client's object encoding echoed.
///
/// The Enhanced RTMP fields list every FourCC we map: a publisher's stream is decoded (rtmpsrc)
/// and a player gets what rtmpsink forwards, multitrack streams included, with ModEx
/// nanosecond offsets understood.
pub fn connect_result(transaction_id: f64, object_encoding: f64) -> Message {
    let mut props = vec![
        ("fmsVer".to_owned(), string(FMS_VERSION)),
        ("capabilities".to_owned(), Amf0Value::Number(CAPABILITIES)),
    ];
    props.extend(enhanced::connect_fields(
        enhanced::CAN_DECODE | enhanced::CAN_FORWARD,
        enhanced::CAPS_EX_MULTITRACK
            | enhanced::CAPS_EX_MOD_EX
            | enhanced::CAPS_EX_TIMESTAMP_NANO_OFFSET,
    ));
    let properties = Amf0Value::Object(props);
    let information = object(&[
        ("level", string("status")),
        ("code", string("NetConnection.Connect.Success")),
        ("description", string("Connection succeeded.")),
        ("objectEncoding", Amf0Value::Number(object_encoding)),
    ]);
    command(0, "_result", transaction_id, properties, vec![information])
}

/// `_error` of connect with `NetConnection.Connect.Rejected`.
pub fn connect_rejected(transaction_id: f64, description: &str) -> Message {
    let info = status_info("error", "NetConnection.Connect.Rejected", description);
    command(0, "_error", transaction_id, Amf0Value::Null, vec![info])
}

/// FMS and SRS follow the connect answer with `onBWDone`; FFmpeg answers it with `_checkbw`.
pub fn on_bw_done() -> Message {
    command(
        0,
        "onBWDone",
        0.0,
        Amf0Value::Null,
        vec![Amf0Value::Number(8192.0)],
    )
}

/// `_result(transaction_id, null, value...)`.
pub fn result(transaction_id: f64, values: Vec<Amf0Value>) -> Message {
    command(0, "_result", transaction_id, Amf0Value::Null, values)
}

/// `_error` for a call that failed (`NetConnection.Call.Failed`).
pub fn call_failed(transaction_id: f64, description: &str) -> Message {
    let info = status_info("error", "NetConnection.Call.Failed", description);
    command(0, "_error", transaction_id, Amf0Value::Null, vec![info])
}

/// `onStatus(0, null, {level, code, description})` on `stream_id`.
pub fn on_status(stream_id: u32, level: &str, code: &str, description: &str) -> Message {
    let info = status_info(level, code, description);
    command(stream_id, "onStatus", 0.0, Amf0Value::Null, vec![info])
}

/// `onFCPublish`, `onFCUnpublish`, `onFCSubscribe`: FMS's answers to the FC* calls, status
/// objects with the stream name as description.
pub fn on_fc(name: &str, code: &str, stream: &str) -> Message {
    let info = object(&[("code", string(code)), ("description", string(stream))]);
    command(0, name, 0.0, Amf0Value::Null, vec![info])
}

/// `|RtmpSampleAccess(true, true)`: lets Flash players read the frames (nginx-rtmp sends it on play).
pub fn sample_access(stream_id: u32) -> Message {
    Message::Data {
        timestamp: 0,
        stream_id,
        values: vec![
            string("|RtmpSampleAccess"),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(true),
        ],
        raw: bytes::Bytes::new(),
    }
}
