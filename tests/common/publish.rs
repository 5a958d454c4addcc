//! Enhanced RTMP publishing helpers: GStreamer encoder branches for rtmpsink's pads, an
//! in-process publisher that records the bus (warnings included), FFmpeg 9 as the receiving
//! server (`-listen 1 ... -f framecrc -`, which decodes every stream and lists its frames),
//! node-media-server 4 (a relay that knows E-RTMP), and a counting rtmpsrc player.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::{Finished, Proc, TempDir, ffmpeg9, free_port, wait_listening, wait_until};

pub const WIDTH: u32 = 160;
pub const HEIGHT: u32 = 120;

/// A video encoder branch ending in what rtmpsink's video pads take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Video {
    H264,
    Hevc,
    Av1,
    Vp9,
}

impl Video {
    /// `frames` frames at 30 fps, 160x120, a keyframe every 15; fast encoder settings.
    pub fn branch(self, frames: u32, live: bool) -> String {
        let encoder = match self {
            Video::H264 => "x264enc speed-preset=ultrafast key-int-max=15 ! h264parse",
            // B-frames (x265's default) give composition times.
            Video::Hevc => {
                "x265enc speed-preset=ultrafast key-int-max=15 ! h265parse ! \
                 video/x-h265,stream-format=hvc1"
            }
            Video::Av1 => {
                "av1enc cpu-used=8 usage-profile=realtime keyframe-max-dist=15 ! av1parse"
            }
            Video::Vp9 => "vp9enc deadline=1 keyframe-max-dist=15 ! vp9parse",
        };
        format!(
            "videotestsrc num-buffers={frames} is-live={live} ! video/x-raw,format=I420,width={WIDTH},\
             height={HEIGHT},framerate=30/1 ! {encoder}"
        )
    }

    /// Parser and decoder after rtmpsrc.
    pub fn decoder(self) -> &'static str {
        match self {
            Video::H264 => "h264parse ! avdec_h264",
            Video::Hevc => "h265parse ! avdec_h265",
            Video::Av1 => "av1parse ! av1dec",
            Video::Vp9 => "vp9parse ! vp9dec",
        }
    }

    pub fn fourcc(self) -> &'static str {
        match self {
            Video::H264 => "avc1",
            Video::Hevc => "hvc1",
            Video::Av1 => "av01",
            Video::Vp9 => "vp09",
        }
    }
}

/// An audio encoder branch ending in what rtmpsink's audio pads take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audio {
    Aac,
    Opus,
    Flac,
    Ac3,
    Eac3,
}

impl Audio {
    /// `buffers` buffers of 1024 samples at 48 kHz, stereo (about 21 ms each).
    pub fn branch(self, buffers: u32, freq: u32, live: bool) -> String {
        let encoder = match self {
            Audio::Aac => "voaacenc ! aacparse",
            Audio::Opus => "opusenc ! opusparse",
            Audio::Flac => "flacenc ! flacparse",
            Audio::Ac3 => "avenc_ac3 ! ac3parse",
            Audio::Eac3 => "avenc_eac3 ! ac3parse",
        };
        format!(
            "audiotestsrc num-buffers={buffers} samplesperbuffer=1024 freq={freq} is-live={live} ! \
             audio/x-raw,rate=48000,channels=2 ! {encoder}"
        )
    }

    pub fn decoder(self) -> &'static str {
        match self {
            Audio::Aac => "aacparse ! avdec_aac",
            Audio::Opus => "opusparse ! opusdec",
            Audio::Flac => "flacparse ! flacdec",
            Audio::Ac3 => "ac3parse ! avdec_ac3",
            Audio::Eac3 => "ac3parse ! avdec_eac3",
        }
    }

    pub fn fourcc(self) -> &'static str {
        match self {
            Audio::Aac => "mp4a",
            Audio::Opus => "Opus",
            Audio::Flac => "fLaC",
            Audio::Ac3 => "ac-3",
            Audio::Eac3 => "ec-3",
        }
    }

    /// Frames FFmpeg decodes from `buffers` buffers of 1024 samples: Opus packets are 20 ms
    /// (plus the encoder's lookahead), FLAC blocks 4608 samples (flacenc's default at 48 kHz),
    /// AC-3 frames 1536.
    pub fn expected_frames(self, buffers: u32) -> std::ops::RangeInclusive<usize> {
        let samples = buffers as usize * 1024;
        let per_frame = match self {
            Audio::Aac => 1024,
            Audio::Opus => 960,
            Audio::Flac => 4608,
            Audio::Ac3 | Audio::Eac3 => 1536,
        };
        let n = samples / per_frame;
        n.saturating_sub(1)..=n + 2
    }
}

