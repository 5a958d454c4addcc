//! Enhanced RTMP video Metadata packets: the AMF `colorInfo` object to caps fields.
//!
//! `colorInfo = { colorConfig: { bitDepth, colorPrimaries, transferCharacteristics,
//! matrixCoefficients }, hdrCll: { maxFall, maxCLL }, hdrMdcv: { redX, redY, greenX, greenY,
//! blueX, blueY, whitePointX, whitePointY, maxLuminance, minLuminance } }`, every member
//! optional. The colour codes are ISO/IEC 23091-4 (H.273) indices; chromaticities are CIE 1931
//! xy in 0..1 and luminances cd/m² (as FFmpeg writes them). The caps get `colorimetry`
//! (GStreamer's name or its `range:matrix:transfer:primaries` form), `mastering-display-info`
//! and `content-light-level`, formatted as h265parse writes them.

use crate::protocol::amf0::{self, Amf0Value};

/// What a `colorInfo` carried; `None` where it was absent or out of range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColorInfo {
    pub primaries: Option<u8>,
    pub transfer: Option<u8>,
    pub matrix: Option<u8>,
    pub bit_depth: Option<u8>,
    /// maxCLL and maxFALL, cd/m².
    pub content_light: Option<(u16, u16)>,
    /// Red, green, blue, white point xy in units of 0.00002, then max and min luminance in
    /// units of 0.0001 cd/m² (GstVideoMasteringDisplayInfo's units).
    pub mastering: Option<[u32; 10]>,
}

impl ColorInfo {
    /// Reads a Metadata packet's body (AMF0 values: the name `colorInfo`, then the object).
    /// Other metadata names, and bodies that do not decode, give `None`.
    pub fn parse(data: &[u8]) -> Option<ColorInfo> {
        let values = amf0::decode_all(data).ok()?;
        let [name, info, ..] = values.as_slice() else {
            return None;
        };
        if name.as_str() != Some("colorInfo") {
            return None;
        }
        let number = |obj: Option<&Amf0Value>, key: &str| {
            obj.and_then(|o| o.get(key))
                .and_then(Amf0Value::as_number)
                .filter(|n| n.is_finite() && *n >= 0.0)
        };
        let code = |obj, key| number(obj, key).filter(|&n| n <= 255.0).map(|n| n as u8);
        let config = info.get("colorConfig");
        let cll = info.get("hdrCll");
        let light = |key| number(cll, key).filter(|&n| n <= 65535.0).map(|n| n as u16);
        let content_light = light("maxCLL").zip(light("maxFall"));
        let mdcv = info.get("hdrMdcv");
        let mut mastering = [0u32; 10];
        let keys = [
            ("redX", 50_000.0),
            ("redY", 50_000.0),
            ("greenX", 50_000.0),
            ("greenY", 50_000.0),
            ("blueX", 50_000.0),
            ("blueY", 50_000.0),
            ("whitePointX", 50_000.0),
            ("whitePointY", 50_000.0),
            ("maxLuminance", 10_000.0),
            ("minLuminance", 10_000.0),
        ];
        let complete = keys
            .iter()
            .zip(mastering.iter_mut())
            .all(
                |((key, unit), v)| match number(mdcv, key).map(|n| (n * unit).round()) {
                    Some(n) if n <= f64::from(u32::MAX) => {
                        *v = n as u32;
                        true
                    }
                    _ => false,
                },
            );
        Some(ColorInfo {
            primaries: code(config, "colorPrimaries"),
            transfer: code(config, "transferCharacteristics"),
            matrix: code(config, "matrixCoefficients"),
            bit_depth: code(config, "bitDepth"),
            content_light,
            mastering: complete.then_some(mastering),
        })
    }

