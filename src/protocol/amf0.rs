//! AMF0 (Action Message Format version 0), as used by RTMP commands and data messages.
//!
//! Objects and ECMA arrays keep their property order, since some servers care.
//! AMF0's `avmplus-object` marker switches to AMF3 for one value; see [`super::amf3`].

use bytes::BufMut;

use super::amf3::Amf3Value;

/// Nesting limit for objects and arrays: a peer cannot make us recurse deeper.
pub const MAX_NESTING_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// Encoded as a short string (marker 0x02) when it fits in 65535 bytes, else as a long string (0x0C).
    String(String),
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    /// A reference (marker 0x07) to an earlier complex value, kept as its index.
    Reference(u16),
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the epoch and the (unused, usually 0) time zone field.
    Date {
        millis: f64,
        time_zone: i16,
    },
    /// Marker 0x0C, always encoded as a long string.
    LongString(String),
    Unsupported,
    XmlDocument(String),
    TypedObject {
        class_name: String,
        properties: Vec<(String, Amf0Value)>,
    },
    /// Marker 0x11 followed by one AMF3 value.
    AvmPlus(Amf3Value),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AmfError {
    #[error("AMF data ends early")]
    UnexpectedEnd,
    #[error("unknown AMF0 type marker 0x{0:02x}")]
    UnknownMarker(u8),
    #[error("unknown AMF3 type marker 0x{0:02x}")]
    UnknownAmf3Marker(u8),
    #[error("AMF string is not valid UTF-8")]
    InvalidUtf8,
    #[error("AMF values nested deeper than {MAX_NESTING_DEPTH} levels")]
    TooDeep,
    #[error("AMF3 reference {0} points nowhere")]
    BadReference(u32),
}

impl Amf0Value {
    /// The string inside a String or LongString.
    pub fn as_str(&self) -> Option<&str> {
        todo!()
    }
    pub fn as_number(&self) -> Option<f64> {
        todo!()
    }
    pub fn as_bool(&self) -> Option<bool> {
        todo!()
    }
    /// Properties of an Object, EcmaArray or TypedObject.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        todo!()
    }
    /// The first property named `key` of an Object, EcmaArray or TypedObject.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        todo!()
    }
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Amf0Value, out: &mut impl BufMut) {
    todo!()
}

/// Encodes a sequence of values, as found in a command message body.
pub fn encode_all(values: &[Amf0Value], out: &mut impl BufMut) {
    todo!()
}

/// Decodes one value from the front of `input`, advancing it past the value.
/// Never allocates more than the input can hold: declared lengths are checked against what is left.
pub fn decode(input: &mut &[u8]) -> Result<Amf0Value, AmfError> {
    todo!()
}

/// Decodes values until `input` is exhausted.
pub fn decode_all(mut input: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    todo!()
}
