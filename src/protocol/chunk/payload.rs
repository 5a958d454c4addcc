//! A message payload held as an ordered list of byte slices, so that media can travel from the
//! encoder's memory to `writev` without being copied into one buffer first.
//!
//! An FLV tag from the muxer comes in pieces (tag header with the codec header bytes, the
//! encoder's frame, the trailer); its body is then two slices: the codec header bytes and the
//! frame. One and two slices are held inline, more in a `Vec`.

use bytes::{Bytes, BytesMut};

/// The bytes of one message payload, in one or more non-empty parts (none when empty).
///
/// Cloning costs one reference count per part (plus an allocation beyond two parts).
#[derive(Clone, Default)]
pub struct Payload {
    repr: Repr,
    len: usize,
}

#[derive(Clone)]
enum Repr {
    /// Also the empty payload (an empty `Vec` does not allocate).
    Many(Vec<Bytes>),
    One([Bytes; 1]),
    Two([Bytes; 2]),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Many(Vec::new())
    }
}

impl Payload {
    /// The empty payload.
    pub fn new() -> Self {
        Self::default()
    }

    /// A payload made of `parts` in order; empty parts are left out.
    pub fn from_parts(parts: impl IntoIterator<Item = Bytes>) -> Self {
        let mut payload = Self::new();
        for part in parts {
            payload.push(part);
        }
        payload
    }

    /// Appends `part` (ignored when empty).
    pub fn push(&mut self, part: Bytes) {
        if part.is_empty() {
            return;
        }
        self.len += part.len();
        self.repr = match std::mem::take(&mut self.repr) {
            Repr::Many(mut parts) if !parts.is_empty() => {
                parts.push(part);
                Repr::Many(parts)
            }
            Repr::Many(_) => Repr::One([part]),
            Repr::One([a]) => Repr::Two([a, part]),
            Repr::Two([a, b]) => Repr::Many(vec![a, b, part]),
        };
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parts in order, none of them empty.
    pub fn parts(&self) -> &[Bytes] {
        match &self.repr {
            Repr::Many(parts) => parts,
            Repr::One(parts) => parts,
            Repr::Two(parts) => parts,
        }
    }

    /// The byte at `index`, if the payload is that long.
    pub fn get(&self, mut index: usize) -> Option<u8> {
        for part in self.parts() {
            match part.get(index) {
                Some(&byte) => return Some(byte),
                None => index -= part.len(),
            }
        }
        None
    }

    /// The first byte, if any.
    pub fn first(&self) -> Option<u8> {
        self.get(0)
    }

    /// The payload as one `Bytes`: shared when it is in one part, else copied.
    pub fn to_bytes(&self) -> Bytes {
        match self.parts() {
            [] => Bytes::new(),
            [one] => one.clone(),
            parts => {
                let mut out = BytesMut::with_capacity(self.len);
                parts.iter().for_each(|p| out.extend_from_slice(p));
                out.freeze()
            }
        }
    }

    /// Whether both hold the same bytes, however they are split.
    fn same_bytes(&self, other: &Payload) -> bool {
        self.len == other.len
            && self
                .parts()
                .iter()
                .flat_map(|p| p.iter())
                .eq(other.parts().iter().flat_map(|p| p.iter()))
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        let mut payload = Self::new();
        payload.push(bytes);
        payload
    }
}

impl From<Payload> for Bytes {
    fn from(payload: Payload) -> Self {
        payload.to_bytes()
    }
}

/// Equal when the bytes are, whatever the parts.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.same_bytes(other)
    }
}

impl Eq for Payload {}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("len", &self.len)
            .field(
                "parts",
                &self.parts().iter().map(Bytes::len).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_kept_in_order_without_empty_ones() {
        let a = Bytes::from_static(b"abc");
        let b = Bytes::from_static(b"de");
        let c = Bytes::from_static(b"f");
        let mut p = Payload::new();
        assert!(p.is_empty() && p.parts().is_empty());
        p.push(Bytes::new());
        assert!(p.parts().is_empty());
        p.push(a.clone());
        assert_eq!(p.parts(), std::slice::from_ref(&a));
        p.push(Bytes::new());
        p.push(b.clone());
        assert_eq!(p.parts(), [a.clone(), b.clone()]);
        p.push(c.clone());
        assert_eq!(p.parts(), [a.clone(), b, c]);
        assert_eq!(p.len(), 6);
        assert_eq!(p.to_bytes(), Bytes::from_static(b"abcdef"));
        // One part is shared, not copied.
        assert_eq!(Payload::from(a.clone()).to_bytes().as_ptr(), a.as_ptr());
    }

    #[test]
    fn get_reads_across_parts() {
        let p = Payload::from_parts([Bytes::from_static(b"\x17"), Bytes::from_static(b"\x01\x02")]);
        let got: Vec<_> = (0..4).map(|i| p.get(i)).collect();
        assert_eq!(got, [Some(0x17), Some(1), Some(2), None]);
        assert_eq!(p.first(), Some(0x17));
        assert_eq!(Payload::new().first(), None);
    }

    #[test]
    fn equality_is_by_content() {
        let split = Payload::from_parts([Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
        assert_eq!(split, Payload::from(Bytes::from_static(b"abcd")));
        assert_ne!(split, Payload::from(Bytes::from_static(b"abce")));
        assert_ne!(split, Payload::from(Bytes::from_static(b"abc")));
    }
}
