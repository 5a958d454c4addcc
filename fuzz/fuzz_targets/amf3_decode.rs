//! AMF3 decoding of arbitrary bytes, on its own and inside AMF0's `avmplus-object`.
//!
//! Invariants: decoding consumes at least one byte or fails; what decodes re-encodes (without
//! references) to bytes that decode to the same value, as far as the encoder can carry it
//! (members with empty names are dropped, see `amf3_sendable`), and encoding is stable; the
//! decoder's memory stays within its expansion budget whatever the references say; the AMF0
//! switch gives the same value as a direct decode at depth 0.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::{amf3_eq, amf3_sendable, peak_bytes, reset_peak};
use gstrtmp::protocol::amf0::{self, Amf0Value};
use gstrtmp::protocol::amf3;

fuzz_target!(|data: &[u8]| {
    let baseline = reset_peak();
    let mut rest = data;
    let decoded = amf3::decode(&mut rest);
    let held = peak_bytes().saturating_sub(baseline);
    // References may expand to 64 MiB of values (MAX_EXPANSION); the rest is linear in the input.
    assert!(
        held <= (80 << 20) + 400 * data.len(),
        "{held} bytes for {} input bytes",
        data.len()
    );

    // Through AMF0: marker 0x11 then the same bytes.
    let mut wrapped = vec![0x11];
    wrapped.extend_from_slice(data);
    let mut wrapped_rest = &wrapped[..];
    let via_amf0 = amf0::decode(&mut wrapped_rest);
    match (&decoded, &via_amf0) {
        (Ok(a), Ok(Amf0Value::AvmPlus(b))) => {
            assert!(amf3_eq(a, b));
            assert_eq!(rest.len(), wrapped_rest.len());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("amf3 {decoded:?} but avmplus {via_amf0:?}"),
    }

    let Ok(value) = decoded else {
        return;
    };
    assert!(rest.len() < data.len());
    let mut encoded = BytesMut::new();
    amf3::encode(&value, &mut encoded);
    let mut input = &encoded[..];
    let again = amf3::decode(&mut input).expect("re-encoded value must decode");
    assert!(
        input.is_empty(),
        "re-encoded value left {} bytes",
        input.len()
    );
    let sendable = amf3_sendable(&value);
    assert!(
        amf3_eq(&sendable, &again),
        "round trip changed the value:\n{sendable:?}\n{again:?}"
    );
    let mut encoded_again = BytesMut::new();
    amf3::encode(&again, &mut encoded_again);
    assert_eq!(encoded, encoded_again, "encoding is not stable");
});
