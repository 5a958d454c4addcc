//! Dynamic streaming on a shaped link: three renditions of one stream published to nginx-rtmp,
//! rtmpsrc playing them with `renditions`, and the player's link going 10 -> 1.5 -> 10 Mbit/s.
//!
//! The link is shaped with `tc` htb on the loopback of a private network namespace, so nothing
//! else on the machine is touched and tests running beside this one are not either. Unsharing
//! inside the multi-threaded test harness is unsafe, so the test re-runs its own binary under
//! `unshare -n` with only the [`scenario`] test selected; `scripts/bench-renditions.sh` runs the
//! same scenario with a longer schedule.
//!
//! Environment of the scenario: `RENDITIONS_SCHEDULE` (`second:kbit/s,...`, the link from each
//! second on) and `RENDITIONS_DURATION` (seconds).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Proc, run_with_timeout};
use common::{Nginx, Nms, NmsOptions};
use gst::prelude::*;

const CHILD: &str = "RENDITIONS_SCENARIO";
/// Which server the scenario plays through: `nginx` (the default) or `nms`.
const SERVER: &str = "RENDITIONS_SERVER";
const SCHEDULE: &str = "0:10000,8:1500,22:10000";
const DURATION: u64 = 40;

/// (name, width, height, video kbit/s): total with 64 kbit/s of audio near 3.5, 1 and 0.3 Mbit/s.
const RENDITIONS: [(&str, u32, u32, u32); 3] = [
    ("hd", 1280, 720, 3400),
    ("sd", 640, 360, 930),
    ("ld", 320, 180, 230),
];

#[test]
fn a_player_steps_down_on_a_narrow_link_and_back_up_after() {
    run_scenario("nginx");
}

/// node-media-server 2.7 keeps each stream's last GOP and starts a new player at its keyframe,
/// and plays one stream per connection (a second play on a connection is refused, and then
/// mixed into the first): every switch goes on a connection of its own.
#[test]
fn the_same_through_node_media_server_with_its_gop_cache() {
    run_scenario("nms");
}

/// The two servers' scenarios would share the machine's two cores with three publishers and a
/// 720p decoder each: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_scenario(server: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    if root.as_ref().map_or(true, |r| !r) {
        eprintln!("skipped: shaping a link needs root (unshare -n, tc)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "--"])
        .arg(&exe)
        .args(["--exact", "scenario", "--include-ignored", "--nocapture"])
        .env(CHILD, "1")
        .env(SERVER, server);
    let finished = run_with_timeout(&mut cmd, Duration::from_secs(DURATION + 90));
    println!("{}", finished.stdout);
    eprintln!("{}", finished.stderr);
    finished.assert_success("the shaped-link scenario");
    assert!(
        finished.stdout.contains("scenario passed"),
        "the scenario did not run"
    );
}

enum Server {
    Nginx(Nginx),
    Nms(Nms),
}

impl Server {
    fn start(name: &str) -> Server {
        match name {
            "nginx" => Server::Nginx(Nginx::start()),
            "nms" => Server::Nms(Nms::start(NmsOptions {
                gop_cache: true,
                ..NmsOptions::default()
            })),
            other => panic!("{SERVER}={other}: nginx or nms"),
        }
    }

    fn url(&self, stream: &str) -> String {
        match self {
            Server::Nginx(nginx) => nginx.url(&format!("plain/{stream}")),
            Server::Nms(nms) => nms.url(stream),
        }
    }