/// What a publishing pipeline posted.
#[derive(Debug, Default)]
pub struct Published {
    pub eos: bool,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// Runs `description` (its rtmpsink named `s`) in-process until EOS or an error, at most
/// `timeout`, keeping the warnings.
pub fn publish(description: &str, timeout: Duration) -> Published {
    super::pipeline::init();
    let pipeline = gst::parse::launch(description).expect("pipeline parses");
    pipeline
        .set_state(gst::State::Playing)
        .expect("set to PLAYING");
    let bus = pipeline.bus().expect("bus");
    let mut out = Published::default();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            out.error = Some(format!("timed out after {timeout:?}"));
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                out.eos = true;
                break;
            }
            gst::MessageView::Error(err) => {
                out.error = Some(format!("{} ({:?})", err.error(), err.debug()));
                break;
            }
            gst::MessageView::Warning(w) => out.warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("set to NULL");
    out
}

/// What FFmpeg 9 decoded: frames per stream index, codec names, and its error output minus
/// the end-of-input line every closed RTMP input gives.
#[derive(Debug)]
pub struct Decoded {
    pub frames: BTreeMap<u32, usize>,
    pub media_types: BTreeMap<u32, String>,
    pub errors: String,
    pub finished: Finished,
}

/// FFmpeg 9 as the RTMP server for one publisher, decoding every stream (`-map 0`) into
/// framecrc lines on stdout.
pub struct Ffmpeg9Listener {
    pub url: String,
    proc: Proc,
}

impl Ffmpeg9Listener {
    pub fn start() -> Ffmpeg9Listener {
        let port = free_port();
        let url = format!("rtmp://127.0.0.1:{port}/live/key");
        let proc = Proc::spawn(
            std::process::Command::new(ffmpeg9())
                .args(["-nostdin", "-hide_banner", "-v", "error", "-listen", "1"])
                .args(["-rw_timeout", "20000000", "-i"])
                .arg(&url)
                .args(["-map", "0", "-f", "framecrc", "-"]),
        );
        assert!(
            wait_listening(port, Duration::from_secs(10)),
            "ffmpeg 9 does not listen on port {port}"
        );
        Ffmpeg9Listener { url, proc }
    }

    /// Waits for FFmpeg to end (it does when the publisher closes) and reads its output.
    pub fn finish(self, timeout: Duration) -> Decoded {
        let finished = self.proc.finish(timeout);
        parse_framecrc(finished)
    }
}

pub fn parse_framecrc(finished: Finished) -> Decoded {
    let mut frames = BTreeMap::new();
    let mut media_types = BTreeMap::new();
    for line in finished.stdout.lines() {
        if let Some(rest) = line.strip_prefix("#media_type ") {
            if let Some((index, kind)) = rest.split_once(": ")
                && let Ok(index) = index.parse()
            {
                media_types.insert(index, kind.to_owned());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(Ok(index)) = line.split(',').next().map(|i| i.trim().parse::<u32>()) {
            *frames.entry(index).or_insert(0) += 1;
        }
    }
    let errors = finished
        .stderr
        .lines()
        .filter(|l| !l.contains("Error during demuxing: Input/output error"))
        .collect::<Vec<_>>()
        .join("\n");
    Decoded {
        frames,
        media_types,
        errors,
        finished,
    }
}

/// node-media-server 4 (E-RTMP relay: hvc1/av01/vp09, Opus, FLAC, AC-3 pass through) on free
/// loopback ports, from `target/nms4` (`scripts/install-deps.sh` installs it).
pub struct Nms4 {
    pub port: u16,
    // The process dies before its directory goes.
    proc: Option<Proc>,
    dir: TempDir,
}

pub fn nms4_app() -> PathBuf {
    let app = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/nms4/node_modules/node-media-server/bin/app.js");
    assert!(
        app.exists(),
        "{} is missing: run scripts/install-deps.sh",
        app.display()
    );
    app
}

impl Nms4 {
    pub fn start() -> Nms4 {
        let dir = TempDir::new("nms4");
        for _ in 0..3 {
            let (port, http) = (free_port(), free_port());
            let config = format!(
                r#"{{"bind":"127.0.0.1","notify":{{"url":""}},
                "store":{{"path":"{data}","maxHistory":100}},
                "auth":{{"play":false,"publish":false,"secret":"test"}},
                "rtmp":{{"port":{port}}},"http":{{"port":{http}}},
                "webadmin":{{"enable":false}},"record":{{"auto":false,"path":"{data}"}}}}"#,
                data = dir.join("data").display()
            );
            let config_path = dir.join("config.json");
            std::fs::write(&config_path, config).expect("write NMS config");
            // NMS logs to stdout; a file lets the test follow it while NMS runs.
            let mut proc = Proc::spawn(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg("exec node \"$0\" -c \"$1\" --no-admin > \"$2\" 2>&1")
                    .arg(nms4_app())
                    .arg(&config_path)
                    .arg(dir.join("nms.log")),
            );
            if wait_until(Duration::from_secs(15), || {
                proc.try_wait().is_some() || is_listening(port)
            }) && is_listening(port)
            {
                return Nms4 {
                    port,
                    proc: Some(proc),
                    dir,
                };
            }
            let _ = proc.kill();
        }
        panic!("node-media-server 4 did not start");
    }

    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nms.log")).unwrap_or_default()
    }

    /// Waits until NMS's log has `needle` (e.g. "start play /live/key").
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        assert!(
            wait_until(timeout, || self.log().contains(needle)),
            "NMS never logged {needle:?}:\n{}",
            self.log()
        );
    }
}

