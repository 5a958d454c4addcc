//! rtmpsink in listener mode serving a live test stream, and the real players that watch it:
//! FFmpeg 5.1, FFmpeg 9, rtmp2src ! flvdemux, rtmpdump and our rtmpsrc. Each player reports what
//! a user would check: the video frames it decoded (their timestamps), whether it got audio, and
//! what its decoder complained about.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{Finished, Proc};
use super::{TempDir, free_port, gst_plugin_path, run_with_timeout, wait_listening};

/// Frames per second of the served test stream (x264enc, one keyframe a second).
pub const FPS: u32 = 30;
/// One frame's duration in ms, rounded down.
pub const FRAME_MS: f64 = 1000.0 / FPS as f64;

/// What stream to serve and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Video frames before EOS (and as many 1/30 s audio buffers).
    pub frames: u32,
    pub audio: bool,
    pub video: bool,
    /// `rtmpsink` properties besides mode and location, e.g. `max-clients=2`.
    pub sink_props: String,
    pub app: String,
    pub stream: String,
    /// `rtmps` to serve over TLS (the certificate files then go in `sink_props`).
    pub scheme: String,
    /// videotestsrc and x264enc properties, e.g. `pattern=snow` and `bitrate=4000` for a
    /// stream that fills a stopped player's socket buffers quickly.
    pub pattern: String,
    pub x264_props: String,
    /// `GST_DEBUG` for the sink process (its log is in the stderr `finish` returns).
    pub debug: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            frames: 10 * FPS,
            audio: true,
            video: true,
            sink_props: String::new(),
            app: "live".into(),
            stream: "key".into(),
            scheme: "rtmp".into(),
            pattern: "ball".into(),
            x264_props: String::new(),
            debug: None,
        }
    }
}

/// The pipeline description: live test video (H.264) and audio (AAC) into rtmpsink listening.
pub fn serve_pipeline(options: &ServeOptions, port: u16) -> String {
    let mut pipeline = format!(
        "rtmpsink name=s mode=listener location={}://127.0.0.1:{port}/{}/{} {} ",
        options.scheme, options.app, options.stream, options.sink_props
    );
    if options.video {
        pipeline.push_str(&format!(
            "videotestsrc is-live=true num-buffers={} pattern={} \
             ! video/x-raw,width=320,height=240,framerate={FPS}/1 \
             ! x264enc tune=zerolatency key-int-max={FPS} speed-preset=ultrafast {} \
             ! h264parse ! queue ! s.video ",
            options.frames, options.pattern, options.x264_props
        ));
    }
    if options.audio {
        pipeline.push_str(&format!(
            "audiotestsrc is-live=true num-buffers={} samplesperbuffer={} \
             ! audio/x-raw,rate=44100,channels=2 ! avenc_aac ! aacparse ! queue ! s.audio ",
            options.frames,
            44100 / FPS
        ));
    }
    pipeline
}

/// A `gst-launch-1.0` process serving the test stream with our rtmpsink in listener mode.
pub struct ServeStream {
    pub port: u16,
    pub url: String,
    proc: Proc,
    /// Where the sink's GStreamer debug log goes when `debug` asked for one.
    log: Option<std::path::PathBuf>,
}

impl ServeStream {
    pub fn start(options: &ServeOptions) -> ServeStream {
        Self::try_start(options).unwrap_or_else(|finished| {
            panic!(
                "rtmpsink did not start listening\n--- stdout ---\n{}\n--- stderr ---\n{}",
                finished.stdout, finished.stderr
            )
        })
    }