    fn port(&self) -> u16 {
        let url = self.url("x");
        let authority = url.split('/').nth(2).unwrap();
        authority.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// What the scenario's assertions allow that depends on the server.
    fn bounds(&self) -> Bounds {
        match self {
            Server::Nginx(_) => Bounds {
                steady_start: true,
                max_stall: Duration::from_secs(1),
                down_gap: Duration::from_millis(700),
                earliest_after_down_ms: -500,
                max_cut_over: Duration::from_secs(4),
            },
            // node-media-server's GOP cache gives a new connection its last keyframe at once,
            // so a step down can cut over while the old connection's backlog still fills the
            // link's queue (0.8 s) and the new rendition's next frames wait behind it
            // (measured: up to 1.31 s without a decoded frame); and the cut-over puts a
            // keyframe up to a GOP (1 s) old at the old stream's next frame, so media can
            // leave early by that much after it (measured down to -1.27 s). On a loaded
            // 2-core machine it has delivered hd slower than real time at the start (3.1 of
            // 3.5 Mbit/s for 3 s, in CI), and rtmpsrc stepped down, as it should for media
            // that arrives later and later. Its deliveries pause up to 0.4 s, so a probe can
            // take a keyframe or two more to have caught up (measured 4.3 s to the cut-over).
            Server::Nms(_) => Bounds {
                steady_start: false,
                max_stall: Duration::from_millis(1500),
                down_gap: Duration::from_millis(1500),
                earliest_after_down_ms: -1500,
                max_cut_over: Duration::from_millis(5500),
            },
        }
    }

    fn wait_publisher(&self, stream: &str) {
        let timeout = Duration::from_secs(20);
        match self {
            Server::Nginx(nginx) => nginx.wait_publisher(stream, timeout),
            Server::Nms(nms) => nms.wait_publisher(stream, timeout),
        }
    }
}

struct Bounds {
    /// No switch before the link narrows.
    steady_start: bool,
    /// The longest pause between two decoded frames.
    max_stall: Duration,
    /// The longest pause between decoded frames across a step down.
    down_gap: Duration,
    /// How early media may leave rtmpsrc once caught up after a step down, ms.
    earliest_after_down_ms: i64,
    /// From a decision to the new rendition's first decoded frame.
    max_cut_over: Duration,
}

fn sh(command: &str) {
    let out = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_link(kbps: u32) {
    sh(&format!(
        "tc class change dev lo parent 1: classid 1:20 htb rate {kbps}kbit ceil {kbps}kbit burst 15k"
    ));
}

/// Short looping clips, encoded once (x264, 1 s GOP) and kept in the target directory.
fn clips() -> Vec<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<exe> -> target/renditions-clips
    let dir = exe.ancestors().nth(3).unwrap().join("renditions-clips");
    std::fs::create_dir_all(&dir).unwrap();
    RENDITIONS
        .iter()
        .map(|&(name, w, h, kbps)| {
            let path = dir.join(format!("{name}-{w}x{h}-{kbps}k-v1.flv"));
            if !path.exists() {
                let partial = path.with_extension("part.flv");
                let mut cmd = Command::new("ffmpeg");
                cmd.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
                    .arg(format!("testsrc2=size={w}x{h}:rate=30"))
                    .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
                    .args(["-t", "6", "-c:v", "libx264", "-preset", "veryfast"])
                    .args(["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k")])
                    .args(["-bufsize", &format!("{}k", kbps / 2)])
                    .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
                    .args([
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
                    ])
                    .arg(&partial);
                run_with_timeout(&mut cmd, Duration::from_secs(120))
                    .assert_success("encode a clip");
                std::fs::rename(&partial, &path).unwrap();
            }
            path
        })
        .collect()
}

fn publish(clip: &Path, url: &str) -> Proc {
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url]),
    )
}

fn schedule() -> Vec<(u64, u32)> {
    let spec = std::env::var("RENDITIONS_SCHEDULE").unwrap_or_else(|_| SCHEDULE.into());
    spec.split(',')
        .map(|item| {
            let (at, kbps) = item.split_once(':').expect("second:kbps");
            (at.trim().parse().unwrap(), kbps.trim().parse().unwrap())
        })
        .collect()
}

fn link_at(schedule: &[(u64, u32)], second: u64) -> u32 {
    schedule
        .iter()
        .rev()
        .find(|(at, _)| *at <= second)
        .map_or(schedule[0].1, |(_, k)| *k)
}

/// What the probes saw, by arrival.
#[derive(Default)]
struct Seen {
    decoded: Vec<(Duration, gst::ClockTime)>,
    /// (arrival, width, how many frames were decoded before the caps)
    widths: Vec<(Duration, i32, usize)>,
    /// (arrival, how late the buffer left rtmpsrc against its timestamp, ms)
    delays: Vec<(Duration, i64)>,
    /// (arrival, PTS) of what left rtmpsrc's video pad.
    pad_buffers: Vec<(Duration, Option<gst::ClockTime>)>,
}

