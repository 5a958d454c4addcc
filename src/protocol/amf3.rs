//! AMF3, the encoding Flash Player 9+ uses; servers send it inside AMF0 `avmplus-object`
//! values and in AMF3 command/data messages (types 17 and 15).
//!
//! Decoding covers every AMF3 type with string, object and trait reference tables. Referenced
//! values are copied into the tree, within a budget and the shared nesting limit (see
//! `decode.rs`); externalizable objects cannot be read without their class and are refused.
//!
//! Encoding writes every type inline, without reference compression. Objects always go out
//! as dynamic objects (traits with no sealed members), so a class name survives but the
//! sealed/dynamic split does not. Integers outside the 29-bit range become doubles.

use bytes::BufMut;

use super::amf0::{AmfError, truncate_utf8};

#[derive(Debug, Clone, PartialEq)]
pub enum Amf3Value {
    Undefined,
    Null,
    Boolean(bool),
    /// U29 signed integer (29-bit range).
    Integer(i32),
    Double(f64),
    String(String),
    XmlDocument(String),
    Date(f64),
    /// Associative part (in order) and dense part.
    Array {
        assoc: Vec<(String, Amf3Value)>,
        dense: Vec<Amf3Value>,
    },
    /// `class_name` is empty for anonymous objects; sealed then dynamic members, in order.
    Object {
        class_name: String,
        properties: Vec<(String, Amf3Value)>,
    },
    Xml(String),
    ByteArray(Vec<u8>),
    /// Vector types and dictionaries are kept as raw element lists.
    VectorInt(Vec<i32>),
    VectorUint(Vec<u32>),
    VectorDouble(Vec<f64>),
    VectorObject {
        type_name: String,
        items: Vec<Amf3Value>,
    },
    Dictionary(Vec<(Amf3Value, Amf3Value)>),
}

impl Amf3Value {
    /// About the memory this value holds, as [`Amf0Value::held_bytes`](super::amf0::Amf0Value::held_bytes).
    pub fn held_bytes(&self) -> usize {
        use std::mem::size_of_val;
        let members = |m: &[(String, Amf3Value)]| -> usize {
            m.iter()
                .map(|(k, v)| k.len() + v.held_bytes())
                .sum::<usize>()
                + size_of_val(m)
        };
        let values = |v: &[Amf3Value]| -> usize { v.iter().map(Self::held_bytes).sum() };
        std::mem::size_of::<Self>()
            + match self {
                Amf3Value::String(s) | Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => s.len(),
                Amf3Value::Array { assoc, dense } => members(assoc) + values(dense),
                Amf3Value::Object {
                    class_name,
                    properties,
                } => class_name.len() + members(properties),
                Amf3Value::ByteArray(b) => b.len(),
                Amf3Value::VectorInt(v) => size_of_val(&v[..]),
                Amf3Value::VectorUint(v) => size_of_val(&v[..]),
                Amf3Value::VectorDouble(v) => size_of_val(&v[..]),
                Amf3Value::VectorObject { type_name, items } => type_name.len() + values(items),
                Amf3Value::Dictionary(pairs) => pairs
                    .iter()
                    .map(|(k, v)| k.held_bytes() + v.held_bytes())
                    .sum(),
                Amf3Value::Undefined
                | Amf3Value::Null
                | Amf3Value::Boolean(_)
                | Amf3Value::Integer(_)
                | Amf3Value::Double(_)
                | Amf3Value::Date(_) => 0,
            }
    }
}

/// Decodes one AMF3 value from the front of `input`, advancing it. Reference tables live for one call.
pub fn decode(input: &mut &[u8]) -> Result<Amf3Value, AmfError> {
    decode_at_depth(input, 0)
}

