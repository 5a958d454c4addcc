//! Subprocesses with bounded lifetimes: output is drained on threads from the start (a full pipe
//! must never stall a peer), every wait has a timeout, and a process still running on drop is
//! killed and reaped.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How a subprocess ended and what it printed.
#[derive(Debug)]
pub struct Finished {
    /// `None` only if the process could not be reaped at all.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// True when the harness had to kill the process because its time ran out.
    pub timed_out: bool,
}

impl Finished {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Panics with everything the process printed unless it exited 0 in time.
    pub fn assert_success(&self, what: &str) {
        assert!(
            self.success(),
            "{what} failed (status {:?}, timed out: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.timed_out,
            self.stdout,
            self.stderr
        );
    }
}

/// A running child process owned by a test. Killed and reaped on drop.
pub struct Proc {
    name: String,
    child: Child,
    stdout: Option<Receiver<Vec<u8>>>,
    stderr: Option<Receiver<Vec<u8>>>,
    status: Option<ExitStatus>,
}

fn drain(mut r: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn collect(rx: Option<Receiver<Vec<u8>>>) -> String {
    // Bounded: a grandchild that inherited the pipe could keep it open after the child died.
    rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(2)).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured. Panics with a hint if the
    /// program cannot be started (usually: scripts/install-deps.sh was not run).
    pub fn spawn(cmd: &mut Command) -> Proc {
        let name = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {name}: {e} (run scripts/install-deps.sh first)")
            });
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Proc {
            name,
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the process has ended (reaping it), without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_and_reap(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn output(&mut self, timed_out: bool) -> Finished {
        Finished {
            status: self.status,
            stdout: collect(self.stdout.take()),
            stderr: collect(self.stderr.take()),
            timed_out,
        }
    }

    /// Waits up to `timeout` for the process to end by itself, killing it if it does not.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let timed_out = self.wait_timeout(timeout).is_none();
        self.kill_and_reap();
        self.output(timed_out)
    }

    fn signal(&mut self, sig: libc::c_int) {
        if self.try_wait().is_some() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: plain kill(2) on our own child, which is not reaped yet, so the pid
            // cannot have been reused by another process.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// Asks the process to stop with SIGTERM, waits up to `grace`, and kills it if it is still
    /// running (`timed_out` is set only in that case). nginx exits at once; ffmpeg finishes its
    /// output, but only notices the signal between packets: one blocked reading a stalled input
    /// waits for its I/O timeout. (A second signal would abort its output writes too.)
    pub fn terminate(mut self, grace: Duration) -> Finished {
        self.signal(libc::SIGTERM);
        let timed_out = self.wait_timeout(grace).is_none();
        self.kill_and_reap();
        self.output(timed_out)
    }

    /// Kills the process now and returns what it printed.
    pub fn kill(mut self) -> Finished {
        self.kill_and_reap();
        self.output(false)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Finished {
    Proc::spawn(cmd).finish(timeout)
}
