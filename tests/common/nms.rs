//! node-media-server (NMS) 2.x as a second real RTMP server: a tiny node script in a temp dir starts
//! NMS, as installed by `scripts/install-deps.sh` under `target/nms`, with RTMP on a free loopback
//! port (its HTTP server left out), optionally publish authentication and RTMPS. Killed on drop.
//!
//! NMS skips its publish authentication for clients on 127.0.0.1/::1, which every test client is;
//! with `publish_secret` the script turns that exemption off so the real check applies.
//!
//! What the script logs goes to `<dir>/nms.log`: NMS's own log, plus one `[event] NAME /app/stream`
//! line for each of NMS's session events, which the `wait_*` helpers look for.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use md5::{Digest, Md5};

use super::process::Proc;
use super::{TempDir, free_port, wait_until};

const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries when another process grabbed a port between `free_port()` and NMS's listen.
const START_ATTEMPTS: usize = 3;

/// Where `scripts/install-deps.sh` installs the package.
pub fn nms_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nms/node_modules/node-media-server")
}

/// The installed package's version (its package.json), e.g. "2.7.4".
pub fn nms_version() -> String {
    let path = nms_module_dir().join("package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "node-media-server is not installed ({}: {e}); run scripts/install-deps.sh",
            path.display()
        )
    });
    let json: serde_json::Value = serde_json::from_str(&text).expect("package.json parses");
    json["version"].as_str().expect("a version").to_owned()
}

#[derive(Debug, Clone, Default)]
pub struct NmsOptions {
    /// `auth: { publish: true, play: false, secret }`: publishing needs a `sign` parameter.
    pub publish_secret: Option<String>,
    /// RTMPS on a second free port with this certificate and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// NMS's GOP cache (`rtmp.gop_cache`): a player that joins a running stream starts at its last
    /// keyframe instead of waiting for the next one.
    pub gop_cache: bool,
}

pub struct Nms {
    pub port: u16,
    pub rtmps_port: Option<u16>,
    // Field order matters: the process must die before its directory is removed.
    proc: Proc,
    dir: TempDir,
}

/// Starts NMS from `config.json` (the script's argument) and logs to `nms.log` beside it.
/// NMS exempts loopback clients from authentication (`isLocal`); every client of a test is on
/// loopback, so with `remoteClients` that exemption is turned off and the real check applies.
/// A listen error (port taken) ends the script with status 2 so the harness picks another port,
/// and the script ends itself if the test process goes away without killing it.
const SCRIPT: &str = r#"'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const logFile = path.join(path.dirname(process.argv[2]), 'nms.log');
const out = (...args) => fs.appendFileSync(logFile, util.format(...args) + '\n');
console.log = out;
console.error = out;

if (cfg.remoteClients) {
  const Session = require(path.join(cfg.module, 'src/node_rtmp_session.js'));
  const run = Session.prototype.run;
  Session.prototype.run = function () {
    this.isLocal = false;
    return run.call(this);
  };
}

const NodeMediaServer = require(cfg.module);
const nms = new NodeMediaServer(cfg.nms);
for (const name of ['preConnect', 'postConnect', 'doneConnect', 'prePublish', 'postPublish',
                    'donePublish', 'prePlay', 'postPlay', 'donePlay']) {
  nms.on(name, (id, streamPath) => out('[event]', name, typeof streamPath === 'string' ? streamPath : ''));
}
nms.run();

let waiting = 0;
const watch = (server, what) => {
  if (!server) {
    out('[fatal]', what, 'server not created');
    process.exit(3);
  }
  waiting++;
  server.on('error', (e) => {
    out('[fatal]', what, e.code || String(e));
    process.exit(2);
  });
  server.on('listening', () => {
    out('[ready]', what, server.address().port);
    if (--waiting === 0) out('[ready] all');
  });
};
watch(nms.nrs.tcpServer, 'rtmp');
if (cfg.nms.rtmp.ssl) watch(nms.nrs.tlsServer, 'rtmps');

const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();
"#;

