//! AMF0 (Action Message Format version 0), as used by RTMP commands and data messages.
//!
//! Objects and ECMA arrays keep their property order, since some servers care.
//! AMF0's `avmplus-object` marker switches to AMF3 for one value; see [`super::amf3`].
//!
//! Decoding is strict about structure (an object or ECMA array must end with the end marker;
//! an ECMA array's count is ignored because encoders get it wrong) and defensive about size:
//! declared lengths are checked against the input before allocating, and nesting is limited.
//! References (marker 0x07) are kept as indices, not resolved.

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
    /// Externalizable objects carry class-specific data that only the class can read.
    #[error("AMF3 externalizable object of class {0:?} cannot be decoded")]
    Amf3Externalizable(String),
    /// AMF3 references repeat earlier values; this caps how much they may expand to.
    #[error("AMF3 references expand to too much data")]
    TooLarge,
}

impl Amf0Value {
    /// The string inside a String or LongString.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }
    /// Properties of an Object, EcmaArray or TypedObject.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(props)
            | Amf0Value::EcmaArray(props)
            | Amf0Value::TypedObject {
                properties: props, ..
            } => Some(props),
            _ => None,
        }
    }
    /// About the memory this value holds: its own size and what it owns on the heap. Queues
    /// of decoded values are bounded by it (decoding can expand AMF3 references, so the wire
    /// size is not the measure).
    pub fn held_bytes(&self) -> usize {
        let props = |p: &[(String, Amf0Value)]| -> usize {
            p.iter()
                .map(|(k, v)| k.len() + v.held_bytes())
                .sum::<usize>()
                + std::mem::size_of_val(p)
        };
        std::mem::size_of::<Self>()
            + match self {
                Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
                    s.len()
                }
                Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => props(p),
                Amf0Value::TypedObject {
                    class_name,
                    properties,
                } => class_name.len() + props(properties),
                Amf0Value::StrictArray(items) => items.iter().map(Self::held_bytes).sum(),
                Amf0Value::AvmPlus(value) => value.held_bytes(),
                Amf0Value::Number(_)
                | Amf0Value::Boolean(_)
                | Amf0Value::Null
                | Amf0Value::Undefined
                | Amf0Value::Reference(_)
                | Amf0Value::Date { .. }
                | Amf0Value::Unsupported => 0,
            }
    }

    /// The first property named `key` of an Object, EcmaArray or TypedObject.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

