//! Recordings for nginx-rtmp's `vod` application (`play DIR`): FLV with a `keyframes` index, the
//! same as MP4, and audio-only files, made with ffmpeg.
//!
//! nginx seeks in an FLV only through the `keyframes` object of its onMetaData (`times` and
//! `filepositions`, which `-flvflags add_keyframe_index` writes); without it every seek restarts
//! the file. The video has a keyframe exactly every second; [`VodFile::seek_lands_at`] tells
//! where nginx resumes after a seek.
//!
//! Each distinct recording is made once per test process, into a cache directory that outlives
//! the tests (`CARGO_TARGET_TMPDIR`, keyed by a hash of the ffmpeg arguments so a changed recipe
//! makes a new file), and hard-linked (or copied) into each nginx's vod dir: ffmpeg takes about a
//! second for 20 s of video and CI has 2 cores.

use super::nginx::Nginx;
use super::process::run_with_timeout;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

pub const VOD_WIDTH: u32 = 320;
pub const VOD_HEIGHT: u32 = 240;
pub const VOD_FPS: u32 = 25;
/// Distance between video keyframes (and entries of the FLV `keyframes` index).
pub const VOD_KEYFRAME_INTERVAL_MS: u32 = 1000;
pub const VOD_SAMPLE_RATE: u32 = 44100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VodFormat {
    /// H.264 + AAC in FLV with a `keyframes` index; played as `NAME.flv`.
    Flv,
    /// H.264 + AAC in MP4 with the moov atom first (`+faststart`); played as `mp4:NAME.mp4`.
    Mp4,
    /// AAC only, in FLV (no `keyframes` index: it has no video keyframes).
    AacFlv,
    /// MP3 only, in FLV.
    Mp3Flv,
}

/// A recording to make: format and duration. Defaults: 20 s for video, 5 s for audio-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recording {
    pub format: VodFormat,
    pub duration_ms: u32,
    /// Up to this many consecutive B-frames (2 by default, so PTS != DTS).
    pub b_frames: u32,
}

impl Recording {
    pub fn flv() -> Recording {
        Recording {
            format: VodFormat::Flv,
            duration_ms: 20_000,
            b_frames: 2,
        }
    }

    pub fn mp4() -> Recording {
        Recording {
            format: VodFormat::Mp4,
            ..Recording::flv()
        }
    }

    pub fn aac_flv() -> Recording {
        Recording {
            format: VodFormat::AacFlv,
            duration_ms: 5_000,
            b_frames: 0,
        }
    }

    pub fn mp3_flv() -> Recording {
        Recording {
            format: VodFormat::Mp3Flv,
            ..Recording::aac_flv()
        }
    }

    pub fn duration_ms(mut self, ms: u32) -> Recording {
        self.duration_ms = ms;
        self
    }

    pub fn b_frames(mut self, n: u32) -> Recording {
        self.b_frames = n;
        self
    }

    pub fn has_video(&self) -> bool {
        matches!(self.format, VodFormat::Flv | VodFormat::Mp4)
    }

    fn extension(&self) -> &'static str {
        match self.format {
            VodFormat::Mp4 => "mp4",
            _ => "flv",
        }
    }

    /// The ffmpeg arguments after `-nostdin -v error -y`, up to (not including) the output path.
    fn ffmpeg_args(&self) -> Vec<String> {
        let secs = format!("{}.{:03}", self.duration_ms / 1000, self.duration_ms % 1000);
        let mut args: Vec<String> = Vec::new();
        let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
        if self.has_video() {
            let src =
                format!("testsrc=size={VOD_WIDTH}x{VOD_HEIGHT}:rate={VOD_FPS}:duration={secs}");
            push(&["-f", "lavfi", "-i", &src]);
        }
        let sine = format!("sine=frequency=440:sample_rate={VOD_SAMPLE_RATE}:duration={secs}");
        push(&["-f", "lavfi", "-i", &sine]);
        if self.has_video() {
            let gop = VOD_FPS.to_string();
            let bf = self.b_frames.to_string();
            push(&["-map", "0:v", "-map", "1:a"]);
            // A fixed GOP without scene cuts: a keyframe exactly every second.
            push(&[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ]);
            push(&[
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
                "-bf",
                &bf,
            ]);
            push(&["-b:v", "200k"]);
        }
        match self.format {
            VodFormat::Mp3Flv => push(&["-c:a", "libmp3lame", "-b:a", "64k", "-ac", "2"]),
            _ => push(&["-c:a", "aac", "-b:a", "64k", "-ac", "2"]),
        }
        match self.format {
            VodFormat::Mp4 => push(&["-movflags", "+faststart", "-f", "mp4"]),
            _ => push(&["-flvflags", "add_keyframe_index", "-f", "flv"]),
        }
        args
    }

    /// The cached file, made on first use (once per process and recipe; other threads wait).
    pub fn cached(&self) -> PathBuf {
        static MADE: LazyLock<Mutex<HashMap<Recording, Arc<OnceLock<PathBuf>>>>> =
            LazyLock::new(Default::default);
        let cell = MADE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(*self)
            .or_default()
            .clone();
        cell.get_or_init(|| self.make()).clone()
    }

    fn make(&self) -> PathBuf {
        let args = self.ffmpeg_args();
        let mut hasher = DefaultHasher::new();
        args.hash(&mut hasher);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vod-cache");
        std::fs::create_dir_all(&dir).expect("create vod cache dir");
        let path = dir.join(format!("{:016x}.{}", hasher.finish(), self.extension()));
        if path.exists() {
            return path;
        }
        // Made under a private name and renamed, so that a test process running at the same
        // time never sees half a file.
        let partial = dir.join(format!(
            "{:016x}.{}.partial.{}",
            hasher.finish(),
            self.extension(),
            std::process::id()
        ));
        let out = run_with_timeout(
            Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-y"])
                .args(&args)
                .arg(&partial),
            Duration::from_secs(60),
        );
        out.assert_success(&format!("ffmpeg making {self:?}"));
        std::fs::rename(&partial, &path).expect("rename recording into the cache");
        path
    }

    /// Puts the recording into `dir` as `NAME.EXT` (a hard link to the cached file, or a copy
    /// across file systems) and describes it. Being a link, the file must not be changed in
    /// place: a test that wants a damaged copy writes a new file.
    pub fn install(&self, dir: &Path, name: &str) -> VodFile {
        let cached = self.cached();
        let file_name = format!("{name}.{}", self.extension());
        let path = dir.join(&file_name);
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(&cached, &path).is_err() {
            std::fs::copy(&cached, &path)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", cached.display(), path.display()));
        }
        let stream_name = match self.format {
            VodFormat::Mp4 => format!("mp4:{file_name}"),
            _ => file_name,
        };
        VodFile {
            path,
            stream_name,
            recording: *self,
        }
    }
}

