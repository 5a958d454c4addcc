//! The VPCodecConfigurationRecord (vpcC, VP Codec ISO Media File Format Binding 2.2) of a VP9
//! stream, built from its caps: GStreamer's VP9 caps carry no codec_data, but profile, chroma
//! format, bit depth and colorimetry are all there.

use bytes::Bytes;

use crate::flv::FlvError;

/// VP9 levels (Annex A): level, maximum luma sample rate, maximum luma picture size.
const LEVELS: [(u8, u64, u64); 14] = [
    (10, 829_440, 36_864),
    (11, 2_764_800, 73_728),
    (20, 4_608_000, 122_880),
    (21, 9_216_000, 245_760),
    (30, 20_736_000, 552_960),
    (31, 36_864_000, 983_040),
    (40, 83_558_400, 2_228_224),
    (41, 160_432_128, 2_228_224),
    (50, 311_951_360, 8_912_896),
    (51, 588_251_136, 8_912_896),
    (52, 1_176_502_272, 8_912_896),
    (60, 1_176_502_272, 35_651_584),
    (61, 2_353_004_544, 35_651_584),
    (62, 4_706_009_088, 35_651_584),
];

/// The lowest level that holds the picture size and sample rate; 0 (undefined) without a size.
fn level(width: Option<u32>, height: Option<u32>, fps: Option<gst::Fraction>) -> u8 {
    let (Some(w), Some(h)) = (width, height) else {
        return 0;
    };
    let picture = u64::from(w) * u64::from(h);
    let rate = fps.map_or(picture * 30, |f| {
        picture * f.numer() as u64 / f.denom().max(1) as u64
    });
    LEVELS
        .iter()
        .find(|(_, max_rate, max_picture)| picture <= *max_picture && rate <= *max_rate)
        .map_or(62, |(level, _, _)| *level)
}

/// ISO/IEC 23091-2 colour primaries, transfer characteristics and matrix coefficients, and
/// full range, for GStreamer's named colorimetries (2 = unspecified otherwise).
fn colour(colorimetry: Option<&str>) -> (u8, u8, u8, bool) {
    match colorimetry {
        Some("bt601") => (6, 6, 6, false),
        Some("bt709") => (1, 1, 1, false),
        Some("bt2020") => (9, 15, 9, false),
        Some("bt2020-10") => (9, 14, 9, false),
        Some("bt2100-pq") => (9, 16, 9, false),
        Some("bt2100-hlg") => (9, 18, 9, false),
        Some("smpte240m") => (7, 7, 7, false),
        Some("sRGB") => (1, 13, 0, true),
        _ => (2, 2, 2, false),
    }
}

/// `version 1, flags 0, profile, level, bitDepth(4) chromaSubsampling(3) fullRange(1),
/// primaries, transfer, matrix, codecInitializationDataSize 0`.
pub fn vpcc_from_caps(
    s: &gst::StructureRef,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<gst::Fraction>,
) -> Result<Bytes, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: "VP9 caps",
        reason,
    };
    let profile = match s.get_optional::<&str>("profile").ok().flatten() {
        None => 0,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= 3)
            .ok_or(invalid("profile is not 0, 1, 2 or 3"))?,
    };
    // GStreamer writes bit depths as uint; accept int too.
    let uint = |field: &str| {
        s.get_optional::<u32>(field).ok().flatten().or_else(|| {
            s.get_optional::<i32>(field)
                .ok()
                .flatten()
                .and_then(|v| u32::try_from(v).ok())
        })
    };
    let bit_depth = uint("bit-depth-luma").unwrap_or(if profile >= 2 { 10 } else { 8 });
    if !matches!(bit_depth, 8 | 10 | 12) {
        return Err(invalid("bit-depth-luma is not 8, 10 or 12"));
    }
    let chroma_format = s.get_optional::<&str>("chroma-format").ok().flatten();
    let chroma_site = s.get_optional::<&str>("chroma-site").ok().flatten();
    let subsampling =
        match chroma_format.unwrap_or(if profile % 2 == 1 { "4:4:4" } else { "4:2:0" }) {
            // 0: chroma left of the luma sample (MPEG-2 siting); 1: co-located with it, which
            // FFmpeg also writes when the siting is unknown.
            "4:2:0" if chroma_site == Some("mpeg2") => 0,
            "4:2:0" => 1,
            "4:2:2" => 2,
            "4:4:4" => 3,
            _ => return Err(invalid("chroma-format is not 4:2:0, 4:2:2 or 4:4:4")),
        };
    let (primaries, transfer, matrix, full_range) =
        colour(s.get_optional::<&str>("colorimetry").ok().flatten());
    Ok(Bytes::from(vec![
        1,
        0,
        0,
        0,
        profile,
        level(width, height, fps),
        ((bit_depth as u8) << 4) | (subsampling << 1) | u8::from(full_range),
        primaries,
        transfer,
        matrix,
        0,
        0,
    ]))
}
