//! Adaptive bitrate on a shaped link (issue #12, publishing): x264enc at 4 Mbit/s live into
//! rtmpsink with `adaptive-bitrate=true`, through nginx-rtmp, while `tc` narrows the link to the
//! server from 8 to 1.5 Mbit/s for 15 s and widens it again. Our rtmpsrc plays the stream and
//! measures the delay of each video frame: its arrival time against its capture time.
//!
//! The scenario runs in a child process under `unshare -n` (a private network namespace, as
//! root): this test binary again, running only [`scenario`]. `scripts/bench-adaptive.sh` runs
//! the same child with the other modes (no adaptation, flvmux ! rtmp2sink).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The child's mode: `adaptive` (with `max-delay=1500`), `drop` (`max-delay=1500` alone),
/// `plain` (our rtmpsink as it is by default), `rtmp2` (flvmux ! rtmp2sink), or `app`
/// (adaptive, the encoder out of the sink's reach in another pipeline: the application applies
/// each `rtmp-bitrate-changed` itself).
const MODE_ENV: &str = "RTMP_ABR_MODE";
/// Link phases, `kbps:seconds` separated by commas.
const PHASES_ENV: &str = "RTMP_ABR_PHASES";
const CI_PHASES: &str = "8000:5,1500:15,8000:10";
/// `max-delay` alone: a link below what the encoder makes, for long enough to drop GOPs.
const DROP_PHASES: &str = "8000:3,1200:8";
/// An encoder rtmpsink does not know: long enough to measure its bitrate, lower it and settle.
const APP_PHASES: &str = "8000:4,1500:10";
/// The shaped scenarios run one at a time: two live encoders at once would share 2 cores.
static SHAPED: Mutex<()> = Mutex::new(());
const AUDIO_KBPS: u32 = 128;

/// One second of the scenario, as the child prints it.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    second: u32,
    link_kbps: u32,
    /// The encoder's `bitrate` property at the end of the second.
    target_kbps: u32,
    /// What the encoder produced during the second.
    encoded_kbps: u32,
    /// What the player received during the second (audio, video, data).
    received_kbps: u32,
    /// The largest delay of a video frame that arrived during the second (-1: none arrived).
    delay_ms: i64,
    dropped_gops: u64,
}

impl Row {
    const HEADER: &'static str =
        "  t  link  target  encoded  received  delay_ms  dropped_gops  (kbit/s)";