    /// Starts the sink and waits until it listens; `Err` with its output when it never does.
    pub fn try_start(options: &ServeOptions) -> Result<ServeStream, Finished> {
        let port = free_port();
        let args = super::gst::split_args(&serve_pipeline(options, port));
        let log = options.debug.as_ref().map(|_| {
            std::env::temp_dir().join(format!("rtmpsink-serve-{}-{port}.log", std::process::id()))
        });
        let mut command = Command::new("gst-launch-1.0");
        if let Some(log) = &log {
            command.env("GST_DEBUG_FILE", log);
        }
        let mut proc = Proc::spawn(
            command
                .env("GST_PLUGIN_PATH", gst_plugin_path())
                .env("GST_REGISTRY", super::gst::registry(true))
                .env("GST_DEBUG_NO_COLOR", "1")
                .env("GST_DEBUG", options.debug.as_deref().unwrap_or(""))
                .arg("-e")
                .arg("-m")
                .args(&args),
        );
        if !wait_listening(port, Duration::from_secs(20)) {
            let _ = proc.wait_timeout(Duration::from_secs(1));
            return Err(proc.kill());
        }
        Ok(ServeStream {
            port,
            url: format!(
                "{}://127.0.0.1:{port}/{}/{}",
                options.scheme, options.app, options.stream
            ),
            proc,
            log,
        })
    }

    /// The sink's debug log so far (empty without `debug`).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Peak resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.try_wait().is_none()
    }

    /// Waits for the pipeline to reach EOS and exit (it does once every player is closed).
    pub fn finish(self, timeout: Duration) -> Finished {
        let finished = self.proc.finish(timeout);
        with_log(finished, self.log)
    }

    pub fn kill(self) -> Finished {
        let finished = self.proc.kill();
        with_log(finished, self.log)
    }
}

/// The debug log goes where it would without a file: after the process's own stderr.
fn with_log(mut finished: Finished, log: Option<std::path::PathBuf>) -> Finished {
    if let Some(path) = log {
        finished
            .stderr
            .push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        let _ = std::fs::remove_file(&path);
    }
    finished
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The players the tests run against the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerKind {
    /// Debian's FFmpeg 5.1, decoding to `-f framecrc`.
    Ffmpeg,
    /// The static FFmpeg 9 build, decoding to `-f framecrc`.
    Ffmpeg9,
    /// `rtmp2src ! flvdemux ! h264parse ! avdec_h264` (and avdec_aac).
    Rtmp2src,
    /// `rtmpdump -o out.flv`, decoded by FFmpeg afterwards.
    Rtmpdump,
    /// Our `rtmpsrc` in caller mode, decoding with avdec_h264 and avdec_aac.
    Rtmpsrc,
    /// gst-plugins-bad's librtmp `rtmpsrc ! flvdemux` (in a process without our plugin).
    LibrtmpSrc,
}

/// A player process watching the sink's stream.
pub struct Player {
    pub kind: PlayerKind,
    proc: Proc,
    out: PathBuf,
}

/// What a player got, as a user would check it.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// Timestamps (ms) of the decoded video frames, in output order.
    pub video_ms: Vec<f64>,
    /// Decoded audio frames (FFmpeg-based players; the GStreamer ones decode audio without
    /// counting it: `audio_frames` is then 1 when their audio branch ran without error).
    pub audio_frames: usize,
    /// What the player or its decoder complained about; empty when all went well.
    pub errors: String,
    pub finished_ok: bool,
    pub output: String,
}

impl Watched {
    /// The largest gap between two consecutive frames, in frames (1.0 = none missing).
    pub fn largest_gap_frames(&self) -> f64 {
        self.video_ms
            .windows(2)
            .map(|w| (w[1] - w[0]) / FRAME_MS)
            .fold(0.0, f64::max)
    }

    /// Asserts decoded video with no frame missing from the first to the last, and audio.
    pub fn assert_every_frame(&self, what: &str) {
        assert!(
            self.finished_ok && self.errors.trim().is_empty(),
            "{what}: errors: {}\n{}",
            self.errors,
            self.output
        );
        assert!(
            self.video_ms.len() > FPS as usize,
            "{what}: only {} video frames\n{}",
            self.video_ms.len(),
            self.output
        );
        let gap = self.largest_gap_frames();
        assert!(
            gap < 1.5,
            "{what}: frames missing (a gap of {gap:.1} frames) in {:?}",
            self.video_ms
        );
        assert!(self.audio_frames > 0, "{what}: no audio");
    }
}