impl Nms {
    pub fn start(options: NmsOptions) -> Nms {
        let module = nms_module_dir();
        assert!(
            module.join("package.json").exists(),
            "node-media-server is not installed in {}: run scripts/install-deps.sh",
            module.display()
        );
        let dir = TempDir::new("nms");
        let script = dir.join("nms.js");
        std::fs::write(&script, SCRIPT).expect("write nms.js");
        let conf = dir.join("config.json");
        let log = dir.join("nms.log");
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let rtmps_port = options.tls.as_ref().map(|_| free_port());
            std::fs::write(
                &conf,
                config(&module, port, rtmps_port, &options).to_string(),
            )
            .expect("write config.json");
            let _ = std::fs::remove_file(&log);
            let mut proc = Proc::spawn(Command::new("node").arg(&script).arg(&conf));
            let mut exited = false;
            let up = wait_until(START_TIMEOUT, || {
                if proc.try_wait().is_some() {
                    exited = true;
                    return true;
                }
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("[ready] all"))
            });
            if up && !exited {
                // Belt and braces: the ports really accept.
                for p in std::iter::once(port).chain(rtmps_port) {
                    let addr = SocketAddr::from(([127, 0, 0, 1], p));
                    assert!(
                        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok(),
                        "NMS said it listens on {p} but does not accept"
                    );
                }
                return Nms {
                    port,
                    rtmps_port,
                    proc,
                    dir,
                };
            }
            let out = proc.kill();
            let nms_log = std::fs::read_to_string(&log).unwrap_or_default();
            last_failure = format!(
                "NMS on port {port} {} (status {:?})\n--- nms.log ---\n{nms_log}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                if exited {
                    "exited"
                } else {
                    "did not listen within 15 s"
                },
                out.status,
                out.stdout,
                out.stderr
            );
            if !nms_log.contains("EADDRINUSE") {
                break;
            }
        }
        panic!("cannot start node-media-server: {last_failure}");
    }

    /// `rtmp://127.0.0.1:PORT/live/STREAM` (`stream` may carry a query, e.g. `?sign=...`).
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    /// `rtmps://HOST:PORT/live/STREAM` on the RTMPS port.
    pub fn rtmps_url(&self, host: &str, stream: &str) -> String {
        let port = self.rtmps_port.expect("NMS started without TLS");
        format!("rtmps://{host}:{port}/live/{stream}")
    }

    /// [`Nms::url`] with NMS's `sign` parameter for publishing `stream` until `expires` (Unix
    /// seconds) with `secret`.
    pub fn signed_url(&self, stream: &str, secret: &str, expires: u64) -> String {
        let sign = nms_sign(&format!("/live/{stream}"), secret, expires);
        self.url(&format!("{stream}?sign={sign}"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nms.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log after `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, || self.log().contains(needle));
        assert!(
            ok,
            "NMS log has no {needle:?} after {timeout:?}\n--- nms.log ---\n{}",
            self.log()
        );
    }

    /// Waits for NMS's session event `event` (`prePlay`, `postPublish`, `donePublish`, ...) on
    /// `/live/STREAM`.
    pub fn wait_event(&self, event: &str, stream: &str, timeout: Duration) {
        self.wait_log(&format!("[event] {event} /live/{stream}\n"), timeout);
    }

    /// Waits until a client asked to play `stream` (NMS then holds it until a publisher comes).
    pub fn wait_player(&self, stream: &str, timeout: Duration) {
        self.wait_event("prePlay", stream, timeout);
    }

    /// Waits until `stream` is being published.
    pub fn wait_publisher(&self, stream: &str, timeout: Duration) {
        self.wait_event("postPublish", stream, timeout);
    }
}

fn config(
    module: &Path,
    port: u16,
    rtmps_port: Option<u16>,
    options: &NmsOptions,
) -> serde_json::Value {
    use serde_json::json;
    // NMS's documented sample settings, and no HTTP server.
    let mut rtmp = json!({
        "port": port,
        "chunk_size": 60000,
        "gop_cache": options.gop_cache,
        "ping": 30,
        "ping_timeout": 60,
    });
    if let (Some((cert, key)), Some(p)) = (&options.tls, rtmps_port) {
        rtmp["ssl"] = json!({ "port": p, "cert": cert, "key": key });
    }
    let mut nms = json!({ "rtmp": rtmp, "logType": 3 });
    if let Some(secret) = &options.publish_secret {
        nms["auth"] = json!({ "publish": true, "play": false, "secret": secret });
    }
    json!({
        "module": module,
        "remoteClients": options.publish_secret.is_some(),
        "nms": nms,
    })
}

/// NMS 2.x's `sign` value: `EXPIRES-md5hex("/app/stream-EXPIRES-SECRET")` (`verifyAuth` in
/// `src/node_core_utils.js`; `stream_path` is `/app/stream` without the query).
pub fn nms_sign(stream_path: &str, secret: &str, expires: u64) -> String {
    let digest = Md5::digest(format!("{stream_path}-{expires}-{secret}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{expires}-{hex}")
}

/// Unix time `secs` seconds from now (for `sign` expiry).
pub fn unix_time_in(secs: i64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    now.checked_add_signed(secs).expect("a time after 1970")
}