    fn line(&self) -> String {
        format!(
            "ROW {:3} {:5} {:7} {:8} {:9} {:9} {:13}",
            self.second,
            self.link_kbps,
            self.target_kbps,
            self.encoded_kbps,
            self.received_kbps,
            self.delay_ms,
            self.dropped_gops
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let mut f = line.strip_prefix("ROW ")?.split_whitespace();
        let mut next = || f.next()?.parse::<i64>().ok();
        Some(Row {
            second: next()? as u32,
            link_kbps: next()? as u32,
            target_kbps: next()? as u32,
            encoded_kbps: next()? as u32,
            received_kbps: next()? as u32,
            delay_ms: next()?,
            dropped_gops: next()? as u64,
        })
    }
}

fn phases(spec: &str) -> Vec<(u32, u32)> {
    spec.split(',')
        .map(|p| {
            let (kbps, secs) = p.split_once(':').expect("kbps:seconds");
            (kbps.parse().expect("kbps"), secs.parse().expect("seconds"))
        })
        .collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the scenario in a private network namespace and returns its rows.
fn run_child(mode: &str, phase_spec: &str) -> (Vec<Row>, String) {
    let exe = std::env::current_exe().expect("current_exe");
    let total: u32 = phases(phase_spec).iter().map(|p| p.1).sum();
    let out = common::run_with_timeout(
        Command::new("unshare")
            .arg("-n")
            .arg(exe)
            .args(["--ignored", "--exact", "scenario", "--nocapture"])
            .env(MODE_ENV, mode)
            .env(PHASES_ENV, phase_spec),
        Duration::from_secs(u64::from(total) + 40),
    );
    let rows: Vec<Row> = out.stdout.lines().filter_map(Row::parse).collect();
    assert!(
        out.success() && rows.len() as u32 + 1 >= total,
        "the scenario failed ({:?}, timed out: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        out.timed_out,
        out.stdout,
        out.stderr
    );
    eprintln!("{}", Row::HEADER);
    for row in &rows {
        eprintln!("{}", row.line());
    }
    // The sink's own view each second (its estimate, and the delay it measures on its side).
    for line in out.stdout.lines().filter(|l| l.starts_with("SINK ")) {
        eprintln!("{line}");
    }
    (rows, out.stdout)
}

/// Runs a shaped scenario, one at a time; `None` (skipped) unless root.
fn shaped(mode: &str, phase_spec: &str) -> Option<(Vec<Row>, String)> {
    if !is_root() {
        eprintln!("skipping: needs root for unshare -n and tc (CI runs as root)");
        return None;
    }
    let _one_at_a_time = SHAPED.lock().unwrap_or_else(|e| e.into_inner());
    Some(run_child(mode, phase_spec))
}

/// The child's `rtmp-bitrate-changed` lines: second, old, new, reason, applied, encoder.
fn bitrate_changes(stdout: &str) -> Vec<Vec<&str>> {
    let changes: Vec<Vec<&str>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("MSG "))
        .map(|l| l.split(' ').collect())
        .collect();
    eprintln!("changes (second old new reason applied encoder): {changes:?}");
    changes
}

#[test]
fn adaptive_bitrate_keeps_the_delay_low_on_a_link_that_narrows_and_recovers() {
    let Some((rows, stdout)) = shaped("adaptive", CI_PHASES) else {
        return;
    };
    let p = phases(CI_PHASES);
    let (narrow_from, narrow_to) = (p[0].1, p[0].1 + p[1].1);
    // Delay at the player stays under 2 s throughout (the first second is the player joining).
    let worst = rows.iter().skip(1).map(|r| r.delay_ms).max().unwrap_or(-1);
    assert!(worst >= 0, "no video reached the player: {rows:?}");
    assert!(worst < 2000, "delay reached {worst} ms");
    let video_seconds = rows.iter().skip(1).filter(|r| r.delay_ms >= 0).count();
    assert!(
        video_seconds + 3 >= rows.len(),
        "video reached the player in only {video_seconds} of {} seconds",
        rows.len()
    );
    // Wide link: the encoder's 4 Mbit/s goes through as it is.
    let wide: Vec<&Row> = rows
        .iter()
        .filter(|r| r.second >= 2 && r.second < narrow_from)
        .collect();
    assert!(
        wide.iter().all(|r| r.target_kbps == 4000),
        "lowered on a wide link: {wide:?}"
    );
    // Narrow link: from 5 s in, what the encoder makes (plus audio) fits 1.5 Mbit/s.
    let narrow: Vec<&Row> = rows
        .iter()
        .filter(|r| r.second >= narrow_from + 5 && r.second < narrow_to)
        .collect();
    let mean = narrow.iter().map(|r| r.encoded_kbps).sum::<u32>() / narrow.len().max(1) as u32;
    assert!(
        mean + AUDIO_KBPS <= 1500,
        "{mean} kbit/s of video on a 1500 kbit/s link"
    );
    assert!(
        mean >= 500,
        "{mean} kbit/s: far below what the link carries"
    );
    // Recovered: above 2.5 Mbit/s within 10 s, encoded and received.
    let recovered = rows
        .iter()
        .filter(|r| r.second >= narrow_to && r.second < narrow_to + 10)
        .find(|r| r.encoded_kbps > 2500 && r.received_kbps > 2500);
    assert!(
        recovered.is_some(),
        "not back above 2.5 Mbit/s within 10 s of recovery"
    );
    // The application heard of each change, made on x264enc itself.
    let changes = bitrate_changes(&stdout);
    let first = changes.first().expect("rtmp-bitrate-changed posted");
    assert_eq!((first[1], first[3]), ("4000", "congestion"), "{changes:?}");
    assert!(
        changes.iter().all(|c| c[4] == "true" && c[5] == "enc"),
        "{changes:?}"
    );
    assert!(changes.iter().any(|c| c[3] == "recovery"), "{changes:?}");
    let stats = stdout
        .lines()
        .find_map(|l| l.strip_prefix("STATS "))
        .expect("stats printed");
    gst::init().unwrap();
    let stats: gst::Structure = stats.parse().expect("stats parse");
    assert_eq!(stats.get::<u32>("bitrate").unwrap(), 4000, "{stats}");
    assert!(
        stats.get::<u32>("bandwidth-estimate").unwrap() > 3000,
        "{stats}"
    );
    assert!(stats.get::<u64>("queued-ms").unwrap() < 500, "{stats}");
}

#[test]
fn max_delay_drops_whole_gops_with_their_audio() {
    let Some((rows, stdout)) = shaped("drop", DROP_PHASES) else {
        return;
    };
    assert!(
        rows.iter().all(|r| r.target_kbps == 4000),
        "without adaptive-bitrate the encoder is left alone"
    );
    let gaps: Vec<Vec<&str>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("GAP "))
        .map(|l| l.split(' ').collect())
        .collect();
    eprintln!("gaps (last video, next video, keyframe, audio inside): {gaps:?}");
    let dropped = rows.last().map_or(0, |r| r.dropped_gops);
    assert!(
        dropped >= 1 && !gaps.is_empty(),
        "nothing dropped: {rows:?}"
    );
    // The player sees whole GOPs: each hole ends at a keyframe, and audio has the same hole.
    for gap in &gaps {
        assert_eq!(gap[2], "true", "video resumed without a keyframe: {gap:?}");
        assert_eq!(gap[3], "0", "audio kept inside a dropped GOP: {gap:?}");
    }
    // Video kept arriving, and the player's delay stays bounded: beyond max-delay (1.5 s) at
    // most the time one GOP takes on the narrow link (a 4 Mbit/s GOP of 1 s takes 3.3 s at
    // 1.2 Mbit/s; one is kept whenever nothing waits). The send buffer is sized to the link,
    // so little waits in the bottleneck's queue beyond our reach. Unbounded, it grows by
    // 2.3 s a second.
    let worst = rows.iter().skip(1).map(|r| r.delay_ms).max().unwrap_or(-1);
    assert!(worst < 4500, "delay reached {worst} ms: {rows:?}");
    let with_video = rows.iter().filter(|r| r.delay_ms >= 0).count();
    assert!(with_video * 2 >= rows.len(), "{rows:?}");
}