    /// The `colorimetry` caps string, if any colour code maps. `full_range` is what the codec
    /// configuration says (vpcC has a flag); without it, RGB is full range and YUV the
    /// codecs' default, limited (studio) range.
    pub fn colorimetry(&self, full_range: Option<bool>) -> Option<String> {
        let matrix = self.matrix.map_or(0, gst_matrix);
        let transfer = self.transfer.map_or(0, gst_transfer);
        let primaries = self.primaries.map_or(0, gst_primaries);
        if matrix == 0 && transfer == 0 && primaries == 0 {
            return None;
        }
        let full = full_range.unwrap_or(matrix == MATRIX_RGB);
        let range = if full { RANGE_0_255 } else { RANGE_16_235 };
        let named = NAMED
            .iter()
            .find(|(_, c)| *c == (range, matrix, transfer, primaries));
        Some(match named {
            Some((name, _)) => (*name).to_owned(),
            None => format!("{range}:{matrix}:{transfer}:{primaries}"),
        })
    }

    /// Adds `colorimetry`, `mastering-display-info` and `content-light-level` to `caps`.
    pub fn add_to_caps(&self, caps: &mut gst::Caps, full_range: Option<bool>) {
        let caps = caps.make_mut();
        let Some(s) = caps.structure_mut(0) else {
            return;
        };
        if let Some(colorimetry) = self.colorimetry(full_range) {
            s.set("colorimetry", colorimetry);
        }
        if let Some(m) = self.mastering {
            let text: Vec<String> = m.iter().map(u32::to_string).collect();
            s.set("mastering-display-info", text.join(":"));
        }
        if let Some((max_cll, max_fall)) = self.content_light {
            s.set("content-light-level", format!("{max_cll}:{max_fall}"));
        }
    }
}

// GstVideoColorRange, GstVideoColorMatrix values.
pub(crate) const RANGE_0_255: u8 = 1;
pub(crate) const RANGE_16_235: u8 = 2;
const MATRIX_RGB: u8 = 1;

/// GStreamer values of (range, matrix, transfer, primaries).
pub(crate) type Codes = (u8, u8, u8, u8);

/// GStreamer's named colorimetries (video-color.c).
pub(crate) const NAMED: [(&str, Codes); 8] = [
    ("bt601", (RANGE_16_235, 4, 16, 4)),
    ("bt709", (RANGE_16_235, 3, 5, 1)),
    ("smpte240m", (RANGE_16_235, 5, 6, 5)),
    ("sRGB", (RANGE_0_255, MATRIX_RGB, 7, 1)),
    ("bt2020", (RANGE_16_235, 6, 11, 7)),
    ("bt2020-10", (RANGE_16_235, 6, 13, 7)),
    ("bt2100-pq", (RANGE_16_235, 6, 14, 7)),
    ("bt2100-hlg", (RANGE_16_235, 6, 15, 7)),
];

/// H.273 MatrixCoefficients to GstVideoColorMatrix (as gst_video_color_matrix_from_iso).
pub(crate) fn gst_matrix(iso: u8) -> u8 {
    match iso {
        0 => MATRIX_RGB,
        1 => 3,
        4 => 2,
        5 | 6 => 4,
        7 => 5,
        9 | 10 => 6,
        _ => 0,
    }
}

/// H.273 TransferCharacteristics to GstVideoTransferFunction.
pub(crate) fn gst_transfer(iso: u8) -> u8 {
    match iso {
        1 => 5,
        4 => 4,
        5 => 8,
        6 => 16,
        7 => 6,
        8 => 1,
        9 => 9,
        10 => 10,
        13 => 7,
        14 => 13,
        15 => 11,
        16 => 14,
        18 => 15,
        _ => 0,
    }
}

/// H.273 ColourPrimaries to GstVideoColorPrimaries.
pub(crate) fn gst_primaries(iso: u8) -> u8 {
    match iso {
        1 => 1,
        4 => 2,
        5 => 3,
        6 => 4,
        7 => 5,
        8 => 6,
        9 => 7,
        10 => 9,
        11 => 10,
        12 => 11,
        22 => 12,
        _ => 0,
    }
}

#[cfg(test)]
#[path = "color_tests.rs"]
mod tests;
