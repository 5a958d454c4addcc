//! Running GStreamer command-line tools against the plugin cargo just built.
//!
//! The system has another plugin named `rtmp` in a file also called `libgstrtmp.so` (librtmp's
//! rtmpsrc/rtmpsink from gst-plugins-bad). GStreamer keys plugins by file name and scans
//! `GST_PLUGIN_PATH` first, so with it pointing at our build ours shadows the system one; the
//! registry lives beside the build (see [`registry`]) so the user's registry cache never sees that
//! shadowing.

use super::process::{Finished, run_with_timeout};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The `target/<profile>` directory holding the freshly built `libgstrtmp.so`. Integration tests
/// run from `target/<profile>/deps/`, next to which cargo puts the cdylib.
///
/// `cargo test` alone builds the cdylib only as `deps/libgstrtmp.so` and does not refresh the copy
/// in `target/<profile>/` (only `cargo build` does), so a stale plugin could be tested. This links the
/// newest build into place first, as `cargo build` would. (`deps/` itself cannot be the plugin path:
/// GStreamer would try to load every proc-macro library in it.)
pub fn gst_plugin_path() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let mut dir = exe
            .parent()
            .expect("test binary has a directory")
            .to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        let lib = dir.join(LIB);
        refresh(&dir.join("deps").join(LIB), &lib);
        assert!(
            lib.exists(),
            "{} not found: run `cargo build` before tests that use gst-launch-1.0",
            lib.display()
        );
        dir
    })
    .clone()
}

const LIB: &str = "libgstrtmp.so";

fn refresh(built: &Path, lib: &Path) {
    let (Ok(b), l) = (std::fs::metadata(built), std::fs::metadata(lib)) else {
        return;
    };
    let stale = match l {
        Err(_) => true,
        Ok(l) => {
            l.len() != b.len() || matches!((l.modified(), b.modified()), (Ok(l), Ok(b)) if b > l)
        }
    };
    if !stale {
        return;
    }
    // Link (or copy) beside it, then rename: a gst process that has the old file mapped keeps it.
    let tmp = lib.with_extension(format!("so.tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(built, &tmp).is_err() {
        std::fs::copy(built, &tmp).expect("copy libgstrtmp.so");
    }
    std::fs::rename(&tmp, lib).expect("replace libgstrtmp.so");
}

/// The registry file for GStreamer processes the tests start, with our plugin (`ours`) or with the
/// system plugins only. It is shared by every process and built once per test binary: a fresh
/// registry costs each process a full plugin scan (about 2 s on a loaded 2-core machine), enough
/// to make a player join a live stream seconds late. GStreamer replaces the file by a rename, so
/// concurrent processes are safe, and it rescans a plugin whose file changed.
pub fn registry(ours: bool) -> PathBuf {
    static OURS: OnceLock<PathBuf> = OnceLock::new();
    static SYSTEM: OnceLock<PathBuf> = OnceLock::new();
    let cell = if ours { &OURS } else { &SYSTEM };
    cell.get_or_init(|| {
        let dir = gst_plugin_path().join("test-registry");
        std::fs::create_dir_all(&dir).expect("create the test registry directory");
        let file = dir.join(if ours { "ours.bin" } else { "system.bin" });
        let mut warm = Command::new("gst-inspect-1.0");
        warm.arg("coreelements").env("GST_REGISTRY", &file);
        if ours {
            warm.env("GST_PLUGIN_PATH", gst_plugin_path());
        } else {
            warm.env_remove("GST_PLUGIN_PATH");
        }
        run_with_timeout(&mut warm, Duration::from_secs(120)).assert_success("registry scan");
        file
    })
    .clone()
}

fn gst_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("GST_PLUGIN_PATH", gst_plugin_path())
        .env("GST_REGISTRY", registry(true))
        .env("GST_DEBUG_NO_COLOR", "1");
    cmd
}

/// Splits a pipeline description into arguments the way a shell would (whitespace separates,
/// single and double quotes group and are removed, backslash escapes), because gst-launch-1.0
/// escapes the spaces inside each argument: a pipeline passed as one argument does not parse.
pub fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    args
}

/// Runs `gst-launch-1.0 -e ARGS...` with our plugin, killing it after `timeout`.
pub fn gst_launch_args(args: &[&str], timeout: Duration) -> Finished {
    gst_launch_args_env(args, &[], timeout)
}

/// Like [`gst_launch_args`] with extra environment variables (e.g. `GST_DEBUG`).
pub fn gst_launch_args_env(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Finished {
    run_with_timeout(
        gst_command("gst-launch-1.0")
            .envs(env.iter().copied())
            .arg("-e")
            .args(args),
        timeout,
    )
}

/// Runs `gst-launch-1.0 -e PIPELINE` (shell-style quoting allowed) with our plugin, killing it after
/// `timeout`.
pub fn gst_launch(pipeline: &str, timeout: Duration) -> Finished {
    let args = split_args(pipeline);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    gst_launch_args(&refs, timeout)
}

/// `gst-inspect-1.0 NAME` with our plugin, e.g. to check an element comes from our build.
pub fn gst_inspect(name: &str) -> Finished {
    run_with_timeout(
        gst_command("gst-inspect-1.0").arg(name),
        Duration::from_secs(30),
    )
}
