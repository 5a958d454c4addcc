//! AC-3 (`ac-3`) and E-AC-3 (`ec-3`): the sequence start carries nothing the caps need (the
//! sync frames describe themselves), frames are AC-3/E-AC-3 sync frames.

use crate::flv::metadata::StreamMetadata;

/// `audio/x-ac3` or `audio/x-eac3`, with the rate from onMetaData when it has one. Channels are
/// left to ac3parse, which reads them from the frames: onMetaData's `stereo` cannot say 5.1.
pub fn ac3_caps(enhanced: bool, meta: &StreamMetadata) -> gst::Caps {
    let name = if enhanced {
        "audio/x-eac3"
    } else {
        "audio/x-ac3"
    };
    let mut builder = gst::Caps::builder(name);
    if let Some(rate) = meta
        .audio_sample_rate
        .and_then(|r| i32::try_from(r).ok())
        .filter(|&r| r > 0)
    {
        builder = builder.field("rate", rate);
    }
    builder.build()
}
