//! The AMF3 decoder and its reference tables.
//!
//! AMF3 lets a value refer back to an earlier string, object or class definition (traits).
//! Referenced values are copied into the result, so a few bytes of references could stand
//! for gigabytes of values, or for a tree far deeper than the input nests. To keep both in
//! check, decoding runs in two steps:
//!
//! 1. [`Decoder::value`] parses the input into a flat table of complex values whose
//!    children name other table entries ([`Item::Entry`]) instead of holding copies. Each
//!    value is parsed and stored once, so this step is linear in the input.
//! 2. [`Decoder::finish`] builds the tree from the table. Every entry built a second time
//!    (because it was referenced) is charged to a budget, and the nesting limit is checked
//!    on the built tree.
//!
//! A value may only refer to entries that are complete, so references cannot form cycles.

use super::super::amf0::{AmfError, MAX_NESTING_DEPTH, take, take_f64, take_u8, take_utf8};
use super::*;

/// How many bytes (roughly, of memory) references may add to the decoded value.
const MAX_EXPANSION: usize = 64 << 20;
/// Rough memory cost of one value node, used for the expansion budget.
const NODE: usize = size_of::<Amf3Value>();

/// A decoded child: either a simple value or a complex one kept in the object table.
pub(super) enum Item {
    Value(Amf3Value),
    Entry(usize),
}

/// A complex value whose children may be table entries.
enum Shape {
    /// XML, dates, byte arrays and number vectors: nothing inside can be a reference.
    Leaf(Amf3Value),
    Array {
        assoc: Vec<(String, Item)>,
        dense: Vec<Item>,
    },
    Object {
        class_name: String,
        properties: Vec<(String, Item)>,
    },
    VectorObject {
        type_name: String,
        items: Vec<Item>,
    },
    Dictionary(Vec<(Item, Item)>),
}

struct Entry {
    shape: Shape,
    /// The entry's own memory, not counting the entries it refers to.
    cost: usize,
}

/// A class definition: the names of its sealed members, and whether dynamic members follow.
#[derive(Clone)]
struct Traits {
    class_name: String,
    sealed: Vec<String>,
    dynamic: bool,
}

