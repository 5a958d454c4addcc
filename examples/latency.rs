//! End-to-end helpers for `scripts/bench-e2e.sh` (parts b and d), run against a live nginx-rtmp.
//!
//!     latency count <ours|anchor> rtmp://host/app/stream
//!     latency measure rtmp://host/app <seconds> <runs>
//!
//! `count` plays a stream into fakesinks until it ends and prints `frames <video> <audio>`,
//! counted with pad probes (gst-launch's `-v` notifications proved unreliable for counting when
//! two streaming threads feed the sinks). Both players end on the publisher's end of stream
//! (nginx sends StreamEOF and UnpublishNotify), or after `idle-timeout=5` without data: 2 s
//! would fire before a publisher started 2 s after the player (rtmp2src then ends with no data).
//!
//! `measure` runs, in this one process, a live publisher (videotestsrc 640x360 30 fps ->
//! x264enc tune=zerolatency speed-preset=ultrafast, audiotestsrc -> voaacenc) through the server
//! to a player into fakesinks, alternating ours (`rtmpsink` -> `rtmpsrc`) and the anchor
//! (`flvmux streamable=true ! rtmp2sink` -> `rtmp2src ! flvdemux`). Each video frame's delay is
//! the wall-clock time between leaving h264parse on the publisher (the encoder's output, in the
//! form both sinks take) and reaching the player's fakesink. Frames are matched by order, with
//! each pair checked by payload size (the H.264 access unit arrives byte for byte), because
//! neither side keeps the timestamps: rtmpsink counts RTMP time from its first DTS and rtmpsrc
//! re-stamps on its own clock. Our elements come from `gstrtmp::plugin_register_static()`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

type Log = Arc<Mutex<Vec<(Instant, usize)>>>;

fn probe_into(pad: &gst::Pad, log: Log) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let now = Instant::now();
        if let Some(buffer) = info.buffer()
            && let Ok(mut log) = log.lock()
        {
            log.push((now, buffer.size()));
        }
        gst::PadProbeReturn::Ok
    });
}

fn player_description(side: &str, url: &str) -> String {
    // async=false: rtmp2src is not a live source, and a sink that prerolls on the first video
    // frame would block flvdemux before the first audio frame reaches the other sink.
    let sinks = "dm.video ! fakesink name=vsink sync=false async=false \
                 dm.audio ! fakesink name=asink sync=false async=false";
    match side {
        "ours" => format!("rtmpsrc location={url} idle-timeout=5 name=dm {sinks}"),
        _ => format!("rtmp2src location={url} idle-timeout=5 ! flvdemux name=dm {sinks}"),
    }
}

fn publisher_description(side: &str, url: &str) -> String {
    let video = "videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 \
                 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 \
                 ! h264parse name=vparse ! video/x-h264,stream-format=avc,alignment=au";
    let audio = "audiotestsrc is-live=true ! audioconvert ! voaacenc ! aacparse";
    // Extra sink properties for experiments (e.g. OURS_SINK="sync=false"); unset by the script.
    let extra = |var: &str| std::env::var(var).unwrap_or_default();
    // NO_AUDIO=1: video only, to see the path without the wait to interleave audio.
    if std::env::var_os("NO_AUDIO").is_some() {
        return match side {
            "ours" => format!("{video} ! rtmpsink location={url} {}", extra("OURS_SINK")),
            _ => format!(
                "{video} ! flvmux streamable=true {} ! rtmp2sink location={url} {}",
                extra("ANCHOR_MUX"),
                extra("ANCHOR_SINK")
            ),
        };
    }
    match side {
        "ours" => format!(
            "{video} ! rtmpsink name=s location={url} {} {audio} ! s.",
            extra("OURS_SINK")
        ),
        _ => format!(
            "{video} ! flvmux name=m streamable=true {} ! rtmp2sink location={url} {} {audio} ! m.",
            extra("ANCHOR_MUX"),
            extra("ANCHOR_SINK")
        ),
    }
}

