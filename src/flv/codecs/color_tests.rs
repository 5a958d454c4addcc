use bytes::BytesMut;

use super::*;
use crate::flv::testdata::hex;

/// FFmpeg 9's Metadata packet for libx265 with bt2020 primaries, SMPTE 2084 transfer and
/// bt2020nc matrix (the bytes after `d4 hvc1`).
const FFMPEG9_PQ: &str = "020009636f6c6f72496e666f03000b636f6c6f72436f6e6669670300177472616e\
    7366657243686172616374657269737469637300403000000000000000126d6174726978436f656666696369\
    656e7473004022000000000000000e636f6c6f725072696d6172696573004022000000000000000009000009";
/// The same for libaom-av1 with bt709 everywhere.
const FFMPEG9_BT709: &str = "020009636f6c6f72496e666f03000b636f6c6f72436f6e6669670300177472616e\
    73666572436861726163746572697374696373003ff000000000000000126d6174726978436f65666669636965\
    6e7473003ff0000000000000000e636f6c6f725072696d6172696573003ff0000000000000000009000009";

fn object(props: &[(&str, f64)]) -> Amf0Value {
    Amf0Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), Amf0Value::Number(*v)))
            .collect(),
    )
}

fn encode(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = BytesMut::new();
    amf0::encode_all(values, &mut out);
    out.to_vec()
}

#[test]
fn ffmpeg9_color_config_maps_to_named_colorimetries() {
    let pq = ColorInfo::parse(&hex(FFMPEG9_PQ)).unwrap();
    assert_eq!(
        (pq.primaries, pq.transfer, pq.matrix, pq.bit_depth),
        (Some(9), Some(16), Some(9), None)
    );
    assert_eq!(pq.colorimetry(None).as_deref(), Some("bt2100-pq"));
    let bt709 = ColorInfo::parse(&hex(FFMPEG9_BT709)).unwrap();
    assert_eq!(bt709.colorimetry(None).as_deref(), Some("bt709"));
    // A full-range flag from the configuration record: no name has it, so the numeric form.
    assert_eq!(bt709.colorimetry(Some(true)).as_deref(), Some("1:3:5:1"));
}

#[test]
fn other_codes_use_the_numeric_form_and_unknown_ones_give_nothing() {
    let info = |p, t, m| ColorInfo {
        primaries: Some(p),
        transfer: Some(t),
        matrix: Some(m),
        ..Default::default()
    };
    // bt470bg primaries, bt601 (smpte170m) matrix and transfer: GStreamer's bt601 needs
    // smpte170m primaries, so this one has no name.
    assert_eq!(info(5, 6, 5).colorimetry(None).as_deref(), Some("2:4:16:3"));
    assert_eq!(info(6, 6, 6).colorimetry(None).as_deref(), Some("bt601"));
    // HLG.
    assert_eq!(
        info(9, 18, 9).colorimetry(None).as_deref(),
        Some("bt2100-hlg")
    );
    // GBR (identity matrix) is full range: sRGB.
    assert_eq!(info(1, 13, 0).colorimetry(None).as_deref(), Some("sRGB"));
    // Unspecified (2) and reserved codes.
    assert_eq!(info(2, 2, 2).colorimetry(None), None);
    assert_eq!(info(200, 3, 99).colorimetry(None), None);
    assert_eq!(ColorInfo::default().colorimetry(None), None);
}

#[test]
fn hdr_fields_reach_the_caps_as_h265parse_writes_them() {
    gst::init().unwrap();
    // HDR10 test values: BT.2020 primaries, D65, 1000 / 0.005 cd/m², MaxCLL 1000, MaxFALL 400.
    let body = encode(&[
        Amf0Value::String("colorInfo".into()),
        Amf0Value::Object(vec![
            (
                "colorConfig".into(),
                object(&[
                    ("bitDepth", 10.0),
                    ("colorPrimaries", 9.0),
                    ("transferCharacteristics", 16.0),
                    ("matrixCoefficients", 9.0),
                ]),
            ),
            (
                "hdrCll".into(),
                object(&[("maxFall", 400.0), ("maxCLL", 1000.0)]),
            ),
            (
                "hdrMdcv".into(),
                object(&[
                    ("redX", 0.708),
                    ("redY", 0.292),
                    ("greenX", 0.17),
                    ("greenY", 0.797),
                    ("blueX", 0.131),
                    ("blueY", 0.046),
                    ("whitePointX", 0.3127),
                    ("whitePointY", 0.329),
                    ("maxLuminance", 1000.0),
                    ("minLuminance", 0.005),
                ]),
            ),
        ]),
    ]);
    let info = ColorInfo::parse(&body).unwrap();
    assert_eq!(info.bit_depth, Some(10));
    let mut caps = gst::Caps::builder("video/x-h265").build();
    info.add_to_caps(&mut caps, None);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("colorimetry"), Ok("bt2100-pq"));
    assert_eq!(
        s.get::<&str>("mastering-display-info"),
        Ok("35400:14600:8500:39850:6550:2300:15635:16450:10000000:50")
    );
    assert_eq!(s.get::<&str>("content-light-level"), Ok("1000:400"));
}

#[test]
fn incomplete_or_foreign_metadata_is_harmless() {
    gst::init().unwrap();
    // Another metadata name, a non-object, garbage.
    let other = encode(&[Amf0Value::String("somethingElse".into()), object(&[])]);
    assert_eq!(ColorInfo::parse(&other), None);
    assert_eq!(ColorInfo::parse(&[0x02, 0x00]), None);
    assert_eq!(ColorInfo::parse(&[]), None);
    let not_object = encode(&[
        Amf0Value::String("colorInfo".into()),
        Amf0Value::Number(1.0),
    ]);
    let info = ColorInfo::parse(&not_object).unwrap();
    assert_eq!(info, ColorInfo::default());
    // An hdrMdcv missing a member, negative and huge numbers: those fields stay absent.
    let partial = encode(&[
        Amf0Value::String("colorInfo".into()),
        Amf0Value::Object(vec![
            ("hdrMdcv".into(), object(&[("redX", 0.7)])),
            (
                "hdrCll".into(),
                object(&[("maxFall", -1.0), ("maxCLL", 1e12)]),
            ),
            (
                "colorConfig".into(),
                object(&[("colorPrimaries", f64::NAN), ("matrixCoefficients", 1.0)]),
            ),
        ]),
    ]);
    let info = ColorInfo::parse(&partial).unwrap();
    assert_eq!((info.mastering, info.content_light), (None, None));
    assert_eq!(info.primaries, None);
    let mut caps = gst::Caps::builder("video/x-av1").build();
    info.add_to_caps(&mut caps, None);
    // The matrix alone still says something.
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("colorimetry"),
        Ok("2:3:0:0")
    );
}
