//! The AV1CodecConfigurationRecord (av1C, AV1 ISOBMFF binding 2.3) built from a sequence
//! header OBU: av1parse gives no codec_data, so the record comes from the first temporal unit
//! that holds a sequence header (every keyframe's, from the usual encoders).

use bytes::Bytes;

use crate::flv::bits::BitReader;

const OBU_SEQUENCE_HEADER: u8 = 1;

/// The OBUs of a temporal unit in the low-overhead format: `(type, whole OBU, payload)`.
/// Stops at the first malformed OBU.
fn obus(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8], &[u8])> {
    std::iter::from_fn(move || {
        let &header = data.first()?;
        let obu_type = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut pos = 1 + usize::from(has_extension);
        let size = if has_size {
            let (size, len) = leb128(data.get(pos..)?)?;
            pos += len;
            usize::try_from(size).ok()?
        } else {
            data.len().checked_sub(pos)?
        };
        let end = pos.checked_add(size)?;
        let obu = data.get(..end)?;
        let payload = data.get(pos..end)?;
        data = &data[end..];
        Some((obu_type, obu, payload))
    })
}

/// An unsigned LEB128 (at most 8 bytes), and how many bytes it took.
fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The fields of a sequence header (AV1 5.5) that the av1C repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceInfo {
    pub profile: u8,
    pub level_idx_0: u8,
    pub tier_0: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
}

/// Parses a sequence header OBU payload up to its color config.
pub fn parse_sequence_header(payload: &[u8]) -> Option<SequenceInfo> {
    let mut r = BitReader::new(payload);
    let profile = r.read_bits(3)? as u8;
    let _still_picture = r.read_bit()?;
    let reduced = r.read_bit()?;
    let (level_idx_0, tier_0);
    if reduced {
        level_idx_0 = r.read_bits(5)? as u8;
        tier_0 = false;
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_length = 0;
        if r.read_bit()? {
            // timing_info: two 32-bit numbers, then an optional uvlc.
            r.skip_bits(64)?;
            if r.read_bit()? {
                read_uvlc(&mut r)?;
            }
            decoder_model_info = r.read_bit()?;
            if decoder_model_info {
                buffer_delay_length = r.read_bits(5)? + 1;
                r.skip_bits(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = r.read_bit()?;
        let count = r.read_bits(5)? + 1;
        let (mut first_level, mut first_tier) = (0, false);
        for i in 0..count {
            r.skip_bits(12)?; // operating_point_idc
            let level = r.read_bits(5)? as u8;
            let tier = level > 7 && r.read_bit()?;
            if i == 0 {
                (first_level, first_tier) = (level, tier);
            }
            if decoder_model_info && r.read_bit()? {
                r.skip_bits(2 * buffer_delay_length as usize + 1)?;
            }
            if initial_display_delay && r.read_bit()? {
                r.skip_bits(4)?;
            }
        }
        (level_idx_0, tier_0) = (first_level, first_tier);
    }
    let width_bits = r.read_bits(4)? + 1;
    let height_bits = r.read_bits(4)? + 1;
    r.skip_bits((width_bits + height_bits) as usize)?;
    if !reduced && r.read_bit()? {
        r.skip_bits(4 + 3)?; // frame id lengths
    }
    r.skip_bits(3)?; // 128x128 superblock, filter intra, intra edge filter
    if !reduced {
        r.skip_bits(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.read_bit()?;
        if order_hint {
            r.skip_bits(2)?; // jnt comp, ref frame mvs
        }
        let force_screen_content_tools = if r.read_bit()? { 2 } else { r.read_bits(1)? };
        if force_screen_content_tools > 0 && !r.read_bit()? {
            r.skip_bits(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip_bits(3)?;
        }
    }
    r.skip_bits(3)?; // superres, cdef, restoration
    // color_config (5.5.2)
    let high_bitdepth = r.read_bit()?;
    let twelve_bit = profile == 2 && high_bitdepth && r.read_bit()?;
    let monochrome = profile != 1 && r.read_bit()?;
    let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
    if r.read_bit()? {
        primaries = r.read_bits(8)?;
        transfer = r.read_bits(8)?;
        matrix = r.read_bits(8)?;
    }
    let (subsampling_x, subsampling_y, mut chroma_sample_position) = if monochrome {
        (true, true, 0)
    } else if primaries == 1 && transfer == 13 && matrix == 0 {
        (false, false, 0)
    } else {
        r.skip_bits(1)?; // color_range
        match profile {
            0 => (true, true, 0),
            1 => (false, false, 0),
            _ if twelve_bit => {
                let x = r.read_bit()?;
                let y = x && r.read_bit()?;
                (x, y, 0)
            }
            _ => (true, false, 0),
        }
    };
    if !monochrome && subsampling_x && subsampling_y {
        chroma_sample_position = r.read_bits(2)? as u8;
    }
    Some(SequenceInfo {
        profile,
        level_idx_0,
        tier_0,
        high_bitdepth,
        twelve_bit,
        monochrome,
        subsampling_x,
        subsampling_y,
        chroma_sample_position,
    })
}

fn read_uvlc(r: &mut BitReader<'_>) -> Option<()> {
    let mut zeros = 0;
    while !r.read_bit()? {
        zeros += 1;
        if zeros >= 32 {
            return None;
        }
    }
    r.skip_bits(zeros)
}

/// The av1C for a temporal unit holding a sequence header OBU: the four fixed bytes, then the
/// sequence header OBU itself as configOBUs (with its size field, as the binding asks).
pub fn av1c_from_temporal_unit(temporal_unit: &[u8]) -> Option<Bytes> {
    let (_, obu, payload) = obus(temporal_unit).find(|(t, _, _)| *t == OBU_SEQUENCE_HEADER)?;
    let info = parse_sequence_header(payload)?;
    let mut out = Vec::with_capacity(4 + obu.len() + 8);
    out.push(0x81); // marker, version 1
    out.push((info.profile << 5) | (info.level_idx_0 & 0x1f));
    out.push(
        (u8::from(info.tier_0) << 7)
            | (u8::from(info.high_bitdepth) << 6)
            | (u8::from(info.twelve_bit) << 5)
            | (u8::from(info.monochrome) << 4)
            | (u8::from(info.subsampling_x) << 3)
            | (u8::from(info.subsampling_y) << 2)
            | (info.chroma_sample_position & 0x03),
    );
    out.push(0); // no initial_presentation_delay
    if obu[0] & 0x02 != 0 {
        out.extend_from_slice(obu);
    } else {
        // An OBU without a size field gets one: configOBUs are sized OBUs.
        out.push(obu[0] | 0x02);
        let header_len = obu.len() - payload.len();
        out.extend_from_slice(&obu[1..header_len]);
        let mut size = payload.len();
        loop {
            let byte = (size & 0x7f) as u8;
            size >>= 7;
            if size == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(payload);
    }
    Some(Bytes::from(out))
}
