//! A private nginx + libnginx-mod-rtmp instance per test: generated config in a temp dir, a free
//! loopback port, one process (`master_process off`) in the foreground, killed on drop.
//!
//! Applications:
//! - `live`: live streams, each publish recorded to `<dir>/rec/NAME.flv`. `play_restart on` makes
//!   nginx send `NetStream.Play.Start`/`NetStream.Play.Stop` to players as publishers come and go,
//!   so a player (ffmpeg, later rtmpsrc) sees the end of the stream when the publisher stops.
//! - `plain`: live with nginx's defaults; when the publisher stops, players only get StreamEOF and
//!   `NetStream.Play.UnpublishNotify` and stay connected (ffmpeg then waits for more data).
//! - `vod`: plays files put in [`Nginx::vod_dir`].

use super::process::Proc;
use super::{TempDir, free_port, wait_until};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries when another process grabbed the port between `free_port()` and nginx's bind.
const START_ATTEMPTS: usize = 3;

pub struct Nginx {
    pub port: u16,
    // Field order matters: the process must die before its directory is removed.
    proc: Proc,
    dir: TempDir,
    extra_server: String,
}

fn config(dir: &Path, port: u16, extra_server: &str) -> String {
    let d = dir.display();
    // `user` is left out: with master_process off nginx never switches user, so the directive
    // would only produce a warning (as root) or an error (as non-root).
    format!(
        "load_module {MODULE};
daemon off;
master_process off;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{
    worker_connections 256;
}}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {d}/rec;
            record_unique off;
            play_restart on;
        }}
        application plain {{
            live on;
        }}
        application vod {{
            play {d}/vod;
        }}
{extra_server}
    }}
}}
"
    )
}

/// Writes the config that `config` makes for a free port into `dir` and starts nginx on it,
/// retrying with another port if that one was taken meanwhile. Returns once the port accepts.
fn launch(dir: &TempDir, config: impl Fn(u16) -> String) -> (u16, Proc) {
    launch_on(dir, None, config)
}

/// Like [`launch`], on `port` when given (retrying while the old listener's port is still busy).
fn launch_on(
    dir: &TempDir,
    fixed_port: Option<u16>,
    config: impl Fn(u16) -> String,
) -> (u16, Proc) {
    let conf = dir.join("nginx.conf");
    let log = dir.join("error.log");
    let mut last_failure = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = fixed_port.unwrap_or_else(free_port);
        std::fs::write(&conf, config(port)).expect("write nginx.conf");
        let _ = std::fs::remove_file(&log);
        // -p: prefix for relative paths; -e: where startup errors go before the config is read.
        let mut proc = Proc::spawn(
            Command::new("nginx")
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&log),
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut exited = false;
        let up = wait_until(START_TIMEOUT, || {
            if proc.try_wait().is_some() {
                exited = true;
                return true;
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        if up && !exited {
            return (port, proc);
        }
        let out = proc.kill();
        let error_log = std::fs::read_to_string(&log).unwrap_or_default();
        last_failure = format!(
            "nginx on port {port} {} (status {:?})\n--- error.log ---\n{error_log}\n--- stderr ---\n{}",
            if exited {
                "exited"
            } else {
                "did not accept connections within 10 s"
            },
            out.status,
            out.stderr
        );
        let port_taken = error_log.contains("Address already in use")
            || out.stderr.contains("Address already in use");
        if !port_taken {
            break;
        }
        if fixed_port.is_some() {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    panic!("cannot start nginx: {last_failure}");
}

/// nginx's stream module terminating TLS on a free port in front of an RTMP server: rtmps:// for
/// tests, with the certificate and key given.
pub struct TlsProxy {
    pub port: u16,
    proc: Proc,
    dir: TempDir,
}

impl TlsProxy {
    pub fn start(backend_port: u16, cert: &Path, key: &Path) -> TlsProxy {
        let dir = TempDir::new("tlsproxy");
        let (port, proc) = launch(&dir, |port| {
            let d = dir.path().display();
            format!(
                "load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{
    worker_connections 64;
}}
stream {{
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {};
        ssl_certificate_key {};
        proxy_pass 127.0.0.1:{backend_port};
    }}
}}
",
                cert.display(),
                key.display()
            )
        });
        TlsProxy { port, proc, dir }
    }
}

