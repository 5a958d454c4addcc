//! Byte vectors for the AMF tests.

/// The body of the first script tag (type 18) of an FLV written by
/// `ffmpeg -re -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine -t 2 -c:v libx264 -c:a aac -f flv x.flv`
/// (Lavf59.27.100): `"onMetaData"` and an ECMA array of 13 properties. ffmpeg rewrites
/// `duration` and `filesize` at the end when the output is seekable.
pub(in crate::protocol) const FFMPEG_ON_METADATA: &str = concat!(
    "02000a6f6e4d65746144617461080000000d00086475726174696f6e004000a3d70a3d70a400057769647468",
    "004074000000000000000668656967687400406e000000000000000d766964656f646174617261746500000000",
    "000000000000096672616d6572617465004039000000000000000c766964656f636f646563696400401c000000",
    "000000000d617564696f6461746172617465004050d88000000000000f617564696f73616d706c657261746500",
    "40e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673746572656f010000",
    "0c617564696f636f64656369640040240000000000000007656e636f64657202000d4c61766635392e32372e31",
    "3030000866696c6573697a650040df9ec000000000000009",
);

/// Bytes from a hex string; whitespace is ignored so vectors can be laid out by field.
pub(in crate::protocol) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}
