//! The Enhanced RTMP codec matrix (issue #13): every pair of HEVC, AV1 and VP9 video with Opus,
//! FLAC and AC-3 audio, as one `#[test]` each so that a failing pair is named in the report.

/// `ertmp_codec_matrix!(run(Video, Audio));` defines `hevc_with_opus`, `hevc_with_flac`, ...
/// `vp9_with_ac3`, each calling `run(Video::Hevc, Audio::Opus)` and so on. The two enums are the
/// caller's (FFmpeg's `ExCodec`/`ExAudio` or GStreamer's `Video`/`Audio`): both have variants
/// of these names.
// Only the three matrix binaries expand it; the others compile this module too.
#[allow(unused_macros)]
macro_rules! ertmp_codec_matrix {
    ($run:ident($video:ident, $audio:ident)) => {
        $crate::common::matrix::ertmp_codec_matrix!(@tests $run $video $audio
            hevc_with_opus Hevc Opus, hevc_with_flac Hevc Flac, hevc_with_ac3 Hevc Ac3,
            av1_with_opus Av1 Opus, av1_with_flac Av1 Flac, av1_with_ac3 Av1 Ac3,
            vp9_with_opus Vp9 Opus, vp9_with_flac Vp9 Flac, vp9_with_ac3 Vp9 Ac3);
    };
    (@tests $run:ident $video:ident $audio:ident $($name:ident $v:ident $a:ident),*) => {
        $(
            #[test]
            fn $name() {
                $run($video::$v, $audio::$a);
            }
        )*
    };
}

pub(crate) use ertmp_codec_matrix;
