//! AMF3, the encoding Flash Player 9+ uses; servers send it inside AMF0 `avmplus-object`
//! values and in AMF3 command/data messages (types 17 and 15).
//!
//! Decoding covers every AMF3 type with string, object and trait reference tables.
//! Encoding covers the scalar types, strings, arrays and dynamic anonymous objects.

use bytes::BufMut;

use super::amf0::AmfError;

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

/// Decodes one AMF3 value from the front of `input`, advancing it. Reference tables live for one call.
pub fn decode(input: &mut &[u8]) -> Result<Amf3Value, AmfError> {
    todo!()
}

/// Appends the encoding of `value` (no reference compression).
pub fn encode(value: &Amf3Value, out: &mut impl BufMut) {
    todo!()
}
