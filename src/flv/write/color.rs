//! The Enhanced RTMP video Metadata packet rtmpsink writes: `colorInfo` from the caps'
//! `colorimetry`, `mastering-display-info` and `content-light-level` (the reverse of
//! [`crate::flv::codecs::color`]), so that players learn an HDR stream's transfer, primaries
//! and mastering display without parsing the bitstream.

use bytes::{Bytes, BytesMut};

use crate::flv::ColorInfo;
use crate::flv::codecs::color::{NAMED, gst_matrix, gst_primaries, gst_transfer};
use crate::protocol::amf0::{self, Amf0Value};

// H.273 codes that make a stream HDR or wide gamut.
const ISO_TRANSFER_PQ: u8 = 16;
const ISO_TRANSFER_HLG: u8 = 18;
const ISO_PRIMARIES_BT2020: u8 = 9;

/// The H.273 code whose GStreamer value is `gst` (the inverse of the reading side's tables);
/// `None` for GStreamer's "unknown" (0).
fn iso_of(gst: u8, forward: fn(u8) -> u8) -> Option<u8> {
    (0..=u8::MAX).find(|&iso| forward(iso) == gst && gst != 0)
}

/// (matrix, transfer, primaries) as H.273 codes from a `colorimetry` caps string: one of
/// GStreamer's names or its `range:matrix:transfer:primaries` form.
fn iso_codes(colorimetry: &str) -> (Option<u8>, Option<u8>, Option<u8>) {
    let codes = match NAMED.iter().find(|(name, _)| *name == colorimetry) {
        Some((_, (_, m, t, p))) => Some([*m, *t, *p]),
        None => {
            let parts: Vec<Option<u8>> = colorimetry.split(':').map(|p| p.parse().ok()).collect();
            match parts.as_slice() {
                [Some(_), Some(m), Some(t), Some(p)] => Some([*m, *t, *p]),
                _ => None,
            }
        }
    };
    let Some([m, t, p]) = codes else {
        return (None, None, None);
    };
    (
        iso_of(m, gst_matrix),
        iso_of(t, gst_transfer),
        iso_of(p, gst_primaries),
    )
}

/// `n` unsigned numbers separated by colons.
fn numbers<const N: usize>(text: &str) -> Option<[u32; N]> {
    let parsed: Vec<u32> = text
        .split(':')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    parsed.try_into().ok()
}

/// The `colorInfo` to send for video caps, or `None` unless they describe an HDR or
/// wide-gamut stream (mastering display or content light level, or a PQ, HLG or BT.2020
/// colorimetry): SDR streams go out exactly as before.
pub fn color_info_from_caps(s: &gst::StructureRef) -> Option<ColorInfo> {
    let text = |field: &str| s.get_optional::<&str>(field).ok().flatten();
    let (matrix, transfer, primaries) = text("colorimetry").map_or((None, None, None), iso_codes);
    let mastering = text("mastering-display-info").and_then(numbers::<10>);
    let content_light = text("content-light-level")
        .and_then(numbers::<2>)
        .and_then(|[cll, fall]| Some((u16::try_from(cll).ok()?, u16::try_from(fall).ok()?)));
    let hdr = mastering.is_some()
        || content_light.is_some()
        || matches!(transfer, Some(ISO_TRANSFER_PQ | ISO_TRANSFER_HLG))
        || primaries == Some(ISO_PRIMARIES_BT2020);
    if !hdr {
        return None;
    }
    let bit_depth = s
        .get_optional::<u32>("bit-depth-luma")
        .ok()
        .flatten()
        .and_then(|d| u8::try_from(d).ok());
    Some(ColorInfo {
        primaries,
        transfer,
        matrix,
        bit_depth,
        content_light,
        mastering,
    })
}