#[test]
fn an_encoder_out_of_reach_gets_the_targets_through_messages() {
    let Some((rows, stdout)) = shaped("app", APP_PHASES) else {
        return;
    };
    let changes = bitrate_changes(&stdout);
    // rtmpsink measured the bitrate it could not read (4 Mbit/s, give or take a GOP), lowered
    // it on congestion, and left applying each target to the application.
    let first = changes.first().expect("rtmp-bitrate-changed posted");
    let measured: u32 = first[1].parse().unwrap();
    assert!((3000..=6000).contains(&measured), "{changes:?}");
    assert_eq!(first[3], "congestion", "{changes:?}");
    assert!(
        changes.iter().all(|c| c[4] == "false" && c[5] == "-"),
        "{changes:?}"
    );
    // The application applied them: the stream fitted the narrow link and the delay stayed low.
    let narrow_from = phases(APP_PHASES)[0].1;
    let narrow: Vec<&Row> = rows
        .iter()
        .filter(|r| r.second >= narrow_from + 2)
        .collect();
    let mean = narrow.iter().map(|r| r.encoded_kbps).sum::<u32>() / narrow.len().max(1) as u32;
    assert!(mean + AUDIO_KBPS <= 1500, "{mean} kbit/s: {rows:?}");
    let worst = rows.iter().skip(1).map(|r| r.delay_ms).max().unwrap_or(-1);
    assert!((0..2500).contains(&worst), "delay reached {worst} ms");
}

