//! Shared harness for the integration tests: real peers (nginx with libnginx-mod-rtmp, ffmpeg, ffprobe,
//! gst-launch-1.0) started on free loopback ports in per-test temporary directories, with every
//! subprocess bounded by a timeout and killed on drop so that no test hangs or leaks a process.
//!
//! Each test binary does `mod common;` and uses what it needs; the rest is dead code for that binary,
//! hence the allows below.
#![allow(dead_code, unused_imports)]

pub mod ertmp;
pub mod gst;
pub mod listen;
pub mod matrix;
pub mod media;
pub mod nginx;
pub mod nms;
pub mod pipeline;
pub mod process;
pub mod publish;
pub mod rtmp_client;
pub mod rtmp_server;
pub mod rtmpt;
pub mod serve;
pub mod tls;
pub mod vod;

pub use gst::{gst_inspect, gst_launch, gst_launch_args, gst_launch_args_env, gst_plugin_path};
pub use media::{
    AudioCodec, LiveReader, Probe, StreamInfo, TestFlv, decode_errors, ffmpeg_publish_file,
    make_test_flv, probe, try_probe, video_frame_pts_ms, video_pict_types,
};
pub use nginx::{Nginx, TlsProxy};
pub use nms::{Nms, NmsOptions};
pub use process::{Finished, Proc, run_with_timeout};
pub use tls::TestCertificates;
pub use vod::{Recording, VodFile, VodFormat, flv_keyframe_index};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A loopback TCP port that was free a moment ago. Another process may take it before the caller
/// binds it, so servers started on it must retry on "address in use" (as [`Nginx::start`] does).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A unique directory under the system temp dir, removed on drop. When the test is panicking the
/// directory is kept (and its path printed) so logs and recordings can be inspected.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "gst-plugin-rtmp-{tag}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Polls `cond` every 20 ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until something listens on 127.0.0.1:`port`, read from /proc/net/tcp so that no
/// connection is made: FFmpeg's `-listen 1` server takes the first one as its only client.
pub fn wait_listening(port: u16, timeout: Duration) -> bool {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    wait_until(timeout, || {
        std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
    })
}

/// FFmpeg as an RTMP server (`-listen 1`) on a free port, copying what is published to
/// `rtmp://127.0.0.1:PORT/live/key` into an FLV file; `url` is what a publisher uses.
pub struct FfmpegServer {
    pub url: String,
    pub out: PathBuf,
    proc: Proc,
}

impl FfmpegServer {
    pub fn start(dir: &TempDir) -> FfmpegServer {
        let port = free_port();
        let url = format!("rtmp://127.0.0.1:{port}/live/key");
        let out = dir.join("ffmpeg-server.flv");
        let proc = Proc::spawn(
            std::process::Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-listen", "1", "-i"])
                .arg(&url)
                .args(["-c", "copy", "-f", "flv"])
                .arg(&out),
        );
        assert!(
            wait_listening(port, Duration::from_secs(10)),
            "ffmpeg -listen 1 does not listen on port {port}"
        );
        FfmpegServer { url, out, proc }
    }

    /// Waits for FFmpeg to end (it does once the publisher disconnects).
    pub fn finish(self, timeout: Duration) -> (PathBuf, Finished) {
        (self.out, self.proc.finish(timeout))
    }
}

/// The static FFmpeg 9 build `scripts/install-deps.sh` puts in `target/ffmpeg9/` (Enhanced RTMP,
/// multitrack, RTMPT client); the `FFMPEG9` environment variable names another one.
pub fn ffmpeg9() -> PathBuf {
    if let Some(path) = std::env::var_os("FFMPEG9") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ffmpeg9/ffmpeg");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-deps.sh",
        path.display()
    );
    path
}
