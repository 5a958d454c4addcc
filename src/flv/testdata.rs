//! Real byte excerpts shared by the FLV tests, and a hex helper.
//!
//! Captured from `ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i
//! sine=sample_rate=44100 -t 1 -c:v libx264 -bf 2 -c:a aac -ac 1 -f flv` (libx264 core 164,
//! Lavf59.27.100), and the same with `-c:a libmp3lame`.

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An FLV stream cut from the AAC capture: file header, onMetaData (293 bytes), AVC sequence
/// header (51), AAC sequence header (7), a B-frame at 240 ms (33), the last AAC frame at
/// 1078 ms (7) and the AVC end of sequence at 960 ms (5). Tags are verbatim, PreviousTagSizes
/// included.
pub(crate) const FLV_EXCERPT: &str = concat!(
    "464c5601050000000900000000120001250000000000000002000a6f6e4d65746144617461080000000d000864757261",
    "74696f6e003ff147ae147ae14800057769647468004074000000000000000668656967687400406e000000000000000d",
    "766964656f646174617261746500000000000000000000096672616d6572617465004039000000000000000c76696465",
    "6f636f646563696400401c000000000000000d617564696f6461746172617465004050d88000000000000f617564696f",
    "73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673",
    "746572656f0100000c617564696f636f64656369640040240000000000000007656e636f64657202000d4c6176663539",
    "2e32372e313030000866696c6573697a650040d1b9000000000000000900000130090000330000000000000017000000",
    "0001f4000dffe1001967f4000d919b28283f6022000003000200000300641e28532c01000668ebe3c44844fff8f80000",
    "00003e0800000700000000000000af00120856e50000000012090000210000f000000000270100002800000018019ea5",
    "6a42bf0148b21bb2d1f5641825975fc2a7b770b7810000002c0800000700043600000000af01011881b4700000001209",
    "0000050003c000000000170200000000000010",
);

/// AVC sequence header tag body (libx264, High 4:4:4 Predictive, level 1.3, 320x240).
pub(crate) const AVC_SEQUENCE_HEADER_BODY: &str = "170000000001f4000dffe1001967f4000d919b28283f602200\
    0003000200000300641e28532c01000668ebe3c44844fff8f800";

/// AVC sequence header tag body (libx264, High 4:2:0, level 1.3, 330x190 at 30 fps, cropped).
pub(crate) const AVC_SEQUENCE_HEADER_330X190_BODY: &str = "17000000000164000dffe1001a6764000dacd941\
    519e4ac044000003000400000300f03c50a65801000668ebe3cb22c0fdf8f800";

/// The start of a B-frame tag body: inter frame, AVCPacketType 1, cts +40 ms.
pub(crate) const AVC_B_FRAME_BODY_START: &str = "270100002800000018019ea5";

/// AAC sequence header tag body: AAC-LC, 44100 Hz, mono, with ffmpeg's implicit-SBR
/// sync extension (0x2b7, `56e500`).
pub(crate) const AAC_SEQUENCE_HEADER_BODY: &str = "af00120856e500";

/// First bytes of an MP3 tag body from the libmp3lame capture: flags 0x2e (MP3, 44 kHz, 16-bit,
/// mono), then an MPEG-1 layer III header at 44100 Hz, mono.
pub(crate) const MP3_44K_MONO_BODY_START: &str = "2efffb50c400000a2c432e5594800181";

/// First bytes of an MP3 tag body from `sine=sample_rate=22050 -ac 2 -c:a libmp3lame`:
/// flags 0x2b (MP3, 22 kHz, 16-bit, stereo), then an MPEG-2 layer III header, joint stereo.
pub(crate) const MP3_22K_STEREO_BODY_START: &str = "2bfff38064000d78";

/// The onMetaData script body of the AAC capture (first tag of [`FLV_EXCERPT`]).
pub(crate) fn on_metadata_body() -> Vec<u8> {
    let all = hex(FLV_EXCERPT);
    all[13 + 11..13 + 11 + 293].to_vec()
}
