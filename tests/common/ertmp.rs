//! Enhanced RTMP helpers: FFmpeg 9 encodes test files in HEVC/AV1/VP9 (FLV with extended
//! headers), serves them with `-listen 1`, and an in-process rtmpsrc pipeline decodes what it
//! plays, recording caps and decoded frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::{Proc, TempDir, ffmpeg9, free_port, run_with_timeout, wait_listening};

/// A video codec FFmpeg 9 writes with the extended FLV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExCodec {
    Hevc,
    Av1,
    Vp9,
}

impl ExCodec {
    fn encoder_args(self) -> &'static [&'static str] {
        match self {
            ExCodec::Hevc => &["-c:v", "libx265", "-x265-params", "log-level=none:info=0"],
            ExCodec::Av1 => &["-c:v", "libsvtav1", "-svtav1-params", "verbosity=0"],
            ExCodec::Vp9 => &["-c:v", "libvpx-vp9", "-deadline", "realtime"],
        }
    }

    /// Parser and decoder after rtmpsrc.
    pub fn decoder(self) -> &'static str {
        match self {
            ExCodec::Hevc => "h265parse ! avdec_h265",
            ExCodec::Av1 => "av1parse ! av1dec",
            ExCodec::Vp9 => "vp9parse ! vp9dec",
        }
    }
}

/// An audio codec FFmpeg 9 writes with the extended FLV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExAudio {
    Opus,
    Flac,
    Ac3,
    Eac3,
}

impl ExAudio {
    fn encoder(self) -> &'static str {
        match self {
            ExAudio::Opus => "libopus",
            ExAudio::Flac => "flac",
            ExAudio::Ac3 => "ac3",
            ExAudio::Eac3 => "eac3",
        }
    }

    pub fn decoder(self) -> &'static str {
        match self {
            ExAudio::Opus => "opusdec",
            ExAudio::Flac => "flacparse ! flacdec",
            ExAudio::Ac3 => "ac3parse ! avdec_ac3",
            ExAudio::Eac3 => "ac3parse ! avdec_eac3",
        }
    }
}

/// Encodes `frames` frames of 320x240 testsrc at 25 fps (GOP 25) with `video`, and/or the
/// same duration of a 48 kHz stereo sine with `audio`, into an FLV file.
pub fn make_ex_flv(
    dir: &TempDir,
    video: Option<ExCodec>,
    audio: Option<ExAudio>,
    frames: u32,
) -> PathBuf {
    make_ex_flv_with(dir, video, audio, frames, &[])
}

