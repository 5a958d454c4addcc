//! Media made and checked with ffmpeg/ffprobe: generated test FLVs, stream probes with exact frame
//! counts, clean-decode checks, an ffmpeg publisher and an ffmpeg live reader.

use super::process::{Finished, Proc, run_with_timeout};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// One stream as ffprobe reports it. Fields that do not apply to the stream type are `None`.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub codec_name: String,
    pub codec_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// Frames actually decoded (`-count_frames`).
    pub nb_read_frames: Option<u64>,
    /// Everything ffprobe said about the stream, for fields not lifted above.
    pub raw: Value,
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub streams: Vec<StreamInfo>,
}

impl Probe {
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == "video")
    }

    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == "audio")
    }

    /// Parses `ffprobe -show_streams -of json` output.
    pub fn from_json(json: &str) -> Result<Probe, String> {
        let v: Value = serde_json::from_str(json).map_err(|e| format!("bad ffprobe json: {e}"))?;
        let streams = v
            .get("streams")
            .and_then(Value::as_array)
            .ok_or("ffprobe json has no streams array")?;
        Ok(Probe {
            streams: streams.iter().map(StreamInfo::from_json).collect(),
        })
    }
}

/// ffprobe prints some numbers as JSON numbers and others (sample_rate, nb_read_frames) as strings.
fn num(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn num32(v: &Value, key: &str) -> Option<u32> {
    num(v, key).and_then(|n| u32::try_from(n).ok())
}

impl StreamInfo {
    fn from_json(v: &Value) -> StreamInfo {
        let s = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        StreamInfo {
            codec_name: s("codec_name"),
            codec_type: s("codec_type"),
            width: num32(v, "width"),
            height: num32(v, "height"),
            sample_rate: num32(v, "sample_rate"),
            channels: num32(v, "channels"),
            nb_read_frames: num(v, "nb_read_frames"),
            raw: v.clone(),
        }
    }
}

/// Probes a file or URL, decoding every frame to count them.
pub fn try_probe(path_or_url: impl AsRef<OsStr>) -> Result<Probe, String> {
    let target = path_or_url.as_ref();
    let out = run_with_timeout(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_streams",
                "-of",
                "json",
            ])
            .arg(target),
        PROBE_TIMEOUT,
    );
    if !out.success() {
        return Err(format!(
            "ffprobe {} failed (status {:?}, timed out: {}): {}",
            target.to_string_lossy(),
            out.status,
            out.timed_out,
            out.stderr
        ));
    }
    Probe::from_json(&out.stdout)
}

/// Like [`try_probe`], panicking on failure.
pub fn probe(path_or_url: impl AsRef<OsStr>) -> Probe {
    try_probe(path_or_url).unwrap_or_else(|e| panic!("{e}"))
}

/// Decodes everything with ffmpeg and returns what it complained about: empty means it decoded
/// cleanly. A failure to run at all (or a timeout) is reported in the string too.
pub fn decode_errors(path_or_url: impl AsRef<OsStr>) -> String {
    let out = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path_or_url.as_ref())
            .args(["-f", "null", "-"]),
        Duration::from_secs(60),
    );
    let mut errors = out.stderr.clone();
    if out.timed_out {
        errors.push_str("\n[harness] ffmpeg timed out");
    } else if !out.success() {
        errors.push_str(&format!("\n[harness] ffmpeg exited with {:?}", out.status));
    }
    errors
}

/// Presentation timestamps (ms) of every decoded video frame, in the order the decoder outputs
/// them (display order): with correct composition times they strictly increase.
pub fn video_frame_pts_ms(path: impl AsRef<OsStr>) -> Vec<i64> {
    let out = run_with_timeout(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "frame=pts", "-of", "csv=p=0"])
            .arg(path.as_ref()),
        PROBE_TIMEOUT,
    );
    out.assert_success("ffprobe frame pts");
    out.stdout
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// `pict_type` of every decoded video frame in order (e.g. "IPBBP..."), to check for B-frames.
pub fn video_pict_types(path: impl AsRef<OsStr>) -> String {
    let out = run_with_timeout(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "frame=pict_type", "-of", "csv=p=0"])
            .arg(path.as_ref()),
        PROBE_TIMEOUT,
    );
    out.assert_success("ffprobe pict_type");
    out.stdout.split_whitespace().collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Mp3,
}

/// What [`make_test_flv`] generates. The default is 2 s of H.264 320x240 at 25 fps (keyframe every
/// second, no B-frames) with AAC 48 kHz stereo; the builder methods change one aspect each.
#[derive(Debug, Clone)]
pub struct TestFlv {
    pub duration_ms: u32,
    pub video: bool,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub b_frames: u32,
    pub audio: Option<AudioCodec>,
    pub sample_rate: u32,
    pub channels: u32,
}