impl Drop for Nms4 {
    fn drop(&mut self) {
        if let Some(proc) = self.proc.take() {
            let _ = proc.kill();
        }
    }
}

fn is_listening(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
}

/// An rtmpsrc player that decodes each pad named in `decoders` and counts decoded buffers;
/// it runs until stopped (relays such as NMS do not end a play when the publisher leaves).
pub struct CountingPlayer {
    pipeline: gst::Pipeline,
    pub decoded: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>,
    /// Buffers rtmpsrc pushed on each pad (before the decoder).
    pub received: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>,
    pub caps: Arc<Mutex<BTreeMap<String, gst::Caps>>>,
}

impl CountingPlayer {
    pub fn start(url: &str, decoders: &[(&str, &str)]) -> CountingPlayer {
        Self::start_with(url, "caller", decoders)
    }

    /// rtmpsrc in listener mode on `url`'s address, taking one publisher.
    pub fn start_listener(url: &str, decoders: &[(&str, &str)]) -> CountingPlayer {
        Self::start_with(url, "listener", decoders)
    }

    fn start_with(url: &str, mode: &str, decoders: &[(&str, &str)]) -> CountingPlayer {
        super::pipeline::init();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtmpsrc")
            .property_from_str("location", url)
            .property_from_str("mode", mode)
            .build()
            .expect("rtmpsrc");
        pipeline.add(&src).expect("add rtmpsrc");
        let decoded: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>> = Default::default();
        let received: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>> = Default::default();
        let caps: Arc<Mutex<BTreeMap<String, gst::Caps>>> = Default::default();
        let decoders: BTreeMap<String, String> = decoders
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .collect();
        let weak = pipeline.downgrade();
        let (decoded_c, caps_c, received_c) = (decoded.clone(), caps.clone(), received.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let name = pad.name().to_string();
            let description = match decoders.get(&name) {
                Some(decoder) => format!("queue ! {decoder} ! fakesink name=out"),
                None => "fakesink name=out".to_owned(),
            };
            let bin = gst::parse::bin_from_description(&description, true).expect("branch");
            let counter = Arc::new(AtomicU64::new(0));
            decoded_c
                .lock()
                .unwrap()
                .insert(name.clone(), counter.clone());
            let sink = bin.by_name("out").unwrap();
            sink.static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            let caps_log = caps_c.clone();
            let pushed = Arc::new(AtomicU64::new(0));
            received_c
                .lock()
                .unwrap()
                .insert(name.clone(), pushed.clone());
            pad.add_probe(
                gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER,
                move |_, info| {
                    match &info.data {
                        Some(gst::PadProbeData::Event(event)) => {
                            if let gst::EventView::Caps(c) = event.view() {
                                caps_log
                                    .lock()
                                    .unwrap()
                                    .insert(name.clone(), c.caps_owned());
                            }
                        }
                        Some(gst::PadProbeData::Buffer(_)) => {
                            pushed.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            pipeline.add(&bin).unwrap();
            bin.sync_state_with_parent().unwrap();
            pad.link(&bin.static_pad("sink").unwrap()).unwrap();
        });
        pipeline
            .set_state(gst::State::Playing)
            .expect("set to PLAYING");
        CountingPlayer {
            pipeline,
            decoded,
            received,
            caps,
        }
    }

    pub fn decoded(&self, pad: &str) -> u64 {
        self.decoded
            .lock()
            .unwrap()
            .get(pad)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn received(&self, pad: &str) -> u64 {
        self.received
            .lock()
            .unwrap()
            .get(pad)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Waits until each `(pad, n)` has at least `n` buffers from rtmpsrc; returns whether they
    /// did.
    pub fn wait_received(&self, wanted: &[(&str, u64)], timeout: Duration) -> bool {
        wait_until(timeout, || {
            wanted.iter().all(|(pad, n)| self.received(pad) >= *n)
        })
    }

    /// Waits until each `(pad, n)` has at least `n` decoded buffers; returns whether they did.
    pub fn wait_decoded(&self, wanted: &[(&str, u64)], timeout: Duration) -> bool {
        wait_until(timeout, || {
            wanted.iter().all(|(pad, n)| self.decoded(pad) >= *n)
        })
    }

    /// The first error on the bus so far, if any.
    pub fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                return Some(format!("{} ({:?})", err.error(), err.debug()));
            }
        }
        None
    }
}

impl Drop for CountingPlayer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
