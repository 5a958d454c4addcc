//! Helpers shared by the fuzz targets: NaN-aware value equality, a heap meter, a small PRNG
//! for split points, hex decoding for building inputs, and the handshake digests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::amf3::Amf3Value;

/// Counts live heap bytes so that targets can check what the code under test keeps.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Heap bytes live now (Rust allocations only).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new measurement: the peak is reset to what is live now, which is returned.
pub fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The highest live byte count since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Floats compare by bits: NaN equals the same NaN, and 0.0 differs from -0.0.
pub fn f64_eq(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn props_eq<T>(a: &[(String, T)], b: &[(String, T)], eq: fn(&T, &T) -> bool) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && eq(va, vb))
}

fn list_eq<T>(a: &[T], b: &[T], eq: fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| eq(x, y))
}

/// Structural equality with [`f64_eq`] for every float.
pub fn amf0_eq(a: &Amf0Value, b: &Amf0Value) -> bool {
    use Amf0Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => f64_eq(*x, *y),
        (
            V::Date {
                millis: x,
                time_zone: tx,
            },
            V::Date {
                millis: y,
                time_zone: ty,
            },
        ) => f64_eq(*x, *y) && tx == ty,
        (V::Object(x), V::Object(y)) | (V::EcmaArray(x), V::EcmaArray(y)) => {
            props_eq(x, y, amf0_eq)
        }
        (V::StrictArray(x), V::StrictArray(y)) => list_eq(x, y, amf0_eq),
        (
            V::TypedObject {
                class_name: cx,
                properties: px,
            },
            V::TypedObject {
                class_name: cy,
                properties: py,
            },
        ) => cx == cy && props_eq(px, py, amf0_eq),
        (V::AvmPlus(x), V::AvmPlus(y)) => amf3_eq(x, y),
        _ => a == b,
    }
}

pub fn amf0_list_eq(a: &[Amf0Value], b: &[Amf0Value]) -> bool {
    list_eq(a, b, amf0_eq)
}

/// Structural equality with [`f64_eq`] for every float.
pub fn amf3_eq(a: &Amf3Value, b: &Amf3Value) -> bool {
    use Amf3Value as V;
    match (a, b) {
        (V::Double(x), V::Double(y)) | (V::Date(x), V::Date(y)) => f64_eq(*x, *y),
        (V::VectorDouble(x), V::VectorDouble(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| f64_eq(*p, *q))
        }
        (
            V::Array {
                assoc: ax,
                dense: dx,
            },
            V::Array {
                assoc: ay,
                dense: dy,
            },
        ) => props_eq(ax, ay, amf3_eq) && list_eq(dx, dy, amf3_eq),
        (
            V::Object {
                class_name: cx,
                properties: px,
            },
            V::Object {
                class_name: cy,
                properties: py,
            },
        ) => cx == cy && props_eq(px, py, amf3_eq),
        (
            V::VectorObject {
                type_name: tx,
                items: ix,
            },
            V::VectorObject {
                type_name: ty,
                items: iy,
            },
        ) => tx == ty && list_eq(ix, iy, amf3_eq),
        (V::Dictionary(x), V::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| amf3_eq(kx, ky) && amf3_eq(vx, vy))
        }
        _ => a == b,
    }
}

/// What the AMF3 encoder can carry of `v`: it writes every property as a dynamic member, and
/// a member with an empty name cannot be written (it would end the list), so it is dropped.
pub fn amf3_sendable(v: &Amf3Value) -> Amf3Value {
    use Amf3Value as V;
    let members = |props: &[(String, V)]| -> Vec<(String, V)> {
        props
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), amf3_sendable(v)))
            .collect()
    };
    match v {
        V::Array { assoc, dense } => V::Array {
            assoc: members(assoc),
            dense: dense.iter().map(amf3_sendable).collect(),
        },
        V::Object {
            class_name,
            properties,
        } => V::Object {
            class_name: class_name.clone(),
            properties: members(properties),
        },
        V::VectorObject { type_name, items } => V::VectorObject {
            type_name: type_name.clone(),
            items: items.iter().map(amf3_sendable).collect(),
        },
        V::Dictionary(pairs) => V::Dictionary(
            pairs
                .iter()
                .map(|(k, v)| (amf3_sendable(k), amf3_sendable(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Same as [`amf3_sendable`], through AMF0 values (for `avmplus-object`).
pub fn amf0_sendable(v: &Amf0Value) -> Amf0Value {
    use Amf0Value as V;
    let props = |p: &[(String, V)]| {
        p.iter()
            .map(|(k, v)| (k.clone(), amf0_sendable(v)))
            .collect()
    };
    match v {
        V::Object(p) => V::Object(props(p)),
        V::EcmaArray(p) => V::EcmaArray(props(p)),
        V::StrictArray(items) => V::StrictArray(items.iter().map(amf0_sendable).collect()),
        V::TypedObject {
            class_name,
            properties,
        } => V::TypedObject {
            class_name: class_name.clone(),
            properties: props(properties),
        },
        V::AvmPlus(x) => V::AvmPlus(amf3_sendable(x)),
        other => other.clone(),
    }
}

/// xorshift64*: split points and schedules from a seed taken out of the input.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Ways to cut `len` bytes into pieces, as lists of piece lengths: whole, byte by byte (for short
/// inputs), every cut into two (for short inputs, else a sample), and random pieces.
pub fn split_plans(len: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut plans = vec![vec![len]];
    if len <= 2048 {
        plans.push(vec![1; len]);
    }
    let cuts: Vec<usize> = if len <= 256 {
        (1..len).collect()
    } else {
        (1..32).map(|i| i * len / 32).collect()
    };
    plans.extend(cuts.into_iter().map(|c| vec![c, len - c]));
    let mut rng = Rng::new(seed);
    for _ in 0..4 {
        let mut plan = Vec::new();
        let mut left = len;
        while left > 0 {
            let max = [3usize, 17, 200, 5000][rng.below(4)];
            let n = (1 + rng.below(max)).min(left);
            plan.push(n);
            left -= n;
        }
        plans.push(plan);
    }
    plans
}

/// The handshake digests as Flash Player and FMS compute them, written apart from the crate's own
/// code so that the handshake targets check it rather than repeat it.
pub mod digest {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub const TAIL: [u8; 32] = [
        0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E,
        0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB,
        0x31, 0xAE,
    ];

    pub fn key(text: &[u8]) -> Vec<u8> {
        [text, &TAIL].concat()
    }

    pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub fn offset(block: &[u8], base: usize) -> usize {
        block[base..base + 4]
            .iter()
            .map(|&b| b as usize)
            .sum::<usize>()
            % 728
            + base
            + 4
    }

    pub fn block_digest(block: &[u8], key: &[u8], base: usize) -> [u8; 32] {
        let off = offset(block, base);
        hmac(key, &[&block[..off], &block[off + 32..]])
    }
}