/// Appends the encoding of `value` (no reference compression).
pub fn encode(value: &Amf3Value, out: &mut impl BufMut) {
    match value {
        Amf3Value::Undefined => out.put_u8(UNDEFINED),
        Amf3Value::Null => out.put_u8(NULL),
        Amf3Value::Boolean(false) => out.put_u8(FALSE),
        Amf3Value::Boolean(true) => out.put_u8(TRUE),
        Amf3Value::Integer(i) if (U29_MIN..=U29_MAX).contains(i) => {
            out.put_u8(INTEGER);
            put_u29(*i as u32, out);
        }
        // The spec sends integers outside the 29-bit range as doubles.
        Amf3Value::Integer(i) => {
            out.put_u8(DOUBLE);
            out.put_f64(f64::from(*i));
        }
        Amf3Value::Double(d) => {
            out.put_u8(DOUBLE);
            out.put_f64(*d);
        }
        Amf3Value::String(s) => {
            out.put_u8(STRING);
            put_utf8(s, out);
        }
        Amf3Value::XmlDocument(s) => {
            out.put_u8(XML_DOC);
            put_utf8(s, out);
        }
        Amf3Value::Date(millis) => {
            out.put_u8(DATE);
            put_u29(1, out);
            out.put_f64(*millis);
        }
        Amf3Value::Array { assoc, dense } => {
            out.put_u8(ARRAY);
            let count = put_count(dense.len(), out);
            put_dynamic_members(assoc, out);
            for item in &dense[..count] {
                encode(item, out);
            }
        }
        Amf3Value::Object {
            class_name,
            properties,
        } => {
            // Inline object, inline traits, not externalizable, dynamic, no sealed members:
            // every property travels as a dynamic member.
            out.put_u8(OBJECT);
            put_u29(0x0B, out);
            put_utf8(class_name, out);
            put_dynamic_members(properties, out);
        }
        Amf3Value::Xml(s) => {
            out.put_u8(XML);
            put_utf8(s, out);
        }
        Amf3Value::ByteArray(bytes) => {
            out.put_u8(BYTE_ARRAY);
            let len = put_count(bytes.len(), out);
            out.put_slice(&bytes[..len]);
        }
        Amf3Value::VectorInt(items) => {
            out.put_u8(VECTOR_INT);
            let count = put_count(items.len(), out);
            out.put_u8(0); // not fixed-length
            items[..count].iter().for_each(|i| out.put_i32(*i));
        }
        Amf3Value::VectorUint(items) => {
            out.put_u8(VECTOR_UINT);
            let count = put_count(items.len(), out);
            out.put_u8(0);
            items[..count].iter().for_each(|u| out.put_u32(*u));
        }
        Amf3Value::VectorDouble(items) => {
            out.put_u8(VECTOR_DOUBLE);
            let count = put_count(items.len(), out);
            out.put_u8(0);
            items[..count].iter().for_each(|d| out.put_f64(*d));
        }
        Amf3Value::VectorObject { type_name, items } => {
            out.put_u8(VECTOR_OBJECT);
            let count = put_count(items.len(), out);
            out.put_u8(0);
            put_utf8(type_name, out);
            for item in &items[..count] {
                encode(item, out);
            }
        }
        Amf3Value::Dictionary(pairs) => {
            out.put_u8(DICTIONARY);
            let count = put_count(pairs.len(), out);
            out.put_u8(0); // strong keys
            for (key, value) in &pairs[..count] {
                encode(key, out);
                encode(value, out);
            }
        }
    }
}

// Type markers (AMF3 specification, section 3.1).
const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;
const XML_DOC: u8 = 0x07;
const DATE: u8 = 0x08;
const ARRAY: u8 = 0x09;
const OBJECT: u8 = 0x0A;
const XML: u8 = 0x0B;
const BYTE_ARRAY: u8 = 0x0C;
const VECTOR_INT: u8 = 0x0D;
const VECTOR_UINT: u8 = 0x0E;
const VECTOR_DOUBLE: u8 = 0x0F;
const VECTOR_OBJECT: u8 = 0x10;
const DICTIONARY: u8 = 0x11;

const U29_MIN: i32 = -(1 << 28);
const U29_MAX: i32 = (1 << 28) - 1;
/// Largest length or count that fits a U29 next to its inline flag bit.
const MAX_U29_LENGTH: usize = (1 << 28) - 1;

/// Writes the 1-4 byte variable-length U29 form of the low 29 bits of `v`.
fn put_u29(v: u32, out: &mut impl BufMut) {
    let v = v & 0x1FFF_FFFF;
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v < 0x4000 {
        out.put_slice(&[(v >> 7) as u8 | 0x80, (v & 0x7F) as u8]);
    } else if v < 0x20_0000 {
        out.put_slice(&[
            (v >> 14) as u8 | 0x80,
            (v >> 7) as u8 | 0x80,
            (v & 0x7F) as u8,
        ]);
    } else {
        // The fourth byte carries 8 bits, not 7.
        out.put_slice(&[
            (v >> 22) as u8 | 0x80,
            (v >> 15) as u8 | 0x80,
            (v >> 8) as u8 | 0x80,
            v as u8,
        ]);
    }
}

/// Writes an inline length/count (`len << 1 | 1`), capped to what U29 can hold; returns the
/// count actually written so the caller writes exactly that many items.
fn put_count(len: usize, out: &mut impl BufMut) -> usize {
    let len = len.min(MAX_U29_LENGTH);
    put_u29(((len as u32) << 1) | 1, out);
    len
}

/// UTF-8-vr without references; an over-long string is cut on a character boundary.
fn put_utf8(s: &str, out: &mut impl BufMut) {
    let s = truncate_utf8(s, MAX_U29_LENGTH);
    put_count(s.len(), out);
    out.put_slice(s.as_bytes());
}

/// Name/value pairs closed by the empty string. An empty name would end the list early, so
/// such a pair cannot be sent and is skipped.
fn put_dynamic_members(members: &[(String, Amf3Value)], out: &mut impl BufMut) {
    for (name, value) in members.iter().filter(|(name, _)| !name.is_empty()) {
        put_utf8(name, out);
        encode(value, out);
    }
    put_u29(1, out);
}

/// Decodes one AMF3 value nested in `depth` containers (AMF0 ones included, for the
/// `avmplus-object` switch), so the nesting limit covers both encodings.
pub(super) fn decode_at_depth(input: &mut &[u8], depth: usize) -> Result<Amf3Value, AmfError> {
    let mut decoder = decode::Decoder::new(input);
    let item = decoder.value(depth)?;
    let value = decoder.finish(item, depth)?;
    *input = decoder.input;
    Ok(value)
}

mod decode;
#[cfg(test)]
mod tests;