/// A recording placed in a vod directory.
#[derive(Debug, Clone)]
pub struct VodFile {
    pub path: PathBuf,
    /// What to play: `NAME.flv` or `mp4:NAME.mp4`.
    pub stream_name: String,
    pub recording: Recording,
}

impl VodFile {
    pub fn duration_ms(&self) -> u32 {
        self.recording.duration_ms
    }

    /// The timestamp of the first video frame nginx sends after a seek (or a play start) to
    /// `ms`. nginx-rtmp 1.2.2 does not go back to the keyframe before the position: its FLV
    /// module takes the first `keyframes` entry *after* `ms` (strictly; `ms <= 0` restarts the
    /// file, beyond the last entry gives the last keyframe) and its MP4 module the keyframe at or
    /// after `ms`. Audio-only files start at the beginning for FLV (no index).
    pub fn seek_lands_at(&self, ms: u32) -> u32 {
        let last = (self.duration_ms().saturating_sub(1)) / VOD_KEYFRAME_INTERVAL_MS
            * VOD_KEYFRAME_INTERVAL_MS;
        let next = |strict: bool| {
            let k = ms.div_ceil(VOD_KEYFRAME_INTERVAL_MS) * VOD_KEYFRAME_INTERVAL_MS;
            if strict && k == ms {
                k + VOD_KEYFRAME_INTERVAL_MS
            } else {
                k
            }
        };
        match self.recording.format {
            _ if ms == 0 => 0,
            VodFormat::Flv => next(true).min(last),
            VodFormat::Mp4 => next(false).min(last),
            VodFormat::AacFlv | VodFormat::Mp3Flv => 0,
        }
    }
}

impl Nginx {
    /// Puts `recording` into this nginx's vod dir as `name.flv`/`name.mp4`; play it at
    /// `self.url(&format!("vod/{}", file.stream_name))` (see [`Nginx::vod_url`]).
    pub fn add_vod(&self, recording: &Recording, name: &str) -> VodFile {
        recording.install(&self.vod_dir(), name)
    }

    /// `rtmp://127.0.0.1:PORT/vod/NAME.flv` (or `.../vod/mp4:NAME.mp4`).
    pub fn vod_url(&self, file: &VodFile) -> String {
        self.url(&format!("vod/{}", file.stream_name))
    }
}

/// The `keyframes` index of an FLV's onMetaData as ffmpeg's demuxer reads it:
/// `(time_ms, file_position)` per entry, empty when the file has none.
pub fn flv_keyframe_index(path: &Path) -> Vec<(u32, u64)> {
    // The demuxer logs each entry at trace level ("keyframe filepositions = N times = T");
    // no -show_* option prints the index.
    let out = run_with_timeout(
        Command::new("ffprobe").args(["-v", "trace"]).arg(path),
        Duration::from_secs(30),
    );
    out.stderr
        .lines()
        .filter_map(|line| {
            let rest = line.split("keyframe filepositions = ").nth(1)?;
            let (pos, time) = rest.split_once(" times = ")?;
            Some((time.trim().parse().ok()?, pos.trim().parse().ok()?))
        })
        .collect()
}