fn gst_player(pipeline: &str, ours: bool) -> Proc {
    let args = super::gst::split_args(pipeline);
    // Without our plugin on the path, `rtmpsrc` is librtmp's (same file name, libgstrtmp.so).
    let plugin_path = if ours {
        gst_plugin_path()
    } else {
        PathBuf::new()
    };
    Proc::spawn(
        Command::new("gst-launch-1.0")
            .env("GST_PLUGIN_PATH", plugin_path)
            .env("GST_REGISTRY", super::gst::registry(ours))
            .env("GST_DEBUG_NO_COLOR", "1")
            .arg("-e")
            .args(&args),
    )
}

/// FLV timestamps are milliseconds, kept as they are: in the default 1/framerate time base a
/// stream whose video starts off a frame boundary (16 ms after its audio, in CI) rounds into
/// pairs of equal timestamps with a two-frame gap after each.
const MS_TIME_BASE: &str = "1:1000";

/// Every decoded frame with its own timestamp (`-fps_mode passthrough`: no frames dropped or
/// repeated to make a constant rate).
fn ffmpeg_player(program: &Path, url: &str, out: &Path) -> Proc {
    Proc::spawn(
        Command::new(program)
            // rw_timeout (µs): the player gives up by itself if the stream stalls for 15 s.
            .args(["-nostdin", "-v", "error", "-y", "-rw_timeout", "15000000"])
            .args(["-analyzeduration", "1000000", "-i", url])
            .args([
                "-map",
                "0:v?",
                "-map",
                "0:a?",
                "-fps_mode",
                "passthrough",
                "-enc_time_base:v",
                MS_TIME_BASE,
                "-f",
                "framecrc",
            ])
            .arg(out),
    )
}

