//! Typed RTMP messages: protocol control (types 1-6), user control events (4), commands (20 AMF0,
//! 17 AMF3), data (18 AMF0, 15 AMF3), audio (8), video (9) and aggregate (22) messages, with
//! conversions to and from [`RawMessage`].

use bytes::Bytes;

use super::amf0::{Amf0Value, AmfError};
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
    #[error("command message without a name or transaction id")]
    MalformedCommand,
    #[error("aggregate message is malformed")]
    MalformedAggregate,
}

impl Message {
    /// Parses a raw message. Aggregate messages are not handled here: see [`split_aggregate`].
    pub fn parse(raw: RawMessage) -> Result<Message, MessageError> {
        todo!()
    }

    /// Encodes the message; `timestamp`/`stream_id` of control and command messages come from the
    /// arguments (control messages use stream 0 and timestamp 0 by convention).
    pub fn to_raw(&self, timestamp: u32, stream_id: u32) -> RawMessage {
        todo!()
    }
}

/// Splits an aggregate message (type 22) into its sub-messages. Each sub-message is an FLV tag
/// (type, 24-bit size, 24+8-bit timestamp, 24-bit stream id, body, 32-bit back pointer); the
/// first sub-message's timestamp is rebased onto the aggregate's own timestamp and the others
/// keep their offset from it. Bodies are sub-slices of the payload (no copy).
pub fn split_aggregate(raw: &RawMessage) -> Result<Vec<RawMessage>, MessageError> {
    todo!()
}