/// The child: network namespace set up, nginx, publisher and player, one row a second.
#[test]
#[ignore = "run by the tests above inside `unshare -n` (and by scripts/bench-adaptive.sh)"]
fn scenario() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let phases = phases(&std::env::var(PHASES_ENV).unwrap_or_else(|_| CI_PHASES.into()));
    common::pipeline::init();
    let sh = |cmd: &str| {
        let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Loopback packets the size of a real network's, so that htb shapes them smoothly.
    sh("ip link set lo up && ip link set lo mtu 1500");
    let _ = Command::new("ip")
        .args(["link", "set", "dev", "lo", "gso_max_size", "3000"])
        .status();
    let nginx = common::Nginx::start();
    let class = |verb: &str, kbps: u32| {
        format!(
            "tc class {verb} dev lo parent 1: classid 1:20 htb rate {kbps}kbit ceil {kbps}kbit burst 15k"
        )
    };
    sh(&format!(
        "tc qdisc add dev lo root handle 1: htb default 10 && \
         tc class add dev lo parent 1: classid 1:10 htb rate 20gbit && {} && \
         tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport {} 0xffff flowid 1:20",
        class("add", phases[0].0),
        nginx.port
    ));
    let url = nginx.url("plain/s");
    let sources = "videotestsrc is-live=true pattern=snow ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc name=enc bitrate=4000 tune=zerolatency speed-preset=ultrafast key-int-max=30 \
         ! h264parse name=vp";
    let audio = format!(
        "audiotestsrc is-live=true wave=white-noise volume=0.3 ! voaacenc bitrate={}000 ! aacparse name=ap",
        AUDIO_KBPS
    );
    // `app`: the encoder feeds a proxysink in a pipeline of its own; rtmpsink's walk upstream
    // ends at the proxysrc.
    let encoder_pipeline = (mode == "app").then(|| {
        gst::parse::launch(&format!("{sources} ! proxysink name=pk"))
            .expect("encoder pipeline parses")
            .downcast::<gst::Pipeline>()
            .unwrap()
    });
    let description = match mode.as_str() {
        "rtmp2" => format!(
            "{sources} ! flvmux name=m streamable=true ! rtmp2sink name=s location={url} {audio} ! m."
        ),
        "app" => format!(
            "rtmpsink name=s location={url} adaptive-bitrate=true max-delay=1500 \
             proxysrc name=ps ! queue ! s.video {audio} ! s.audio"
        ),
        // adaptive; drop: max-delay alone; plain: neither.
        _ => format!(
            "rtmpsink name=s location={url} adaptive-bitrate={} max-delay={} \
             {sources} ! s.video {audio} ! s.audio",
            mode == "adaptive",
            if mode == "plain" { 0 } else { 1500 }
        ),
    };
    let publisher = gst::parse::launch(&description)
        .expect("publisher parses")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let enc = match &encoder_pipeline {
        Some(p) => {
            let proxysrc = publisher.by_name("ps").unwrap();
            proxysrc.set_property("proxysink", p.by_name("pk").unwrap());
            p.by_name("enc").unwrap()
        }
        None => publisher.by_name("enc").unwrap(),
    };
    let vp = match &encoder_pipeline {
        Some(p) => p.by_name("vp").unwrap(),
        None => publisher.by_name("vp").unwrap(),
    };
    // Capture time of RTMP timestamp 0: the first running time either stream sends, on the
    // clock (live sources stamp a buffer with the running time it was captured at).
    let first_running = Arc::new(Mutex::new(None::<gst::ClockTime>));
    for parser in [vp, publisher.by_name("ap").unwrap()] {
        let first = first_running.clone();
        let pad = parser.static_pad("src").unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(t) = info.buffer().and_then(|b| b.dts_or_pts()) {
                let mut first = first.lock().unwrap();
                *first = Some(first.map_or(t, |f| f.min(t)));
            }
            gst::PadProbeReturn::Ok
        });
    }
    let encoded = Arc::new(AtomicU64::new(0));
    {
        let encoded = encoded.clone();
        enc.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(b) = info.buffer() {
                    encoded.fetch_add(b.size() as u64, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
    }
    let clock = gst::SystemClock::obtain();
    publisher.use_clock(Some(&clock));
    if let Some(p) = &encoder_pipeline {
        // proxysrc/proxysink: both pipelines on one clock and base time.
        p.use_clock(Some(&clock));
        let base = clock.time();
        for pipeline in [p, &publisher] {
            pipeline.set_start_time(gst::ClockTime::NONE);
            pipeline.set_base_time(base);
        }
        p.set_state(gst::State::Playing).unwrap();
    }
    publisher.set_state(gst::State::Playing).unwrap();
    nginx.wait_publisher("s", Duration::from_secs(10));
    let started = Instant::now();

    let player = gst::parse::launch(&format!(
        "rtmpsrc name=p location={url} p.src ! fakesink name=out sync=false"
    ))
    .expect("player parses")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let worst_delay = Arc::new(AtomicU64::new(0));
    let video_seen = Arc::new(AtomicU64::new(0));
    // Every audio and video tag the player got: (video, timestamp, keyframe).
    let tags = Arc::new(Mutex::new(Vec::<(bool, u32, bool)>::new()));
    {
        let (received, worst, seen) = (received.clone(), worst_delay.clone(), video_seen.clone());
        let tags = tags.clone();
        let (clock, publisher, first) = (clock.clone(), publisher.clone(), first_running.clone());
        let pad = player.by_name("out").unwrap().static_pad("sink").unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            received.fetch_add(buffer.size() as u64, Ordering::Relaxed);
            let mut head = [0u8; 13];
            if buffer.copy_to_slice(0, &mut head).is_err() || !matches!(head[0], 8 | 9) {
                return gst::PadProbeReturn::Ok;
            }
            let ts = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            // Sequence headers (AVC packet type 0, AAC packet type 0) are not media.
            if head[12] != 0 {
                tags.lock()
                    .unwrap()
                    .push((head[0] == 9, ts, head[11] >> 4 == 1));
            }
            if head[0] != 9 {
                return gst::PadProbeReturn::Ok;
            }
            let ts = u64::from(ts);
            let base = publisher.base_time();
            let now = clock.time();
            let (Some(base), Some(first)) = (base, *first.lock().unwrap()) else {
                return gst::PadProbeReturn::Ok;
            };
            let captured = base + first + gst::ClockTime::from_mseconds(ts);
            let delay = now.saturating_sub(captured).mseconds();
            worst.fetch_max(delay, Ordering::Relaxed);
            seen.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    player.set_state(gst::State::Playing).unwrap();

    let sink = publisher.by_name("s").unwrap();
    let (pub_bus, play_bus) = (publisher.bus().unwrap(), player.bus().unwrap());
    let schedule: Vec<u32> = phases
        .iter()
        .flat_map(|&(kbps, secs)| std::iter::repeat_n(kbps, secs as usize))
        .collect();
    let mut link = phases[0].0;
    for (second, &kbps) in schedule.iter().enumerate() {
        if kbps != link {
            sh(&class("change", kbps));
            link = kbps;
        }
        // The scenario's timeline: one row per second of wall time; errors end it at once.
        let tick = started + Duration::from_secs(second as u64 + 1);
        while let Some(left) = tick.checked_duration_since(Instant::now()) {
            for (bus, who) in [(&pub_bus, "publisher"), (&play_bus, "player")] {
                let wait = gst::ClockTime::from_nseconds(left.as_nanos() as u64 / 2);
                let types = [gst::MessageType::Error, gst::MessageType::Element];
                let Some(msg) = bus.timed_pop_filtered(wait, &types) else {
                    continue;
                };
                match msg.view() {
                    gst::MessageView::Error(_) => panic!("{who}: {msg:?}"),
                    _ => {
                        if let Some(kbps) = print_bitrate_change(&msg, second)
                            && encoder_pipeline.is_some()
                        {
                            // The application's part with an encoder rtmpsink cannot reach.
                            enc.set_property("bitrate", kbps);
                        }
                    }
                }
            }
        }
        let stats = sink.property::<gst::Structure>("stats");
        let row = Row {
            second: second as u32,
            link_kbps: link,
            target_kbps: enc.property::<u32>("bitrate"),
            encoded_kbps: (encoded.swap(0, Ordering::Relaxed) * 8 / 1000) as u32,
            received_kbps: (received.swap(0, Ordering::Relaxed) * 8 / 1000) as u32,
            delay_ms: match video_seen.swap(0, Ordering::Relaxed) {
                0 => -1,
                _ => worst_delay.swap(0, Ordering::Relaxed) as i64,
            },
            dropped_gops: stats.get::<u64>("dropped-gops").unwrap_or(0),
        };
        println!("{}", row.line());
        println!(
            "SINK {second} estimate={} queued-ms={}",
            stats.get::<u32>("bandwidth-estimate").unwrap_or(0),
            stats.get::<u64>("queued-ms").unwrap_or(0)
        );
    }
    println!("STATS {}", sink.property::<gst::Structure>("stats"));
    print_gaps(&tags.lock().unwrap());
    player.set_state(gst::State::Null).unwrap();
    publisher.set_state(gst::State::Null).unwrap();
    if let Some(p) = &encoder_pipeline {
        p.set_state(gst::State::Null).unwrap();
    }
}

/// `GAP last_video next_video next_is_keyframe audio_inside` for each hole of more than 200 ms
/// in the video the player got (a dropped GOP), with the audio tags found inside it.
fn print_gaps(tags: &[(bool, u32, bool)]) {
    let video: Vec<(u32, bool)> = tags.iter().filter(|t| t.0).map(|t| (t.1, t.2)).collect();
    for pair in video.windows(2) {
        let ((from, _), (to, key)) = (pair[0], pair[1]);
        if to.saturating_sub(from) > 200 {
            let inside = tags
                .iter()
                .filter(|t| !t.0 && t.1 > from + 50 && t.1 + 50 < to)
                .count();
            println!("GAP {from} {to} {key} {inside}");
        }
    }
}

/// `MSG second old new reason applied encoder` for each `rtmp-bitrate-changed`; returns the
/// new bitrate.
fn print_bitrate_change(msg: &gst::Message, second: usize) -> Option<u32> {
    let s = msg
        .structure()
        .filter(|s| s.name() == "rtmp-bitrate-changed")?;
    println!(
        "MSG {second} {} {} {} {} {}",
        s.get::<u32>("old").unwrap(),
        s.get::<u32>("new").unwrap(),
        s.get::<&str>("reason").unwrap(),
        s.get::<bool>("applied").unwrap(),
        s.get::<Option<&str>>("encoder").unwrap().unwrap_or("-"),
    );
    s.get::<u32>("new").ok()
}

#[test]
fn adaptation_is_off_by_default_and_its_properties_keep_their_values() {
    common::pipeline::init();
    let sink = gst::ElementFactory::make("rtmpsink").build().unwrap();
    assert!(!sink.property::<bool>("adaptive-bitrate"));
    assert_eq!(sink.property::<u32>("min-bitrate"), 250);
    assert_eq!(sink.property::<u32>("max-bitrate"), 0);
    assert_eq!(sink.property::<u32>("max-delay"), 0);
    sink.set_property("adaptive-bitrate", true);
    sink.set_property("min-bitrate", 400u32);
    sink.set_property("max-bitrate", 3000u32);
    sink.set_property("max-delay", 1200u32);
    assert!(sink.property::<bool>("adaptive-bitrate"));
    assert_eq!(sink.property::<u32>("min-bitrate"), 400);
    assert_eq!(sink.property::<u32>("max-bitrate"), 3000);
    assert_eq!(sink.property::<u32>("max-delay"), 1200);
    let stats = sink.property::<gst::Structure>("stats");
    for field in [
        "bitrate",
        "bandwidth-estimate",
        "queued-ms",
        "dropped-gops",
        "dropped-bytes",
    ] {
        assert!(stats.has_field(field), "{field} missing from {stats}");
    }
}