impl Default for TestFlv {
    fn default() -> Self {
        TestFlv {
            duration_ms: 2000,
            video: true,
            width: 320,
            height: 240,
            fps: 25,
            b_frames: 0,
            audio: Some(AudioCodec::Aac),
            sample_rate: 48000,
            channels: 2,
        }
    }
}

impl TestFlv {
    pub fn duration_ms(mut self, ms: u32) -> Self {
        self.duration_ms = ms;
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Up to `n` consecutive B-frames (so PTS != DTS and FLV composition offsets are non-zero).
    pub fn b_frames(mut self, n: u32) -> Self {
        self.b_frames = n;
        self
    }

    /// MP3 instead of AAC, at 44.1 kHz (FLV's MP3 rates are 44.1/22.05/11.025 kHz).
    pub fn mp3(mut self) -> Self {
        self.audio = Some(AudioCodec::Mp3);
        self.sample_rate = 44100;
        self
    }

    pub fn mono_44k(mut self) -> Self {
        self.sample_rate = 44100;
        self.channels = 1;
        self
    }

    pub fn audio_only(mut self) -> Self {
        self.video = false;
        self
    }

    pub fn video_only(mut self) -> Self {
        self.audio = None;
        self
    }
}

/// Generates a test FLV (lavfi testsrc + sine) at `path` and returns its probe, which tells the
/// exact frame counts later comparisons should reproduce.
pub fn make_test_flv(path: &Path, opts: &TestFlv) -> Probe {
    assert!(
        opts.video || opts.audio.is_some(),
        "a test FLV needs a stream"
    );
    let secs = format!("{}.{:03}", opts.duration_ms / 1000, opts.duration_ms % 1000);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y"]);
    let mut maps = Vec::new();
    if opts.video {
        let src = format!(
            "testsrc=size={}x{}:rate={}:duration={secs}",
            opts.width, opts.height, opts.fps
        );
        cmd.args(["-f", "lavfi", "-i", &src]);
        maps.push(format!("{}:v", maps.len()));
    }
    if opts.audio.is_some() {
        let src = format!(
            "sine=frequency=440:sample_rate={}:duration={secs}",
            opts.sample_rate
        );
        cmd.args(["-f", "lavfi", "-i", &src]);
        maps.push(format!("{}:a", maps.len()));
    }
    for m in &maps {
        cmd.args(["-map", m]);
    }
    if opts.video {
        let gop = opts.fps.to_string();
        let bf = opts.b_frames.to_string();
        // A fixed GOP without scene cuts keeps frame types reproducible from run to run.
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bf",
            &bf,
        ]);
    }
    match opts.audio {
        Some(AudioCodec::Aac) => {
            cmd.args(["-c:a", "aac", "-b:a", "96k"]);
        }
        Some(AudioCodec::Mp3) => {
            cmd.args(["-c:a", "libmp3lame", "-b:a", "128k"]);
        }
        None => {}
    }
    if opts.audio.is_some() {
        cmd.args(["-ac", &opts.channels.to_string()]);
    }
    cmd.args(["-f", "flv"]).arg(path);
    run_with_timeout(&mut cmd, Duration::from_secs(60)).assert_success("ffmpeg make_test_flv");
    probe(path)
}

/// Publishes an FLV file in real time (`-re`) to `url` with ffmpeg. Use [`Proc::finish`] to wait
/// for the end of the file; the process is killed if dropped earlier.
pub fn ffmpeg_publish_file(flv: &Path, url: &str) -> Proc {
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-i"])
            .arg(flv)
            .args(["-c", "copy", "-f", "flv", url]),
    )
}

/// A real RTMP client (ffmpeg) playing a live stream and copying it into an FLV file.
pub struct LiveReader {
    proc: Proc,
    out: PathBuf,
}

impl LiveReader {
    /// Starts playing `url`, writing the stream unchanged to `out`. Start it before the publisher
    /// (and wait for [`super::Nginx::wait_player`]) to receive the stream from its first frame.
    pub fn start(url: &str, out: &Path) -> LiveReader {
        let proc = Proc::spawn(
            Command::new("ffmpeg")
                // rw_timeout (µs): the reader gives up by itself if the stream stalls for 10 s.
                .args(["-nostdin", "-v", "error", "-y", "-rw_timeout", "10000000"])
                // The default 5 s of analysis would swallow a whole short test stream before
                // the output is even opened.
                .args(["-analyzeduration", "1000000", "-i", url])
                .args(["-c", "copy", "-f", "flv"])
                .arg(out),
        );
        LiveReader {
            proc,
            out: out.to_path_buf(),
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.try_wait().is_none()
    }

    /// Waits up to `grace` for the reader to end by itself (on the `live` application it does as
    /// soon as the publisher stops), then stops it with SIGTERM (ffmpeg still finishes the file;
    /// exit status 255) and finally kills it. Returns the output file and how ffmpeg ended.
    pub fn finish(mut self, grace: Duration) -> (PathBuf, Finished) {
        self.proc.wait_timeout(grace);
        let run = self.proc.terminate(Duration::from_secs(5));
        (self.out, run)
    }
}
