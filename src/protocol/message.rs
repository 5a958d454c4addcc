//! Typed RTMP messages: protocol control (types 1-6), user control events (4), commands (20 AMF0,
//! 17 AMF3), data (18 AMF0, 15 AMF3), audio (8), video (9) and aggregate (22) messages, with
//! conversions to and from [`RawMessage`].

use bytes::{BufMut, Bytes, BytesMut};

use super::amf0::{self, Amf0Value, AmfError};
use super::amf3::Amf3Value;
use super::chunk::RawMessage;

pub mod type_id {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

/// Chunk stream ids we send on, as librtmp, FFmpeg and rtmp2 do.
pub mod csid {
    pub const PROTOCOL_CONTROL: u32 = 2;
    pub const COMMAND: u32 = 3;
    pub const DATA: u32 = 4;
    pub const AUDIO: u32 = 5;
    pub const VIDEO: u32 = 6;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerBandwidthLimit {
    Hard,
    Soft,
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControlEvent {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength {
        stream_id: u32,
        buffer_ms: u32,
    },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    /// Any other event type, with up to the first 4 bytes of its data.
    Other {
        event_type: u16,
        value: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    SetChunkSize(u32),
    Abort(u32),
    Acknowledgement(u32),
    UserControl(UserControlEvent),
    WindowAckSize(u32),
    SetPeerBandwidth {
        size: u32,
        limit: PeerBandwidthLimit,
    },
    Audio {
        timestamp: u32,
        stream_id: u32,
        payload: Bytes,
    },
    Video {
        timestamp: u32,
        stream_id: u32,
        payload: Bytes,
    },
    /// A command: name, transaction id, command object (often Null), then arguments.
    /// AMF3 commands (type 17, leading 0x00 byte then AMF0 values) decode to the same shape.
    Command {
        stream_id: u32,
        name: String,
        transaction_id: f64,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    },
    /// A data message (e.g. `@setDataFrame`, `onMetaData`, `|RtmpSampleAccess`): all its values, in order.
    /// `raw` keeps the AMF0 encoding (for AMF3 data, without the leading 0x00) for passing on unchanged.
    Data {
        timestamp: u32,
        stream_id: u32,
        values: Vec<Amf0Value>,
        raw: Bytes,
    },
    /// Shared objects and unknown types are carried as they came.
    Other(RawMessage),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MessageError {
    #[error("message type {type_id} is too short ({len} bytes)")]
    TooShort { type_id: u8, len: usize },
    #[error("bad AMF in message type {type_id}: {source}")]
    Amf { type_id: u8, source: AmfError },
    #[error("command message without a name, or with a transaction id that is not a number")]
    MalformedCommand,
    #[error("aggregate message is malformed")]
    MalformedAggregate,
}

impl Message {
    /// Parses a raw message. Aggregate messages are not handled here: see [`split_aggregate`].
    ///
    /// Aggregates, shared objects, unknown types and Set Peer Bandwidth with an unknown limit type
    /// come back as [`Message::Other`]. Bytes after a control message's fields are ignored.
    pub fn parse(raw: RawMessage) -> Result<Message, MessageError> {
        use type_id::*;
        let p = &raw.payload[..];
        let too_short = || MessageError::TooShort {
            type_id: raw.type_id,
            len: p.len(),
        };
        Ok(match raw.type_id {
            SET_CHUNK_SIZE => Message::SetChunkSize(be32(p, 0).ok_or_else(too_short)?),
            ABORT => Message::Abort(be32(p, 0).ok_or_else(too_short)?),
            ACKNOWLEDGEMENT => Message::Acknowledgement(be32(p, 0).ok_or_else(too_short)?),
            WINDOW_ACK_SIZE => Message::WindowAckSize(be32(p, 0).ok_or_else(too_short)?),
            SET_PEER_BANDWIDTH => {
                let size = be32(p, 0).ok_or_else(too_short)?;
                let limit = match p.get(4).ok_or_else(too_short)? {
                    0 => PeerBandwidthLimit::Hard,
                    1 => PeerBandwidthLimit::Soft,
                    2 => PeerBandwidthLimit::Dynamic,
                    _ => return Ok(Message::Other(raw)),
                };
                Message::SetPeerBandwidth { size, limit }
            }
            USER_CONTROL => Message::UserControl(parse_user_control(p).ok_or_else(too_short)?),
            AUDIO => Message::Audio {
                timestamp: raw.timestamp,
                stream_id: raw.stream_id,
                payload: raw.payload,
            },
            VIDEO => Message::Video {
                timestamp: raw.timestamp,
                stream_id: raw.stream_id,
                payload: raw.payload,
            },
            COMMAND_AMF0 | COMMAND_AMF3 => parse_command(&raw)?,
            DATA_AMF0 | DATA_AMF3 => {
                let raw_amf = raw.payload.slice(amf_start(&raw)..);
                let values = amf0::decode_all(&raw_amf).map_err(|source| MessageError::Amf {
                    type_id: raw.type_id,
                    source,
                })?;
                Message::Data {
                    timestamp: raw.timestamp,
                    stream_id: raw.stream_id,
                    values,
                    raw: raw_amf,
                }
            }
            _ => Message::Other(raw),
        })
    }

    /// Encodes the message; `timestamp`/`stream_id` of control and command messages come from the
    /// arguments (control messages use stream 0 and timestamp 0 by convention).
    ///
    /// Audio, video and data messages carry their own timestamp and stream id; `Other` is returned
    /// as it is. Commands are always sent as AMF0 (type 20), data as type 18: from `raw` when it is
    /// not empty (so received metadata passes on byte for byte), else encoded from `values`.
    pub fn to_raw(&self, timestamp: u32, stream_id: u32) -> RawMessage {
        use type_id::*;
        let control = |type_id: u8, payload: Vec<u8>| RawMessage {
            type_id,
            timestamp,
            stream_id,
            payload: Bytes::from(payload),
        };
        match self {
            Message::SetChunkSize(v) => control(SET_CHUNK_SIZE, v.to_be_bytes().to_vec()),
            Message::Abort(v) => control(ABORT, v.to_be_bytes().to_vec()),
            Message::Acknowledgement(v) => control(ACKNOWLEDGEMENT, v.to_be_bytes().to_vec()),
            Message::WindowAckSize(v) => control(WINDOW_ACK_SIZE, v.to_be_bytes().to_vec()),
            Message::SetPeerBandwidth { size, limit } => {
                let mut p = size.to_be_bytes().to_vec();
                p.push(match limit {
                    PeerBandwidthLimit::Hard => 0,
                    PeerBandwidthLimit::Soft => 1,
                    PeerBandwidthLimit::Dynamic => 2,
                });
                control(SET_PEER_BANDWIDTH, p)
            }
            Message::UserControl(event) => control(USER_CONTROL, encode_user_control(event)),
            Message::Audio {
                timestamp,
                stream_id,
                payload,
            } => RawMessage {
                type_id: AUDIO,
                timestamp: *timestamp,
                stream_id: *stream_id,
                payload: payload.clone(),
            },
            Message::Video {
                timestamp,
                stream_id,
                payload,
            } => RawMessage {
                type_id: VIDEO,
                timestamp: *timestamp,
                stream_id: *stream_id,
                payload: payload.clone(),
            },
            Message::Command {
                stream_id: _,
                name,
                transaction_id,
                command_object,
                args,
            } => {
                let mut out = BytesMut::new();
                amf0::encode(&Amf0Value::String(name.clone()), &mut out);
                amf0::encode(&Amf0Value::Number(*transaction_id), &mut out);
                amf0::encode(command_object, &mut out);
                amf0::encode_all(args, &mut out);
                RawMessage {
                    type_id: COMMAND_AMF0,
                    timestamp,
                    stream_id,
                    payload: out.freeze(),
                }
            }
            Message::Data {
                timestamp,
                stream_id,
                values,
                raw,
            } => {
                let payload = if raw.is_empty() {
                    let mut out = BytesMut::new();
                    amf0::encode_all(values, &mut out);
                    out.freeze()
                } else {
                    raw.clone()
                };
                RawMessage {
                    type_id: DATA_AMF0,
                    timestamp: *timestamp,
                    stream_id: *stream_id,
                    payload,
                }
            }
            Message::Other(raw) => raw.clone(),
        }
    }
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        p.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be24(p: &[u8], at: usize) -> Option<u32> {
    let [a, b, c]: [u8; 3] = p.get(at..at.checked_add(3)?)?.try_into().ok()?;
    Some(u32::from_be_bytes([0, a, b, c]))
}

/// `None` when the event's data is shorter than its type needs.
fn parse_user_control(p: &[u8]) -> Option<UserControlEvent> {
    let event_type = u16::from_be_bytes(p.get(..2)?.try_into().ok()?);
    let value = || be32(p, 2);
    Some(match event_type {
        0 => UserControlEvent::StreamBegin(value()?),
        1 => UserControlEvent::StreamEof(value()?),
        2 => UserControlEvent::StreamDry(value()?),
        3 => UserControlEvent::SetBufferLength {
            stream_id: value()?,
            buffer_ms: be32(p, 6)?,
        },
        4 => UserControlEvent::StreamIsRecorded(value()?),
        6 => UserControlEvent::PingRequest(value()?),
        7 => UserControlEvent::PingResponse(value()?),
        _ => {
            // Whatever is there of the first 4 data bytes, as a big-endian number.
            let data = p.get(2..).unwrap_or_default();
            let value = data
                .iter()
                .take(4)
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            UserControlEvent::Other { event_type, value }
        }
    })
}

fn encode_user_control(event: &UserControlEvent) -> Vec<u8> {
    let (event_type, first, second) = match *event {
        UserControlEvent::StreamBegin(v) => (0, v, None),
        UserControlEvent::StreamEof(v) => (1, v, None),
        UserControlEvent::StreamDry(v) => (2, v, None),
        UserControlEvent::SetBufferLength {
            stream_id,
            buffer_ms,
        } => (3, stream_id, Some(buffer_ms)),
        UserControlEvent::StreamIsRecorded(v) => (4, v, None),
        UserControlEvent::PingRequest(v) => (6, v, None),
        UserControlEvent::PingResponse(v) => (7, v, None),
        UserControlEvent::Other { event_type, value } => (event_type, value, None),
    };
    let mut p = Vec::with_capacity(10);
    p.put_u16(event_type);
    p.put_u32(first);
    if let Some(v) = second {
        p.put_u32(v);
    }
    p
}

/// Where the AMF0 values start: AMF3 command and data messages begin with a 0x00 format byte.
fn amf_start(raw: &RawMessage) -> usize {
    let amf3 = matches!(raw.type_id, type_id::COMMAND_AMF3 | type_id::DATA_AMF3);
    usize::from(amf3 && raw.payload.first() == Some(&0))
}

/// The name and transaction id of a command message (type 17 or 20), when these two decode
/// whatever follows them: what a session needs to tell whose answer an undecodable command is.
pub fn command_header(raw: &RawMessage) -> Option<(String, f64)> {
    if !matches!(raw.type_id, type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3) {
        return None;
    }
    let mut body = raw.payload.get(amf_start(raw)..).unwrap_or_default();
    let (name, transaction_id) = decode_command_header(raw, &mut body).ok()?;
    Some((name, transaction_id.unwrap_or(0.0)))
}

/// Decodes name and transaction id from the front of `body`; no transaction id in a name-only command.
fn decode_command_header(
    raw: &RawMessage,
    body: &mut &[u8],
) -> Result<(String, Option<f64>), MessageError> {
    let amf = |source| MessageError::Amf {
        type_id: raw.type_id,
        source,
    };
    if body.is_empty() {
        return Err(MessageError::MalformedCommand);
    }
    let name = match amf0::decode(body).map_err(amf)? {
        Amf0Value::String(s) | Amf0Value::LongString(s) => s,
        Amf0Value::AvmPlus(Amf3Value::String(s)) => s,
        _ => return Err(MessageError::MalformedCommand),
    };
    // FFmpeg's server answers FCPublish with a bare `onFCPublish`: a name and nothing else.
    if body.is_empty() {
        return Ok((name, None));
    }
    let transaction_id = match amf0::decode(body).map_err(amf)? {
        Amf0Value::Number(n) => n,
        Amf0Value::AvmPlus(Amf3Value::Double(n)) => n,
        Amf0Value::AvmPlus(Amf3Value::Integer(n)) => f64::from(n),
        _ => return Err(MessageError::MalformedCommand),
    };
    Ok((name, Some(transaction_id)))
}

fn parse_command(raw: &RawMessage) -> Result<Message, MessageError> {
    let amf = |source| MessageError::Amf {
        type_id: raw.type_id,
        source,
    };
    let mut body = raw.payload.get(amf_start(raw)..).unwrap_or_default();
    let (name, transaction_id) = decode_command_header(raw, &mut body)?;
    let Some(transaction_id) = transaction_id else {
        return Ok(Message::Command {
            stream_id: raw.stream_id,
            name,
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args: Vec::new(),
        });
    };
    // Some servers end a command after the transaction id.
    let command_object = if body.is_empty() {
        Amf0Value::Null
    } else {
        amf0::decode(&mut body).map_err(amf)?
    };
    let args = amf0::decode_all(body).map_err(amf)?;
    Ok(Message::Command {
        stream_id: raw.stream_id,
        name,
        transaction_id,
        command_object,
        args,
    })
}

/// Splits an aggregate message (type 22) into its sub-messages. Each sub-message is an FLV tag
/// (type, 24-bit size, 24+8-bit timestamp, 24-bit stream id, body, 32-bit back pointer); the
/// first sub-message's timestamp is rebased onto the aggregate's own timestamp and the others
/// keep their offset from it. Bodies are sub-slices of the payload (no copy).
///
/// Sub-messages take the aggregate's stream id (the tags' own is 0 in practice). The back
/// pointers must be present; their values are not checked.
pub fn split_aggregate(raw: &RawMessage) -> Result<Vec<RawMessage>, MessageError> {
    let p = &raw.payload[..];
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first_ts = None;
    while pos < p.len() {
        let malformed = || MessageError::MalformedAggregate;
        let type_id = *p.get(pos).ok_or_else(malformed)?;
        let size = be24(p, pos + 1).ok_or_else(malformed)? as usize;
        let ts_low = be24(p, pos + 4).ok_or_else(malformed)?;
        let ts_high = u32::from(*p.get(pos + 7).ok_or_else(malformed)?);
        // The stream id (3 bytes at pos + 8) is not used.
        let body_start = pos + 11;
        let body_end = body_start.checked_add(size).ok_or_else(malformed)?;
        let next = body_end.checked_add(4).ok_or_else(malformed)?;
        if next > p.len() {
            return Err(malformed());
        }
        let tag_ts = (ts_high << 24) | ts_low;
        let base = *first_ts.get_or_insert(tag_ts);
        out.push(RawMessage {
            type_id,
            timestamp: raw.timestamp.wrapping_add(tag_ts.wrapping_sub(base)),
            stream_id: raw.stream_id,
            payload: raw.payload.slice(body_start..body_end),
        });
        pos = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
