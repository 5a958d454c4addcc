//! AMF0 decoding of arbitrary bytes.
//!
//! Invariants: `decode_all` agrees with repeated `decode`; a decoded value list re-encodes to
//! bytes that decode to the same values (NaN-aware), and encoding that again gives the same
//! bytes; every strict prefix of a value that decodes fails with `UnexpectedEnd` (so a cut
//! value is never mistaken for a bad one or for a different value). The AMF3 inside
//! `avmplus-object` is compared as the AMF3 encoder can carry it.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::{amf0_list_eq, amf0_sendable, peak_bytes, reset_peak};
use gstrtmp::protocol::amf0::{self, AmfError};

fuzz_target!(|data: &[u8]| {
    let baseline = reset_peak();
    let all = amf0::decode_all(data);
    // Decoded values cost more than their bytes, but only by a bounded factor (AMF3 references
    // are charged against their own budget of 64 MiB).
    let held = peak_bytes().saturating_sub(baseline);
    assert!(
        held <= (80 << 20) + 400 * data.len(),
        "{held} bytes for {} input bytes",
        data.len()
    );

    // One value at a time must give the same result.
    let mut rest = data;
    let mut one_by_one = Vec::new();
    let stepwise = loop {
        if rest.is_empty() {
            break Ok(one_by_one);
        }
        let before = rest.len();
        match amf0::decode(&mut rest) {
            Ok(v) => {
                assert!(rest.len() < before, "a value consumed nothing");
                one_by_one.push(v);
            }
            Err(e) => break Err(e),
        }
    };
    match (&all, &stepwise) {
        (Ok(a), Ok(b)) => assert!(amf0_list_eq(a, b)),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("decode_all {all:?} but decode {stepwise:?}"),
    }

    // The first value's strict prefixes are all truncations.
    let mut first = data;
    if data.len() <= 1024 && amf0::decode(&mut first).is_ok() {
        let len = data.len() - first.len();
        for cut in 0..len {
            let mut prefix = &data[..cut];
            assert_eq!(
                amf0::decode(&mut prefix),
                Err(AmfError::UnexpectedEnd),
                "prefix of {cut} of {len} bytes"
            );
        }
    }

    let Ok(values) = all else {
        return;
    };
    let sendable: Vec<_> = values.iter().map(amf0_sendable).collect();
    let mut encoded = BytesMut::new();
    amf0::encode_all(&values, &mut encoded);
    let again = amf0::decode_all(&encoded).expect("re-encoded values must decode");
    assert!(
        amf0_list_eq(&sendable, &again),
        "round trip changed values:\n{sendable:?}\n{again:?}"
    );
    let mut encoded_again = BytesMut::new();
    amf0::encode_all(&again, &mut encoded_again);
    assert_eq!(encoded, encoded_again, "encoding is not stable");
});