impl Player {
    pub fn start(kind: PlayerKind, url: &str, dir: &TempDir, name: &str) -> Player {
        let out = dir.join(format!("{name}.out"));
        let proc = match kind {
            PlayerKind::Ffmpeg => ffmpeg_player(Path::new("ffmpeg"), url, &out),
            PlayerKind::Ffmpeg9 => ffmpeg_player(&super::ffmpeg9(), url, &out),
            PlayerKind::Rtmpdump => Proc::spawn(
                Command::new("rtmpdump")
                    .args(["-q", "--live", "--timeout", "15", "-r", url, "-o"])
                    .arg(&out),
            ),
            PlayerKind::Rtmp2src => gst_player(
                &format!(
                    "rtmp2src location={url} ! flvdemux name=d \
                     d.video ! queue ! h264parse ! avdec_h264 ! checksumsink \
                     d.audio ! queue ! aacparse ! avdec_aac ! fakesink",
                ),
                true,
            ),
            PlayerKind::LibrtmpSrc => gst_player(
                &format!(
                    "rtmpsrc location=\"{url} live=1\" ! flvdemux name=d \
                     d.video ! queue ! h264parse ! avdec_h264 ! checksumsink \
                     d.audio ! queue ! aacparse ! avdec_aac ! fakesink",
                ),
                false,
            ),
            PlayerKind::Rtmpsrc => gst_player(
                &format!(
                    "rtmpsrc location={url} name=s \
                     s.video ! queue ! h264parse ! avdec_h264 ! checksumsink \
                     s.audio ! queue ! aacparse ! avdec_aac ! fakesink",
                ),
                true,
            ),
        };
        Player { kind, proc, out }
    }

    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.try_wait().is_none()
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the player process.
    pub fn pause(&self, stop: bool) {
        let signal = if stop { libc::SIGSTOP } else { libc::SIGCONT };
        if let Ok(pid) = libc::pid_t::try_from(self.pid()) {
            // SAFETY: kill(2) on our own child, not reaped yet (Proc reaps only in try_wait/drop).
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Waits up to `timeout` for the player to end by itself (at the end of the stream), then
    /// reads what it decoded.
    pub fn finish(self, timeout: Duration) -> Watched {
        let finished = self.proc.finish(timeout);
        let output = format!(
            "--- {:?} status {:?} timed out {} ---\n{}\n{}",
            self.kind, finished.status, finished.timed_out, finished.stdout, finished.stderr
        );
        match self.kind {
            PlayerKind::Ffmpeg | PlayerKind::Ffmpeg9 => {
                let mut watched =
                    parse_framecrc(&std::fs::read_to_string(&self.out).unwrap_or_default());
                watched.errors = finished.stderr.clone();
                watched.finished_ok = finished.success();
                watched.output = output;
                watched
            }
            PlayerKind::Rtmpdump => {
                // rtmpdump exits 0 (complete) or 2 (incomplete: a live stream that ended).
                let ok = !finished.timed_out
                    && finished
                        .status
                        .is_some_and(|s| matches!(s.code(), Some(0 | 2)));
                let decoded = run_with_timeout(
                    Command::new("ffmpeg")
                        .args(["-nostdin", "-v", "error", "-i"])
                        .arg(&self.out)
                        .args(["-map", "0:v?", "-map", "0:a?", "-fps_mode", "passthrough"])
                        .args(["-enc_time_base:v", MS_TIME_BASE, "-f", "framecrc", "-"]),
                    Duration::from_secs(60),
                );
                let mut watched = parse_framecrc(&decoded.stdout);
                watched.errors = decoded.stderr.clone();
                watched.finished_ok = ok && decoded.success();
                watched.output = output;
                watched
            }
            PlayerKind::Rtmp2src | PlayerKind::Rtmpsrc | PlayerKind::LibrtmpSrc => {
                let video_ms = finished
                    .stdout
                    .lines()
                    .filter_map(|l| parse_clock_time_ms(l.split_whitespace().next()?))
                    .collect();
                let errors = if finished.stderr.contains("ERROR") {
                    finished.stderr.clone()
                } else {
                    String::new()
                };
                Watched {
                    video_ms,
                    audio_frames: usize::from(finished.success()),
                    errors,
                    finished_ok: finished.success(),
                    output,
                }
            }
        }
    }
}

/// `H:MM:SS.nnnnnnnnn` (checksumsink's timestamps) in ms.
fn parse_clock_time_ms(text: &str) -> Option<f64> {
    let mut parts = text.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

/// Video frame timestamps and the audio frame count of `-f framecrc` output (streams told
/// apart by its `#media_type` lines).
pub fn parse_framecrc(text: &str) -> Watched {
    use std::collections::HashMap;
    let mut timebases: HashMap<String, f64> = HashMap::new();
    let mut media_types: HashMap<String, String> = HashMap::new();
    let mut watched = Watched::default();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('#') {
            // "#tb 0: 1/30", "#media_type 0: video"
            let Some((key, value)) = header.split_once(':') else {
                continue;
            };
            let Some((name, index)) = key.split_once(' ') else {
                continue;
            };
            let (index, value) = (index.trim().to_string(), value.trim());
            match name {
                "tb" => {
                    if let Some((num, den)) = value.split_once('/')
                        && let (Ok(num), Ok(den)) = (num.parse::<f64>(), den.parse::<f64>())
                    {
                        timebases.insert(index, num / den);
                    }
                }
                "media_type" => {
                    media_types.insert(index, value.to_string());
                }
                _ => {}
            }
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 3 {
            continue;
        }
        match media_types.get(fields[0]).map(String::as_str) {
            Some("video") => {
                let timebase = timebases.get(fields[0]).copied().unwrap_or(0.001);
                if let Ok(pts) = fields[2].parse::<f64>() {
                    watched.video_ms.push(pts * timebase * 1000.0);
                }
            }
            Some("audio") => watched.audio_frames += 1,
            _ => {}
        }
    }
    watched
}