impl Nginx {
    /// Starts nginx and waits until its RTMP port accepts connections.
    pub fn start() -> Nginx {
        Self::start_with("")
    }

    /// Like [`Nginx::start`], with `extra_server` pasted inside the `server {}` block (for example
    /// another `application NAME { ... }`).
    pub fn start_with(extra_server: &str) -> Nginx {
        let dir = TempDir::new("nginx");
        for sub in ["rec", "vod"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create nginx subdir");
        }
        let (port, proc) = launch(&dir, |port| config(dir.path(), port, extra_server));
        Nginx {
            port,
            proc,
            dir,
            extra_server: extra_server.to_owned(),
        }
    }

    /// Kills nginx (as a crash or restart would: connections drop) and starts it again on the
    /// same port with the same configuration.
    pub fn restart(&mut self) {
        let old = std::mem::replace(&mut self.proc, Proc::spawn(&mut Command::new("true")));
        old.kill();
        let (_, proc) = launch_on(&self.dir, Some(self.port), |port| {
            config(self.dir.path(), port, &self.extra_server)
        });
        self.proc = proc;
    }

    /// `rtmp://127.0.0.1:PORT/live/NAME` for a bare name; `app/stream` selects another application
    /// (e.g. `vod/file.flv`).
    pub fn url(&self, app_and_stream: &str) -> String {
        if app_and_stream.contains('/') {
            format!("rtmp://127.0.0.1:{}/{app_and_stream}", self.port)
        } else {
            format!("rtmp://127.0.0.1:{}/live/{app_and_stream}", self.port)
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Files placed here can be played as `url("vod/FILE")`.
    pub fn vod_dir(&self) -> PathBuf {
        self.dir.join("vod")
    }

    /// Where nginx records the publish of stream `name` (it exists once a publish has started).
    pub fn recording(&self, name: &str) -> PathBuf {
        self.dir.join("rec").join(format!("{name}.flv"))
    }

    /// Waits until the recording of `name` exists and its size has stopped changing for 500 ms
    /// (nginx appends while the publisher sends and closes the file as it disconnects). Call it after
    /// the publisher has ended. Panics with the error log after `timeout`.
    pub fn wait_recording(&self, name: &str, timeout: Duration) -> PathBuf {
        let path = self.recording(name);
        let mut last: Option<u64> = None;
        let mut stable_since = std::time::Instant::now();
        let ok = wait_until(timeout, || {
            let size = std::fs::metadata(&path).ok().map(|m| m.len());
            if size != last {
                last = size;
                stable_since = std::time::Instant::now();
                return false;
            }
            size.is_some_and(|s| s > 0) && stable_since.elapsed() >= Duration::from_millis(500)
        });
        assert!(
            ok,
            "recording {} not complete after {timeout:?} (size {last:?})\n--- error.log ---\n{}",
            path.display(),
            self.error_log()
        );
        path
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Waits until the error log contains `needle`; panics with the log after `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, || self.error_log().contains(needle));
        assert!(
            ok,
            "nginx log has no {needle:?} after {timeout:?}\n--- error.log ---\n{}",
            self.error_log()
        );
    }

    /// Waits until a client plays stream `name` (so a publish that starts now is seen from its start).
    pub fn wait_player(&self, name: &str, timeout: Duration) {
        self.wait_log(&format!("play: name='{name}'"), timeout);
    }

    /// Waits until a client publishes stream `name`.
    pub fn wait_publisher(&self, name: &str, timeout: Duration) {
        self.wait_log(&format!("publish: name='{name}'"), timeout);
    }
}