/// The Metadata packet's AMF0 values: `"colorInfo"`, then `{colorConfig, hdrCll, hdrMdcv}` as
/// FFmpeg writes them (chromaticities as CIE xy, luminances in cd/m²); absent parts left out.
pub fn color_info_amf(info: &ColorInfo) -> Bytes {
    let number = |v: f64| Amf0Value::Number(v);
    let mut config = Vec::new();
    let mut code = |key: &str, v: Option<u8>| {
        if let Some(v) = v {
            config.push((key.to_owned(), number(f64::from(v))));
        }
    };
    code("bitDepth", info.bit_depth);
    code("colorPrimaries", info.primaries);
    code("transferCharacteristics", info.transfer);
    code("matrixCoefficients", info.matrix);
    let mut object = vec![("colorConfig".to_owned(), Amf0Value::Object(config))];
    if let Some((max_cll, max_fall)) = info.content_light {
        object.push((
            "hdrCll".to_owned(),
            Amf0Value::Object(vec![
                ("maxFall".to_owned(), number(f64::from(max_fall))),
                ("maxCLL".to_owned(), number(f64::from(max_cll))),
            ]),
        ));
    }
    if let Some(m) = info.mastering {
        let keys = [
            "redX",
            "redY",
            "greenX",
            "greenY",
            "blueX",
            "blueY",
            "whitePointX",
            "whitePointY",
            "maxLuminance",
            "minLuminance",
        ];
        let fields = keys
            .iter()
            .zip(m)
            .enumerate()
            .map(|(i, (key, v))| {
                // GstVideoMasteringDisplayInfo units: 0.00002 for xy, 0.0001 cd/m².
                let unit = if i < 8 { 50_000.0 } else { 10_000.0 };
                (key.to_string(), number(f64::from(v) / unit))
            })
            .collect();
        object.push(("hdrMdcv".to_owned(), Amf0Value::Object(fields)));
    }
    let mut out = BytesMut::new();
    amf0::encode(&Amf0Value::String("colorInfo".into()), &mut out);
    amf0::encode(&Amf0Value::Object(object), &mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(fields: &[(&str, &str)]) -> gst::Caps {
        gst::init().unwrap();
        let mut builder = gst::Caps::builder("video/x-h265");
        for (k, v) in fields {
            builder = builder.field(*k, *v);
        }
        builder.build()
    }

    /// What the reading side makes of the packet, applied to bare caps.
    fn read_back(info: &ColorInfo) -> gst::Caps {
        let parsed = ColorInfo::parse(&color_info_amf(info)).expect("colorInfo parses");
        assert_eq!(&parsed, info);
        let mut out = gst::Caps::new_empty_simple("video/x-h265");
        parsed.add_to_caps(&mut out, None);
        out
    }

    #[test]
    fn hdr10_caps_round_trip_through_color_info() {
        let mastering = "35400:14600:8500:39850:6550:2300:15635:16450:10000000:50";
        let fields = [
            ("colorimetry", "bt2100-pq"),
            ("mastering-display-info", mastering),
            ("content-light-level", "1000:400"),
        ];
        let c = caps(&fields);
        let info = color_info_from_caps(c.structure(0).unwrap()).expect("HDR");
        assert_eq!(
            (info.primaries, info.transfer, info.matrix),
            (Some(9), Some(16), Some(9))
        );
        let back = read_back(&info);
        let s = back.structure(0).unwrap();
        for (field, value) in fields {
            assert_eq!(s.get::<&str>(field), Ok(value), "{back}");
        }
    }

    #[test]
    fn hlg_in_the_numeric_form_is_hdr_and_sdr_is_not() {
        // range:matrix:transfer:primaries = limited, BT.2020, ARIB STD-B67, BT.2020.
        let c = caps(&[("colorimetry", "2:6:15:7")]);
        let info = color_info_from_caps(c.structure(0).unwrap()).expect("HLG");
        assert_eq!(info.transfer, Some(18));
        let back = read_back(&info);
        assert_eq!(
            back.structure(0).unwrap().get::<&str>("colorimetry"),
            Ok("bt2100-hlg")
        );
        for sdr in ["bt709", "bt601", "sRGB", "nonsense", "2:3:5"] {
            let c = caps(&[("colorimetry", sdr)]);
            assert_eq!(color_info_from_caps(c.structure(0).unwrap()), None, "{sdr}");
        }
    }

    #[test]
    fn broken_hdr_fields_are_left_out() {
        // Nine mastering numbers and a light level over 16 bits: neither is sent, and
        // without them a BT.709 stream is not HDR.
        let c = caps(&[
            ("colorimetry", "bt709"),
            ("mastering-display-info", "1:2:3:4:5:6:7:8:9"),
            ("content-light-level", "70000:1"),
        ]);
        assert_eq!(color_info_from_caps(c.structure(0).unwrap()), None);
        // A light level alone is enough; the colour codes it lacks stay out of the packet.
        let c = caps(&[("content-light-level", "1000:400")]);
        let info = color_info_from_caps(c.structure(0).unwrap()).unwrap();
        let back = read_back(&info);
        let s = back.structure(0).unwrap();
        assert_eq!(s.get::<&str>("content-light-level"), Ok("1000:400"));
        assert!(!s.has_field("colorimetry"), "{back}");
    }
}