fn sink_pad(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Pad, String> {
    pipeline
        .by_name(name)
        .and_then(|e| e.static_pad("sink"))
        .ok_or_else(|| format!("no {name}"))
}

fn launch(description: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(description)
        .map_err(|e| format!("{description}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())
}

/// Waits for EOS or an error on the bus, at most `limit`.
fn wait_end(pipeline: &gst::Pipeline, limit: Duration) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("no bus")?;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            return Ok(());
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => {
                return Err(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
            }
            _ => {}
        }
    }
}

fn count(side: &str, url: &str) -> Result<(), String> {
    let pipeline = launch(&player_description(side, url))?;
    let video: Log = Arc::default();
    let audio: Log = Arc::default();
    probe_into(&sink_pad(&pipeline, "vsink")?, video.clone());
    probe_into(&sink_pad(&pipeline, "asink")?, audio.clone());
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = wait_end(&pipeline, Duration::from_secs(110));
    // THREAD_CPU=1: where the CPU went, per thread, read while the threads still exist.
    if std::env::var_os("THREAD_CPU").is_some() {
        print_thread_cpu();
    }
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let n = |log: &Log| log.lock().map(|l| l.len()).unwrap_or(0);
    println!("frames {} {}", n(&video), n(&audio));
    Ok(())
}

/// Prints each thread's name and time on a CPU so far (schedstat, in ms) to stderr.
fn print_thread_cpu() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    let mut rows: Vec<(String, f64)> = tasks
        .flatten()
        .filter_map(|task| {
            let dir = task.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
            Some((name.trim().to_owned(), ns / 1e6))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
    {
        eprintln!("peak\t{}", line.trim_start_matches("VmHWM:").trim());
    }
    for (name, ms) in rows {
        eprintln!("thread\t{name}\t{ms:.2}");
    }
}

/// Pairs player frames with published ones by order, checking sizes; returns delays in ms and
/// the number of player frames that found no partner.
fn pair(published: &[(Instant, usize)], played: &[(Instant, usize)]) -> (Vec<f64>, usize) {
    let mut delays = Vec::new();
    let mut unmatched = 0;
    let mut next = 0;
    for &(arrived, size) in played {
        // Look a little ahead, in case the player joined late or a frame was lost.
        let found = (next..published.len().min(next + 90)).find(|&i| published[i].1 == size);
        match found {
            Some(i) => {
                delays.push(arrived.duration_since(published[i].0).as_secs_f64() * 1000.0);
                next = i + 1;
            }
            None => unmatched += 1,
        }
    }
    (delays, unmatched)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn measure_once(side: &str, base: &str, run: u32, seconds: u64) -> Result<Vec<f64>, String> {
    let url = format!("{base}/d{run}-{side}");
    let player = launch(&player_description(side, &url))?;
    let played: Log = Arc::default();
    probe_into(&sink_pad(&player, "vsink")?, played.clone());
    player
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    // The player waits on the server before the publisher starts, so it sees the first frame.
    std::thread::sleep(Duration::from_millis(1500));

    let publisher = launch(&publisher_description(side, &url))?;
    // SINK_DEADLINE_NS: processing-deadline of every base sink inside the publisher (rtmpsink is
    // a bin, so its inner sink is reached this way), to see what the default 20 ms costs.
    if let Some(ns) = std::env::var("SINK_DEADLINE_NS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for element in publisher.iterate_recurse().into_iter().flatten() {
            if element.is::<gst_base::BaseSink>() {
                element.set_property("processing-deadline", ns);
            }
        }
    }
    let published: Log = Arc::default();
    let parse = publisher.by_name("vparse").ok_or("no vparse")?;
    probe_into(&parse.static_pad("src").ok_or("no src")?, published.clone());
    publisher
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = wait_end(&publisher, Duration::from_secs(seconds));
    // The latency the publisher's sink waits for beyond each buffer's running time (sync=true).
    let mut query = gst::query::Latency::new();
    if publisher.query(&mut query) {
        let (live, min, max) = query.result();
        eprintln!("latency: {side} publisher: live {live}, min {min}, max {max:?}");
    }
    publisher.send_event(gst::event::Eos::new());
    let _ = wait_end(&publisher, Duration::from_secs(5));
    let _ = publisher.set_state(gst::State::Null);
    let _ = wait_end(&player, Duration::from_secs(5));
    let _ = player.set_state(gst::State::Null);
    result?;

    let published = published.lock().map_err(|_| "poisoned")?.clone();
    let played = played.lock().map_err(|_| "poisoned")?.clone();
    let (delays, unmatched) = pair(&published, &played);
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "run\t{side}\t{run}\t{}\t{}\t{}\t{unmatched}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
        published.len(),
        played.len(),
        delays.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95),
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    );
    Ok(delays)
}

fn measure(base: &str, seconds: u64, runs: u32) -> Result<(), String> {
    println!(
        "#\tside\trun\tpublished\tplayed\tmatched\tunmatched\tmedian_ms\tp95_ms\tmin_ms\tmax_ms"
    );
    let mut all: [Vec<f64>; 2] = Default::default();
    for run in 1..=runs {
        for (i, side) in ["ours", "anchor"].into_iter().enumerate() {
            all[i].extend(measure_once(side, base, run, seconds)?);
        }
    }
    for (i, side) in ["ours", "anchor"].into_iter().enumerate() {
        let sorted = &mut all[i];
        sorted.sort_by(f64::total_cmp);
        println!(
            "all\t{side}\t-\t-\t-\t{}\t-\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
            sorted.len(),
            percentile(sorted, 0.5),
            percentile(sorted, 0.95),
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: latency count <ours|anchor> URL | latency measure BASE_URL SECONDS RUNS";
    let run = || -> Result<(), String> {
        gst::init().map_err(|e| e.to_string())?;
        gstrtmp::plugin_register_static().map_err(|e| e.to_string())?;
        match args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["count", side, url] => count(side, url),
            ["measure", base, seconds, runs] => measure(
                base,
                seconds.parse().map_err(|_| usage)?,
                runs.parse().map_err(|_| usage)?,
            ),
            _ => Err(usage.to_owned()),
        }
    };
    if let Err(e) = run() {
        eprintln!("latency: {e}");
        std::process::exit(1);
    }
}