// Type markers (AMF0 specification, section 2.1).
const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Amf0Value, out: &mut impl BufMut) {
    match value {
        Amf0Value::Number(n) => {
            out.put_u8(NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => {
            if s.len() <= usize::from(u16::MAX) {
                out.put_u8(STRING);
                put_short_utf8(s, out);
            } else {
                out.put_u8(LONG_STRING);
                put_long_utf8(s, out);
            }
        }
        Amf0Value::Object(props) => {
            out.put_u8(OBJECT);
            put_properties(props, out);
        }
        Amf0Value::Null => out.put_u8(NULL),
        Amf0Value::Undefined => out.put_u8(UNDEFINED),
        Amf0Value::Reference(index) => {
            out.put_u8(REFERENCE);
            out.put_u16(*index);
        }
        Amf0Value::EcmaArray(props) => {
            out.put_u8(ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            put_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            // The count field is 32 bits; a longer vector is cut so count and items agree.
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.put_u8(STRICT_ARRAY);
            out.put_u32(count);
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date { millis, time_zone } => {
            out.put_u8(DATE);
            out.put_f64(*millis);
            out.put_i16(*time_zone);
        }
        Amf0Value::LongString(s) => {
            out.put_u8(LONG_STRING);
            put_long_utf8(s, out);
        }
        Amf0Value::Unsupported => out.put_u8(UNSUPPORTED),
        Amf0Value::XmlDocument(s) => {
            out.put_u8(XML_DOCUMENT);
            put_long_utf8(s, out);
        }
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            out.put_u8(TYPED_OBJECT);
            put_short_utf8(class_name, out);
            put_properties(properties, out);
        }
        Amf0Value::AvmPlus(value) => {
            out.put_u8(AVMPLUS);
            super::amf3::encode(value, out);
        }
    }
}

/// Encodes a sequence of values, as found in a command message body.
pub fn encode_all(values: &[Amf0Value], out: &mut impl BufMut) {
    for value in values {
        encode(value, out);
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary: lengths that do not fit their
/// field cannot be encoded, and a shorter string beats a corrupt stream.
pub(super) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// UTF-8 with a 16-bit length (property names, class names, short strings).
fn put_short_utf8(s: &str, out: &mut impl BufMut) {
    let s = truncate_utf8(s, usize::from(u16::MAX));
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

/// UTF-8 with a 32-bit length (long strings, XML).
fn put_long_utf8(s: &str, out: &mut impl BufMut) {
    let s = truncate_utf8(s, u32::MAX as usize);
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

fn put_properties(props: &[(String, Amf0Value)], out: &mut impl BufMut) {
    for (key, value) in props {
        put_short_utf8(key, out);
        encode(value, out);
    }
    // An empty name followed by the object-end marker closes the list.
    out.put_u16(0);
    out.put_u8(OBJECT_END);
}

/// Decodes one value from the front of `input`, advancing it past the value.
/// Never allocates more than the input can hold: declared lengths are checked against what is left.
pub fn decode(input: &mut &[u8]) -> Result<Amf0Value, AmfError> {
    decode_at(input, 0)
}

/// Decodes values until `input` is exhausted.
pub fn decode_all(mut input: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    let mut values = Vec::new();
    while !input.is_empty() {
        values.push(decode(&mut input)?);
    }
    Ok(values)
}

/// `depth` counts the containers around the value being decoded.
fn decode_at(input: &mut &[u8], depth: usize) -> Result<Amf0Value, AmfError> {
    let marker = take_u8(input)?;
    Ok(match marker {
        NUMBER => Amf0Value::Number(take_f64(input)?),
        BOOLEAN => Amf0Value::Boolean(take_u8(input)? != 0),
        STRING => Amf0Value::String(take_short_utf8(input)?),
        OBJECT => Amf0Value::Object(take_properties(input, enter(depth)?)?),
        NULL => Amf0Value::Null,
        UNDEFINED => Amf0Value::Undefined,
        REFERENCE => Amf0Value::Reference(take_u16(input)?),
        ECMA_ARRAY => {
            // The count is only a hint (encoders get it wrong); the end marker decides.
            take(input, 4)?;
            Amf0Value::EcmaArray(take_properties(input, enter(depth)?)?)
        }
        STRICT_ARRAY => {
            let inner = enter(depth)?;
            let count = take_u32(input)? as usize;
            // Every value takes at least one byte, so the input bounds the allocation.
            let mut items = Vec::with_capacity(count.min(input.len()));
            for _ in 0..count {
                items.push(decode_at(input, inner)?);
            }
            Amf0Value::StrictArray(items)
        }
        DATE => {
            let millis = take_f64(input)?;
            let time_zone = take_u16(input)? as i16;
            Amf0Value::Date { millis, time_zone }
        }
        LONG_STRING => Amf0Value::LongString(take_long_utf8(input)?),
        UNSUPPORTED => Amf0Value::Unsupported,
        XML_DOCUMENT => Amf0Value::XmlDocument(take_long_utf8(input)?),
        TYPED_OBJECT => {
            let inner = enter(depth)?;
            let class_name = take_short_utf8(input)?;
            let properties = take_properties(input, inner)?;
            Amf0Value::TypedObject {
                class_name,
                properties,
            }
        }
        AVMPLUS => Amf0Value::AvmPlus(super::amf3::decode_at_depth(input, depth)?),
        // 0x04 movieclip and 0x0E recordset are reserved; 0x09 is only valid inside a property list.
        other => return Err(AmfError::UnknownMarker(other)),
    })
}

/// The depth of the children of a container at `depth`, or an error past the limit.
fn enter(depth: usize) -> Result<usize, AmfError> {
    if depth >= MAX_NESTING_DEPTH {
        Err(AmfError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Name/value pairs up to the empty name + object-end marker; values are at `depth`.
fn take_properties(input: &mut &[u8], depth: usize) -> Result<Vec<(String, Amf0Value)>, AmfError> {
    let mut props = Vec::new();
    loop {
        let key = take_short_utf8(input)?;
        if key.is_empty() && input.first() == Some(&OBJECT_END) {
            *input = &input[1..];
            return Ok(props);
        }
        let value = decode_at(input, depth)?;
        props.push((key, value));
    }
}

/// Splits `n` bytes off the front of `input`.
pub(super) fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], AmfError> {
    if input.len() < n {
        return Err(AmfError::UnexpectedEnd);
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], AmfError> {
    let mut bytes = [0; N];
    bytes.copy_from_slice(take(input, N)?);
    Ok(bytes)
}

pub(super) fn take_u8(input: &mut &[u8]) -> Result<u8, AmfError> {
    Ok(take_array::<1>(input)?[0])
}

fn take_u16(input: &mut &[u8]) -> Result<u16, AmfError> {
    Ok(u16::from_be_bytes(take_array(input)?))
}

fn take_u32(input: &mut &[u8]) -> Result<u32, AmfError> {
    Ok(u32::from_be_bytes(take_array(input)?))
}

pub(super) fn take_f64(input: &mut &[u8]) -> Result<f64, AmfError> {
    Ok(f64::from_be_bytes(take_array(input)?))
}

/// `n` bytes of UTF-8, checked against the input before anything is allocated.
pub(super) fn take_utf8(input: &mut &[u8], n: usize) -> Result<String, AmfError> {
    let bytes = take(input, n)?;
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| AmfError::InvalidUtf8)
}

fn take_short_utf8(input: &mut &[u8]) -> Result<String, AmfError> {
    let len = take_u16(input)?;
    take_utf8(input, usize::from(len))
}

fn take_long_utf8(input: &mut &[u8]) -> Result<String, AmfError> {
    let len = take_u32(input)?;
    take_utf8(input, len as usize)
}

#[cfg(test)]
pub(super) mod test_data;
#[cfg(test)]
mod tests;