/// [`make_ex_flv`] with more output options (filters, colour properties) before the codecs.
pub fn make_ex_flv_with(
    dir: &TempDir,
    video: Option<ExCodec>,
    audio: Option<ExAudio>,
    frames: u32,
    extra: &[&str],
) -> PathBuf {
    let out = dir.join(format!("{video:?}-{audio:?}.flv"));
    let seconds = format!("{}", f64::from(frames) / 25.0);
    let mut cmd = std::process::Command::new(ffmpeg9());
    cmd.args(["-nostdin", "-y", "-v", "error"]);
    if video.is_some() {
        cmd.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    }
    if audio.is_some() {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    cmd.args(["-t", &seconds]).args(extra);
    if let Some(video) = video {
        cmd.args([
            "-frames:v",
            &frames.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
        ])
        .args(video.encoder_args());
    }
    if let Some(audio) = audio {
        cmd.args(["-ac", "2", "-c:a", audio.encoder()]);
    }
    let result = run_with_timeout(cmd.args(["-f", "flv"]).arg(&out), Duration::from_secs(60));
    assert!(
        result.success() && out.exists(),
        "ffmpeg 9 encoding {video:?}/{audio:?} failed: {result:?}"
    );
    out
}

/// FFmpeg 9 encodes `frames` of 25 fps video (`video`: codec arguments) and two sine tracks
/// (440 and 880 Hz, `audio`: their encoders) into one multitrack FLV, `multitrack.flv` in `dir`.
pub fn make_two_audio_track_flv(
    dir: &TempDir,
    frames: u64,
    video: &[&str],
    audio: [&str; 2],
) -> PathBuf {
    let flv = dir.join("multitrack.flv");
    let mut cmd = std::process::Command::new(ffmpeg9());
    cmd.args(["-nostdin", "-y", "-v", "error"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000"])
        .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", "2"])
        .args([
            "-frames:v",
            &frames.to_string(),
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(video)
        .args([
            "-c:a:0", audio[0], "-c:a:1", audio[1], "-ac", "2", "-f", "flv",
        ])
        .arg(&flv);
    let result = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(result.success(), "ffmpeg 9 encoding failed: {result:?}");
    flv
}

/// FFmpeg 9 as the RTMP server for one player, streaming all of `flv` in real time, then
/// closing.
pub fn ffmpeg9_server(flv: &Path) -> (String, Proc) {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let server = Proc::spawn(
        std::process::Command::new(ffmpeg9())
            .args(["-nostdin", "-v", "error", "-re", "-i"])
            .arg(flv)
            // Every stream: FFmpeg's default picks one audio track of a multitrack file.
            .args(["-map", "0", "-c", "copy", "-f", "flv", "-listen", "1"])
            .arg(&url),
    );
    assert!(
        wait_listening(port, Duration::from_secs(10)),
        "ffmpeg 9 does not listen on port {port}"
    );
    (url, server)
}

/// What crossed one rtmpsrc pad and its decoder.
#[derive(Debug, Default, Clone)]
pub struct PadLog {
    /// Caps events on the pad.
    pub caps: Vec<gst::Caps>,
    /// Buffers rtmpsrc pushed, and how many had PTS != DTS.
    pub buffers: u64,
    pub reordered: u64,
    /// Buffers out of the decoder, and their summed duration.
    pub decoded: u64,
    pub decoded_duration: gst::ClockTime,
    /// The caps of the first decoded buffer.
    pub decoded_caps: Option<gst::Caps>,
}

/// What an rtmpsrc pipeline saw.
#[derive(Debug, Default)]
pub struct PlayLog {
    /// Pads rtmpsrc added, in order.
    pub pad_names: Vec<String>,
    pub pads: BTreeMap<String, PadLog>,
    pub eos: bool,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

impl PlayLog {
    pub fn pad(&self, name: &str) -> &PadLog {
        self.pads
            .get(name)
            .unwrap_or_else(|| panic!("no {name} pad: {:?}", self.pad_names))
    }

    /// Each pad's buffers, decoded frames and first caps, for a failing test's output.
    pub fn print_pads(&self) {
        for (pad, p) in &self.pads {
            eprintln!(
                "{pad}: {} buffers, {} decoded ({:?}), caps {:?}",
                p.buffers,
                p.decoded,
                p.decoded_duration,
                p.caps.first()
            );
        }
    }

    /// The media type of the pad's first caps.
    pub fn first_caps_name(&self, pad: &str) -> Option<String> {
        self.pad(pad)
            .caps
            .first()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
    }
}

/// Plays `url` with rtmpsrc, each pad named in `decoders` into `queue ! DECODER ! fakesink`
/// (others into a fakesink), until EOS or an error, at most `timeout`.
pub fn play_and_decode(url: &str, decoders: &[(&str, &str)], timeout: Duration) -> PlayLog {
    play_and_decode_with(url, decoders, timeout, &[])
}

/// [`play_and_decode`] with more rtmpsrc properties (name, value as a string).
pub fn play_and_decode_with(
    url: &str,
    decoders: &[(&str, &str)],
    timeout: Duration,
    properties: &[(&str, &str)],
) -> PlayLog {
    super::pipeline::init();
    let pipeline = gst::Pipeline::new();
    let mut builder = gst::ElementFactory::make("rtmpsrc").property_from_str("location", url);
    for (name, value) in properties {
        builder = builder.property_from_str(name, value);
    }
    let src = builder.build().expect("rtmpsrc");
    pipeline.add(&src).expect("add rtmpsrc");
    let log = Arc::new(Mutex::new(PlayLog::default()));
    let weak = pipeline.downgrade();
    let pad_log = log.clone();
    let decoders: BTreeMap<String, String> = decoders
        .iter()
        .map(|(pad, dec)| (pad.to_string(), dec.to_string()))
        .collect();
    src.connect_pad_added(move |_, pad| {
        let name = pad.name().to_string();
        pad_log.lock().unwrap().pad_names.push(name.clone());
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let Some(decoder) = decoders.get(&name) else {
            let sink = gst::ElementFactory::make("fakesink").build().unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            return;
        };
        let probe_log = pad_log.clone();
        let probe_name = name.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let mut guard = probe_log.lock().unwrap();
                let log = guard.pads.entry(probe_name.clone()).or_default();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => {
                        log.buffers += 1;
                        if buffer.pts() != buffer.dts() {
                            log.reordered += 1;
                        }
                    }
                    Some(gst::PadProbeData::Event(event)) => {
                        if let gst::EventView::Caps(caps) = event.view() {
                            log.caps.push(caps.caps_owned());
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        let description = format!("queue ! {decoder} ! fakesink name=out");
        let bin = gst::parse::bin_from_description(&description, true).expect("decoding branch");
        let sink = bin.by_name("out").unwrap();
        let decoded_log = pad_log.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let mut guard = decoded_log.lock().unwrap();
                let log = guard.pads.entry(name.clone()).or_default();
                log.decoded += 1;
                if log.decoded_caps.is_none() {
                    log.decoded_caps = pad.current_caps();
                }
                if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
                    log.decoded_duration += buffer.duration().unwrap_or_default();
                }
                gst::PadProbeReturn::Ok
            });
        pipeline.add(&bin).unwrap();
        bin.sync_state_with_parent().unwrap();
        pad.link(&bin.static_pad("sink").unwrap()).unwrap();
    });
    pipeline
        .set_state(gst::State::Playing)
        .expect("set to PLAYING");
    let bus = pipeline.bus().expect("bus");
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log.lock().unwrap().error = Some(format!("timed out after {timeout:?}"));
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                log.lock().unwrap().eos = true;
                break;
            }
            gst::MessageView::Error(err) => {
                log.lock().unwrap().error = Some(format!("{} ({:?})", err.error(), err.debug()));
                break;
            }
            gst::MessageView::Warning(w) => {
                log.lock().unwrap().warnings.push(w.error().to_string());
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("set to NULL");
    let mut guard = log.lock().unwrap();
    std::mem::take(&mut *guard)
}
