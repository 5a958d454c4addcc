//! Enhanced RTMP's AudioChannelMask (MultichannelConfig) against GStreamer's channel positions
//! (`channel-mask` in caps): the same speakers, numbered differently from the side speakers on.

/// GstAudioChannelPosition bit -> AudioChannelMask bit (WAVE order with the top and
/// low-frequency-2 speakers where the specification puts them).
const GST_TO_MASK_BIT: [u8; 24] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 18, 9, 10, 12, 14, 13, 11, 15, 17, 19, 20, 16, 21, 22, 23,
];

/// The AudioChannelMask of a GStreamer `channel-mask`; `None` when a position has no
/// Enhanced RTMP equivalent.
pub fn mask_from_gst(gst_mask: u64) -> Option<u32> {
    let mut mask = 0u32;
    for bit in 0..64 {
        if gst_mask & (1u64 << bit) != 0 {
            mask |= 1 << *GST_TO_MASK_BIT.get(bit)?;
        }
    }
    Some(mask)
}

/// The GStreamer `channel-mask` of an AudioChannelMask; `None` when a speaker has no
/// GStreamer position (bits the specification leaves unassigned).
pub fn gst_from_mask(mask: u32) -> Option<u64> {
    let mut gst_mask = 0u64;
    for bit in 0..32u8 {
        if mask & (1 << bit) != 0 {
            let position = GST_TO_MASK_BIT.iter().position(|b| *b == bit)?;
            gst_mask |= 1 << position;
        }
    }
    Some(gst_mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_goes_there_and_back() {
        for position in 0..GST_TO_MASK_BIT.len() {
            let gst_mask = 1u64 << position;
            let mask = mask_from_gst(gst_mask).unwrap();
            assert_eq!(gst_from_mask(mask), Some(gst_mask), "position {position}");
        }
        // 5.1: FL FR FC LFE1 BL BR in both numberings.
        assert_eq!(gst_from_mask(0x3f), Some(0x3f));
        // 7.1 with side speakers: AudioChannelMask SideLeft/SideRight are bits 9 and 10,
        // GStreamer's SIDE_LEFT/SIDE_RIGHT 10 and 11.
        assert_eq!(gst_from_mask(0x63f), Some(0xc3f));
        // A GStreamer position beyond the table, a mask bit nobody assigned.
        assert_eq!(mask_from_gst(1 << 30), None);
        assert_eq!(gst_from_mask(1 << 31), None);
    }
}