pub(super) struct Decoder<'a> {
    pub(super) input: &'a [u8],
    strings: Vec<String>,
    /// `None` while the value is being decoded: it has its index, but is not complete.
    objects: Vec<Option<Entry>>,
    traits: Vec<Traits>,
    /// Bytes added by copying referenced strings and class definitions.
    expanded: usize,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Decoder {
            input,
            strings: Vec::new(),
            objects: Vec::new(),
            traits: Vec::new(),
            expanded: 0,
        }
    }

    /// Decodes one value nested in `depth` containers.
    pub(super) fn value(&mut self, depth: usize) -> Result<Item, AmfError> {
        let marker = take_u8(&mut self.input)?;
        let value = match marker {
            UNDEFINED => Amf3Value::Undefined,
            NULL => Amf3Value::Null,
            FALSE => Amf3Value::Boolean(false),
            TRUE => Amf3Value::Boolean(true),
            INTEGER => {
                // Sign-extend from 29 bits.
                let u = self.u29()?;
                Amf3Value::Integer(((u << 3) as i32) >> 3)
            }
            DOUBLE => Amf3Value::Double(take_f64(&mut self.input)?),
            STRING => Amf3Value::String(self.string()?),
            XML_DOC | XML => {
                let len = match self.header()? {
                    Header::Reference(index) => return Ok(Item::Entry(index)),
                    Header::Inline(len) => len,
                };
                let text = take_utf8(&mut self.input, len)?;
                let cost = NODE + text.len();
                let value = if marker == XML {
                    Amf3Value::Xml(text)
                } else {
                    Amf3Value::XmlDocument(text)
                };
                return Ok(self.push_leaf(value, cost));
            }
            DATE => {
                if let Header::Reference(index) = self.header()? {
                    return Ok(Item::Entry(index));
                }
                let millis = take_f64(&mut self.input)?;
                return Ok(self.push_leaf(Amf3Value::Date(millis), NODE));
            }
            ARRAY => return self.array(depth),
            OBJECT => return self.object(depth),
            BYTE_ARRAY => {
                let len = match self.header()? {
                    Header::Reference(index) => return Ok(Item::Entry(index)),
                    Header::Inline(len) => len,
                };
                let bytes = take(&mut self.input, len)?.to_vec();
                return Ok(self.push_leaf(Amf3Value::ByteArray(bytes), NODE + len));
            }
            VECTOR_INT | VECTOR_UINT | VECTOR_DOUBLE => return self.number_vector(marker),
            VECTOR_OBJECT => return self.object_vector(depth),
            DICTIONARY => return self.dictionary(depth),
            other => return Err(AmfError::UnknownAmf3Marker(other)),
        };
        Ok(Item::Value(value))
    }

    /// Builds the value tree for `item`, which sits in `depth` containers.
    pub(super) fn finish(&self, item: Item, depth: usize) -> Result<Amf3Value, AmfError> {
        let mut builder = Builder {
            objects: &self.objects,
            built: vec![false; self.objects.len()],
            expanded: self.expanded,
        };
        builder.item(&item, depth)
    }

    /// A variable-length 29-bit unsigned integer: up to three bytes of 7 bits, then one of 8.
    fn u29(&mut self) -> Result<u32, AmfError> {
        let mut value = 0u32;
        for _ in 0..3 {
            let byte = take_u8(&mut self.input)?;
            value = (value << 7) | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Ok((value << 8) | u32::from(take_u8(&mut self.input)?))
    }

    /// The U29 that starts every complex value: a reference to an earlier object, or a
    /// length/count for an inline one.
    fn header(&mut self) -> Result<Header, AmfError> {
        let u = self.u29()?;
        if u & 1 == 0 {
            self.check_reference(u >> 1)?;
            Ok(Header::Reference((u >> 1) as usize))
        } else {
            Ok(Header::Inline((u >> 1) as usize))
        }
    }

    /// A reference must name a complete object: one still being decoded would make a cycle.
    fn check_reference(&self, index: u32) -> Result<(), AmfError> {
        match self.objects.get(index as usize) {
            Some(Some(_)) => Ok(()),
            _ => Err(AmfError::BadReference(index)),
        }
    }

    /// UTF-8-vr: an inline string (added to the string table unless empty) or a reference.
    fn string(&mut self) -> Result<String, AmfError> {
        let u = self.u29()?;
        if u & 1 == 0 {
            let index = u >> 1;
            let s = self
                .strings
                .get(index as usize)
                .ok_or(AmfError::BadReference(index))?;
            charge(&mut self.expanded, s.len())?;
            return Ok(s.clone());
        }
        let s = take_utf8(&mut self.input, (u >> 1) as usize)?;
        if !s.is_empty() {
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    /// Claims the next object index before the children are read, as the format requires.
    fn reserve(&mut self) -> usize {
        self.objects.push(None);
        self.objects.len() - 1
    }

    fn complete(&mut self, index: usize, shape: Shape, cost: usize) -> Item {
        if let Some(slot) = self.objects.get_mut(index) {
            *slot = Some(Entry { shape, cost });
        }
        Item::Entry(index)
    }

    fn push_leaf(&mut self, value: Amf3Value, cost: usize) -> Item {
        let index = self.reserve();
        self.complete(index, Shape::Leaf(value), cost)
    }

    /// Name/value pairs up to the empty name; returns them and their cost.
    fn members(&mut self, depth: usize, out: &mut Vec<(String, Item)>) -> Result<usize, AmfError> {
        let mut cost = 0;
        loop {
            let name = self.string()?;
            if name.is_empty() {
                return Ok(cost);
            }
            let value = self.value(depth)?;
            cost += size_of::<String>() + name.len() + item_cost(&value);
            out.push((name, value));
        }
    }

    fn array(&mut self, depth: usize) -> Result<Item, AmfError> {
        let count = match self.header()? {
            Header::Reference(index) => return Ok(Item::Entry(index)),
            Header::Inline(count) => count,
        };
        let inner = enter(depth)?;
        let index = self.reserve();
        let mut assoc = Vec::new();
        let mut cost = NODE + self.members(inner, &mut assoc)?;
        // Every value takes at least one byte, so the input bounds the allocation.
        let mut dense = Vec::with_capacity(count.min(self.input.len()));
        for _ in 0..count {
            let item = self.value(inner)?;
            cost += item_cost(&item);
            dense.push(item);
        }
        Ok(self.complete(index, Shape::Array { assoc, dense }, cost))
    }

    fn object(&mut self, depth: usize) -> Result<Item, AmfError> {
        let u = self.u29()?;
        if u & 1 == 0 {
            self.check_reference(u >> 1)?;
            return Ok(Item::Entry((u >> 1) as usize));
        }
        let inner = enter(depth)?;
        let index = self.reserve();
        let traits = if u & 2 == 0 {
            let traits_index = u >> 2;
            let traits = self
                .traits
                .get(traits_index as usize)
                .ok_or(AmfError::BadReference(traits_index))?;
            let copied = traits.class_name.len()
                + traits
                    .sealed
                    .iter()
                    .map(|n| size_of::<String>() + n.len())
                    .sum::<usize>();
            charge(&mut self.expanded, copied)?;
            traits.clone()
        } else if u & 4 != 0 {
            // The member data of an externalizable class is in a format only that class knows.
            return Err(AmfError::Amf3Externalizable(self.string()?));
        } else {
            let sealed_count = (u >> 4) as usize;
            let class_name = self.string()?;
            // Every name takes at least one byte, so the input bounds the allocation.
            let mut sealed = Vec::with_capacity(sealed_count.min(self.input.len()));
            for _ in 0..sealed_count {
                sealed.push(self.string()?);
            }
            let traits = Traits {
                class_name,
                sealed,
                dynamic: u & 8 != 0,
            };
            self.traits.push(traits.clone());
            traits
        };
        let mut cost = NODE + traits.class_name.len();
        let mut properties = Vec::with_capacity(traits.sealed.len());
        for name in traits.sealed {
            let value = self.value(inner)?;
            cost += size_of::<String>() + name.len() + item_cost(&value);
            properties.push((name, value));
        }
        if traits.dynamic {
            cost += self.members(inner, &mut properties)?;
        }
        Ok(self.complete(
            index,
            Shape::Object {
                class_name: traits.class_name,
                properties,
            },
            cost,
        ))
    }

    fn number_vector(&mut self, marker: u8) -> Result<Item, AmfError> {
        let count = match self.header()? {
            Header::Reference(index) => return Ok(Item::Entry(index)),
            Header::Inline(count) => count,
        };
        let _fixed_length = take_u8(&mut self.input)?;
        let width = if marker == VECTOR_DOUBLE { 8 } else { 4 };
        // The whole body is checked against the input before anything is allocated.
        let body = take(
            &mut self.input,
            count.checked_mul(width).ok_or(AmfError::UnexpectedEnd)?,
        )?;
        let value = match marker {
            VECTOR_INT => Amf3Value::VectorInt(
                body.chunks_exact(4)
                    .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VECTOR_UINT => Amf3Value::VectorUint(
                body.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            _ => Amf3Value::VectorDouble(
                body.chunks_exact(8)
                    .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        };
        Ok(self.push_leaf(value, NODE + body.len()))
    }

    fn object_vector(&mut self, depth: usize) -> Result<Item, AmfError> {
        let count = match self.header()? {
            Header::Reference(index) => return Ok(Item::Entry(index)),
            Header::Inline(count) => count,
        };
        let inner = enter(depth)?;
        let index = self.reserve();
        let _fixed_length = take_u8(&mut self.input)?;
        let type_name = self.string()?;
        let mut cost = NODE + type_name.len();
        let mut items = Vec::with_capacity(count.min(self.input.len()));
        for _ in 0..count {
            let item = self.value(inner)?;
            cost += item_cost(&item);
            items.push(item);
        }
        Ok(self.complete(index, Shape::VectorObject { type_name, items }, cost))
    }

    fn dictionary(&mut self, depth: usize) -> Result<Item, AmfError> {
        let count = match self.header()? {
            Header::Reference(index) => return Ok(Item::Entry(index)),
            Header::Inline(count) => count,
        };
        let inner = enter(depth)?;
        let index = self.reserve();
        let _weak_keys = take_u8(&mut self.input)?;
        let mut cost = NODE;
        // Each pair takes at least two bytes.
        let mut pairs = Vec::with_capacity(count.min(self.input.len() / 2));
        for _ in 0..count {
            let key = self.value(inner)?;
            let value = self.value(inner)?;
            cost += item_cost(&key) + item_cost(&value);
            pairs.push((key, value));
        }
        Ok(self.complete(index, Shape::Dictionary(pairs), cost))
    }
}

enum Header {
    Reference(usize),
    Inline(usize),
}

/// The depth of the children of a container at `depth`, or an error past the limit.
fn enter(depth: usize) -> Result<usize, AmfError> {
    if depth >= MAX_NESTING_DEPTH {
        Err(AmfError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

fn charge(expanded: &mut usize, bytes: usize) -> Result<(), AmfError> {
    *expanded = expanded.saturating_add(bytes);
    if *expanded > MAX_EXPANSION {
        Err(AmfError::TooLarge)
    } else {
        Ok(())
    }
}

/// What an item adds to its parent's cost; table entries are charged on their own.
fn item_cost(item: &Item) -> usize {
    match item {
        Item::Value(Amf3Value::String(s)) => NODE + s.len(),
        Item::Value(_) => NODE,
        Item::Entry(_) => NODE,
    }
}

/// Builds value trees from the object table.
struct Builder<'t> {
    objects: &'t [Option<Entry>],
    /// Entries built once already: building one again is a copy and is charged.
    built: Vec<bool>,
    expanded: usize,
}

impl Builder<'_> {
    fn item(&mut self, item: &Item, depth: usize) -> Result<Amf3Value, AmfError> {
        match item {
            Item::Value(value) => Ok(value.clone()),
            Item::Entry(index) => self.entry(*index, depth),
        }
    }

    fn entry(&mut self, index: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let objects = self.objects;
        let entry = objects
            .get(index)
            .and_then(Option::as_ref)
            .ok_or(AmfError::BadReference(
                u32::try_from(index).unwrap_or(u32::MAX),
            ))?;
        match self.built.get_mut(index) {
            Some(built) if *built => charge(&mut self.expanded, entry.cost)?,
            Some(built) => *built = true,
            None => {}
        }
        // Checked again here: a reference can put a deep value under a deep parent.
        let inner = match entry.shape {
            Shape::Leaf(_) => depth,
            _ => enter(depth)?,
        };
        Ok(match &entry.shape {
            Shape::Leaf(value) => value.clone(),
            Shape::Array { assoc, dense } => Amf3Value::Array {
                assoc: self.members(assoc, inner)?,
                dense: dense
                    .iter()
                    .map(|item| self.item(item, inner))
                    .collect::<Result<_, _>>()?,
            },
            Shape::Object {
                class_name,
                properties,
            } => Amf3Value::Object {
                class_name: class_name.clone(),
                properties: self.members(properties, inner)?,
            },
            Shape::VectorObject { type_name, items } => Amf3Value::VectorObject {
                type_name: type_name.clone(),
                items: items
                    .iter()
                    .map(|item| self.item(item, inner))
                    .collect::<Result<_, _>>()?,
            },
            Shape::Dictionary(pairs) => Amf3Value::Dictionary(
                pairs
                    .iter()
                    .map(|(key, value)| Ok((self.item(key, inner)?, self.item(value, inner)?)))
                    .collect::<Result<_, AmfError>>()?,
            ),
        })
    }

    fn members(
        &mut self,
        members: &[(String, Item)],
        depth: usize,
    ) -> Result<Vec<(String, Amf3Value)>, AmfError> {
        members
            .iter()
            .map(|(name, item)| Ok((name.clone(), self.item(item, depth)?)))
            .collect()
    }
}