#[test]
#[ignore = "run by a_player_steps_down_on_a_narrow_link_and_back_up_after in a private network namespace"]
fn scenario() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let duration = std::env::var("RENDITIONS_DURATION")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DURATION);
    let schedule = schedule();
    sh("ip link set lo up && ip link set lo mtu 1500");
    let clips = clips();
    let server = Server::start(&std::env::var(SERVER).unwrap_or_else(|_| "nginx".into()));
    let port = server.port();
    // The player's link: the server's port, through a router-sized FIFO (100 packets, 0.8 s
    // at 1.5 Mbit/s) that drops what overflows.
    sh(&format!(
        "tc qdisc add dev lo root handle 1: htb default 10 r2q 1000 && \
         tc class add dev lo parent 1: classid 1:10 htb rate 20gbit && \
         tc class add dev lo parent 1: classid 1:20 htb rate {k}kbit ceil {k}kbit burst 15k && \
         tc qdisc add dev lo parent 1:20 handle 20: pfifo limit 100 && \
         tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport {port} 0xffff flowid 1:20",
        k = schedule[0].1
    ));
    let _publishers: Vec<Proc> = RENDITIONS
        .iter()
        .zip(&clips)
        .map(|(r, clip)| publish(clip, &server.url(r.0)))
        .collect();
    for r in RENDITIONS {
        server.wait_publisher(r.0);
    }

    common::pipeline::init();
    let description = format!(
        "rtmpsrc name=s location={} renditions=hd:3500,sd:1000,ld:300 \
         s.video ! queue max-size-time=0 max-size-bytes=0 max-size-buffers=0 ! h264parse ! avdec_h264 name=dec ! fakesink sync=false \
         s.audio ! queue ! fakesink sync=false",
        server.url("hd")
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("s").unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let start = Instant::now();
    let dec_src = pipeline.by_name("dec").unwrap().static_pad("src").unwrap();
    {
        let seen = seen.clone();
        dec_src.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let now = start.elapsed();
                let mut seen = seen.lock().unwrap();
                if let Some(buffer) = info.buffer()
                    && let Some(pts) = buffer.pts()
                {
                    seen.decoded.push((now, pts));
                }
                if let Some(gst::EventView::Caps(caps)) = info.event().map(|e| e.view())
                    && let Some(w) = caps
                        .caps()
                        .structure(0)
                        .and_then(|s| s.get::<i32>("width").ok())
                {
                    let before = seen.decoded.len();
                    seen.widths.push((now, w, before));
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    {
        let seen = seen.clone();
        let element = pipeline.clone();
        src.connect_pad_added(move |_, pad| {
            if pad.name() != "video" {
                return;
            }
            let seen = seen.clone();
            let element = element.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let mut seen = seen.lock().unwrap();
                if let Some(buffer) = info.buffer() {
                    seen.pad_buffers.push((start.elapsed(), buffer.pts()));
                }
                if let (Some(buffer), Some(now)) = (info.buffer(), element.current_running_time())
                    && let Some(dts) = buffer.dts()
                {
                    let late = now.nseconds() as i64 / 1_000_000 - dts.mseconds() as i64;
                    seen.delays.push((start.elapsed(), late));
                }
                gst::PadProbeReturn::Ok
            });
        });
    }
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let mut switches: Vec<(Duration, gst::Structure)> = Vec::new();
    let mut decisions: Vec<(Duration, gst::Structure)> = Vec::new();
    // Switches given up (`rtmp-rendition-switch-failed`): a probe the link did not carry.
    let mut failed: Vec<(Duration, gst::Structure)> = Vec::new();
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut second = 0;
    let mut link = schedule[0].1;
    while second < duration {
        let until = Duration::from_secs(second + 1);
        // The bus is the clock of this loop: it returns at each message or at the next second.
        while let Some(left) = until.checked_sub(start.elapsed()) {
            let Some(message) =
                bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64))
            else {
                break;
            };
            match message.view() {
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure()
                        && s.name().starts_with("rtmp-rendition-switch")
                    {
                        println!("{:6.2}s {s}", start.elapsed().as_secs_f64());
                        match s.name().as_str() {
                            "rtmp-rendition-switched" => {
                                switches.push((start.elapsed(), s.to_owned()))
                            }
                            "rtmp-rendition-switching" => {
                                decisions.push((start.elapsed(), s.to_owned()))
                            }
                            _ => failed.push((start.elapsed(), s.to_owned())),
                        }
                    }
                }
                gst::MessageView::Error(e) => errors.push(format!("{} {:?}", e.error(), e.debug())),
                gst::MessageView::Eos(_) => errors.push("EOS".into()),
                _ => {}
            }
        }
        second += 1;
        let stats = src.property::<gst::Structure>("stats");
        let rendition = stats
            .get::<String>("rendition")
            .unwrap_or_else(|_| "hd".into());
        let estimate = stats.get::<u32>("bandwidth-estimate").unwrap_or(0);
        let seen = seen.lock().unwrap();
        let in_second = |t: &Duration| t.as_secs() == second - 1;
        let frames = seen.decoded.iter().filter(|(t, _)| in_second(t)).count();
        let delay = seen
            .delays
            .iter()
            .filter(|(t, _)| in_second(t))
            .map(|(_, d)| *d)
            .max();
        rows.push((second - 1, link, rendition, estimate, delay, frames));
        drop(seen);
        let next = link_at(&schedule, second);
        if next != link && second < duration {
            link = next;
            set_link(link);
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();

    println!("time(s) link(kbit/s) rendition estimate(kbit/s) delay(ms) frames");
    for (t, link, rendition, estimate, delay, frames) in &rows {
        let delay = delay.map_or("-".into(), |d| d.to_string());
        println!("{t:7} {link:13} {rendition:>9} {estimate:18} {delay:>9} {frames:6}");
    }
    let seen = seen.lock().unwrap();
    let gaps: Vec<Duration> = seen.decoded.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();
    let max_gap_at = gaps
        .iter()
        .position(|g| *g == max_gap)
        .map(|i| seen.decoded[i].0)
        .unwrap_or_default();
    let backwards = seen.decoded.windows(2).filter(|w| w[1].1 < w[0].1).count();
    let cuts = cuts(&seen, &decisions);
    // How unevenly the server delivers when nothing switches (node-media-server sends a few
    // frames at a time, and its publishers' looping clips hiccup): the longest pause between
    // decoded frames on the wide link away from any switch.
    let wide_kbps = schedule[0].1;
    let on_wide_link = |t: Duration| {
        let second = t.as_secs();
        link_at(&schedule, second) == wide_kbps
            && second >= 2
            && link_at(&schedule, second - 2) == wide_kbps
    };
    let steady_gap = seen
        .decoded
        .windows(2)
        .filter(|w| on_wide_link(w[0].0) && on_wide_link(w[1].0))
        .filter(|w| {
            decisions.iter().all(|(t, _)| {
                w[1].0 + Duration::from_secs(1) < *t || w[0].0 > *t + Duration::from_secs(5)
            })
        })
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    let widths: Vec<i32> = seen.widths.iter().map(|(_, w, _)| *w).collect();
    println!(
        "decoded {} frames, max gap between decoded frames {max_gap:?} (at {max_gap_at:?}), \
         {backwards} PTS going back, widths {widths:?}; steady delivery pauses up to {steady_gap:?}",
        seen.decoded.len()
    );
    println!(
        "switch        decided(s) cut-over(ms) gap(ms) pad gap(ms) pause before(ms) PTS step(ms) lag before(ms) lag after(ms)"
    );
    for cut in &cuts {
        println!(
            "{:>5} -> {:>4} {:10.2} {:12} {:7} {:11} {:16} {:12} {:14} {:13}",
            cut.width_from,
            cut.width_to,
            cut.decided.as_secs_f64(),
            cut.cut_over.as_millis(),
            cut.gap.as_millis(),
            cut.pad_gap.as_millis(),
            cut.pause_before.as_millis(),
            cut.pts_step_ms,
            cut.lag_before_ms,
            cut.lag_after_ms
        );
    }

    println!("{} switches given up", failed.len());
    assert!(errors.is_empty(), "bus: {errors:?}");
    let bounds = server.bounds();
    // A switch before the link narrows: the server delivered slower than real time on the
    // wide link (node-media-server has, 1 run in 8 here and once in CI). The scenario then
    // does not test what it means to (a probe from there can coincide with the narrowing),
    // so only what holds whatever the timing is asserted.
    let unsteady_start = std::env::var_os("RENDITIONS_SCHEDULE").is_none()
        && switches
            .iter()
            .any(|(t, _)| *t <= Duration::from_secs(schedule[1].0));
    let timed = bounds.steady_start || !unsteady_start;
    if !timed {
        println!("unsteady start (a switch before the link narrowed): timing bounds not asserted");
    }
    let mut backed_off = false;
    // The test's own schedule: 10 -> 1.5 -> 10 Mbit/s. What a viewer gets: a rendition the
    // narrow link carries soon after it narrows, hd again soon after it widens.
    if std::env::var_os("RENDITIONS_SCHEDULE").is_none() {
        let narrow = schedule[1].0;
        let wide = schedule[2].0;
        // Locally: decided about 1.1 s after the link narrowed, cut over 1-2 s later.
        for (t, _, rendition, ..) in rows.iter().filter(|r| r.0 >= narrow + 6 && r.0 < wide) {
            assert_ne!(
                rendition, "hd",
                "hd still in force at {t} s, on the narrow link"
            );
        }
        // hd, sd, ld: a higher index is a lower rendition.
        let rank = |s: &gst::Structure, field: &str| {
            let name = s.get::<String>(field).unwrap();
            RENDITIONS.iter().position(|r| r.0 == name).unwrap()
        };
        for (_, down) in switches
            .iter()
            .filter(|(t, s)| *t > Duration::from_secs(narrow) && rank(s, "to") > rank(s, "from"))
        {
            let reason = down.get::<String>("reason").unwrap();
            assert!(
                reason == "congestion" || reason == "probe-failed",
                "stepped down for {reason}"
            );
        }
        // After an unsteady start a probe can coincide with the narrowing and fail, and the
        // next fail on the narrow link: the one after then waits twice as long (20 s), past
        // the end.
        let failed_narrow = failed
            .iter()
            .filter(|(t, _)| *t < Duration::from_secs(wide))
            .count();
        match rows.iter().find(|r| r.0 >= wide && r.2 == "hd") {
            None if !timed && failed_narrow >= 2 => {
                backed_off = true;
                println!(
                    "not back up to hd: {failed_narrow} probes failed on the narrow link, the next waits"
                );
            }
            None => panic!("back up to hd after the link widened"),
            Some(back) => {
                assert!(
                    back.0 < wide + 15,
                    "back up to hd {} s after the link widened",
                    back.0 - wide
                );
                assert!(
                    rows.iter().filter(|r| r.0 >= back.0).all(|r| r.2 == "hd"),
                    "hd did not stay once the link was wide again"
                );
            }
        }
        if bounds.steady_start {
            assert!(
                !unsteady_start,
                "no switch before the link narrowed: {switches:?}"
            );
        }
    }
    assert!(!switches.is_empty(), "no rendition switch at all");
    // Decoded throughout: frames in every second after the start, no stall over 1 s.
    for (t, .., frames) in rows.iter().skip(2).filter(|_| timed) {
        assert!(*frames > 0, "nothing decoded in second {t}");
    }
    assert!(
        !timed || max_gap < bounds.max_stall,
        "stalled for {max_gap:?}"
    );
    assert_eq!(backwards, 0, "decoded PTS went back");
    // New caps at each switch: 1280 wide, something narrower, 1280 again.
    assert_eq!(widths.first(), Some(&1280));
    assert!(widths.iter().any(|w| *w < 1280), "{widths:?}");
    if !backed_off {
        assert_eq!(widths.last(), Some(&1280), "{widths:?}");
    }
    assert_eq!(cuts.len(), switches.len(), "a caps change per switch");
    for cut in &cuts {
        // Seamless: the next frame's time.
        assert!(
            (1..=100).contains(&cut.pts_step_ms),
            "PTS step {} ms across the switch",
            cut.pts_step_ms
        );
        if !timed {
            continue;
        }
        // Locally the cut-over takes 0.7-2.4 s stepping down and 0.9-3 s stepping up (a probe
        // keeps pace for 0.8 s first, then waits for a keyframe), and the frames before and
        // after it are a frame interval or two apart (up to 0.35 s stepping down with nginx:
        // the old rendition's last frames come as unevenly as the congested link carries
        // them). The bounds leave room for a slower machine.
        assert!(
            cut.cut_over < bounds.max_cut_over,
            "cut over {:?} after the decision",
            cut.cut_over
        );
        // Stepping up, the switch adds no pause beyond the server's own unevenness.
        let gap_bound = match cut.width_to < cut.width_from {
            true => bounds.down_gap,
            false => Duration::from_millis(300).max(steady_gap + Duration::from_millis(100)),
        };
        assert!(
            cut.gap < gap_bound,
            "{:?} without a frame across the switch",
            cut.gap
        );
        assert!(
            cut.pad_gap < Duration::from_secs(1),
            "{:?} without a frame across the switch on rtmpsrc's pad",
            cut.pad_gap
        );
        // A probe within 9 s of the cut-over (one that failed, on the narrow link) disturbs
        // the lateness on its own account.
        let probed_after = decisions.iter().any(|(t, _)| {
            *t > cut.decided && *t < cut.decided + cut.cut_over + Duration::from_secs(9)
        });
        if cut.width_to < cut.width_from && !probed_after {
            // The lateness gathered before a switch down is caught up soon after it (in one
            // step ahead at a keyframe), and not overdone.
            assert!(
                (bounds.earliest_after_down_ms..1000).contains(&cut.lag_after_ms),
                "{} ms late after the switch down",
                cut.lag_after_ms
            );
        }
    }
    println!("scenario passed");
}

/// One switch as the pads saw it.
struct Cut {
    width_from: i32,
    width_to: i32,
    /// When rtmpsrc decided to switch (its `rtmp-rendition-switching` message).
    decided: Duration,
    /// From the decision to the new rendition's first decoded frame.
    cut_over: Duration,
    /// Between the old rendition's last decoded frame and the new one's first, by arrival.
    gap: Duration,
    /// The same on rtmpsrc's video pad (the decoder's own latency hides some of it).
    pad_gap: Duration,
    pts_step_ms: i64,
    /// The longest pause between buffers on rtmpsrc's video pad in the 2 s before the
    /// decision: how unevenly the old rendition came over the link that made rtmpsrc switch.
    pause_before: Duration,
    /// The worst lateness of buffers leaving rtmpsrc in the second before the cut-over, and
    /// from 7 to 9 s after it (caught up: locally 2-4.5 s after the cut-over).
    lag_before_ms: i64,
    lag_after_ms: i64,
}

fn cuts(seen: &Seen, decisions: &[(Duration, gst::Structure)]) -> Vec<Cut> {
    let worst_lag = |from: Duration, to: Duration| {
        seen.delays
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(0)
    };
    seen.widths
        .windows(2)
        .filter(|w| w[1].2 > 0 && w[1].2 < seen.decoded.len())
        .filter_map(|w| {
            let (_, width_to, i) = w[1];
            let (at, pts) = seen.decoded[i];
            let (before_at, before_pts) = seen.decoded[i - 1];
            let decided = decisions.iter().rev().find(|(t, _)| *t <= at)?.0;
            // The same cut on rtmpsrc's pad: the new rendition's first frame (its keyframe,
            // whose PTS the decoder keeps) and the buffer before it.
            let pad_gap = seen
                .pad_buffers
                .iter()
                .rposition(|&(t, p)| p == Some(pts) && t <= at)
                .filter(|&k| k > 0)
                .map_or(Duration::ZERO, |k| {
                    seen.pad_buffers[k].0 - seen.pad_buffers[k - 1].0
                });
            let pause_before = seen
                .pad_buffers
                .windows(2)
                .filter(|w| w[0].0 + Duration::from_secs(2) >= decided && w[1].0 <= decided)
                .map(|w| w[1].0 - w[0].0)
                .max()
                .unwrap_or_default();
            Some(Cut {
                pad_gap,
                pause_before,
                width_from: w[0].1,
                width_to,
                decided,
                cut_over: at - decided,
                gap: at - before_at,
                pts_step_ms: pts.mseconds() as i64 - before_pts.mseconds() as i64,
                lag_before_ms: worst_lag(at.saturating_sub(Duration::from_secs(1)), at),
                lag_after_ms: worst_lag(at + Duration::from_secs(7), at + Duration::from_secs(9)),
            })
        })
        .collect()
}
