//! RTMPT's latency against plain RTMP, for `scripts/bench-rtmpt.sh`: in this one process, a
//! live publisher (videotestsrc 640x360 30 fps -> x264enc tune=zerolatency, audiotestsrc ->
//! voaacenc) with our rtmpsink (caller) into our rtmpsrc (listener) on a loopback port, over
//! `rtmp://` and `rtmpt://` alternately.
//!
//!     rtmpt_latency <seconds> <runs>
//!
//! Each video frame's delay is the wall-clock time from leaving h264parse on the publisher to
//! reaching the player's fakesink, frames paired by order and checked by size (as
//! `examples/latency.rs` does against nginx). Prints one line per run and the medians and 95th
//! percentiles of all frames per scheme.

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

fn launch(description: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(description)
        .map_err(|e| format!("{description}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())
}

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

fn free_port() -> Result<u16, String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.port())
}

fn pair(published: &[(Instant, usize)], played: &[(Instant, usize)]) -> Vec<f64> {
    let mut delays = Vec::new();
    let mut next = 0;
    for &(arrived, size) in played {
        let found = (next..published.len().min(next + 90)).find(|&i| published[i].1 == size);
        if let Some(i) = found {
            delays.push(arrived.duration_since(published[i].0).as_secs_f64() * 1000.0);
            next = i + 1;
        }
    }
    delays
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64 * p).round() as usize).min(sorted.len() - 1)]
}

fn measure_once(scheme: &str, run: u32, seconds: u64) -> Result<Vec<f64>, String> {
    let url = format!("{scheme}://127.0.0.1:{}/live/key", free_port()?);
    let player = launch(&format!(
        "rtmpsrc mode=listener location={url} name=dm \
         dm.video ! fakesink name=vsink sync=false async=false \
         dm.audio ! fakesink name=asink sync=false async=false"
    ))?;
    let played: Log = Arc::default();
    let vsink = player.by_name("vsink").ok_or("no vsink")?;
    probe_into(&vsink.static_pad("sink").ok_or("no pad")?, played.clone());
    // Bound once this returns (READY -> PAUSED).
    player
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let publisher = launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 \
         ! h264parse name=vparse ! video/x-h264,stream-format=avc,alignment=au \
         ! rtmpsink name=s location={url} \
         audiotestsrc is-live=true ! audioconvert ! voaacenc ! aacparse ! s."
    ))?;
    let published: Log = Arc::default();
    let parse = publisher.by_name("vparse").ok_or("no vparse")?;
    probe_into(&parse.static_pad("src").ok_or("no src")?, published.clone());
    publisher
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = wait_end(&publisher, Duration::from_secs(seconds));
    publisher.send_event(gst::event::Eos::new());
    let _ = wait_end(&publisher, Duration::from_secs(5));
    let _ = publisher.set_state(gst::State::Null);
    let _ = wait_end(&player, Duration::from_secs(5));
    let _ = player.set_state(gst::State::Null);
    result?;
    let published = published.lock().map_err(|_| "poisoned")?.clone();
    let played = played.lock().map_err(|_| "poisoned")?.clone();
    let delays = pair(&published, &played);
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "run\t{scheme}\t{run}\t{}\t{}\t{}\t{:.1}\t{:.1}\t{:.1}",
        published.len(),
        played.len(),
        delays.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95),
        sorted.last().copied().unwrap_or(f64::NAN),
    );
    Ok(delays)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), String> {
        let usage = "usage: rtmpt_latency SECONDS RUNS";
        let [seconds, runs] = args.as_slice() else {
            return Err(usage.into());
        };
        let seconds: u64 = seconds.parse().map_err(|_| usage)?;
        let runs: u32 = runs.parse().map_err(|_| usage)?;
        gst::init().map_err(|e| e.to_string())?;
        gstrtmp::plugin_register_static().map_err(|e| e.to_string())?;
        println!("#\tscheme\trun\tpublished\tplayed\tmatched\tmedian_ms\tp95_ms\tmax_ms");
        let mut all: [Vec<f64>; 2] = Default::default();
        for run in 1..=runs {
            for (i, scheme) in ["rtmp", "rtmpt"].into_iter().enumerate() {
                all[i].extend(measure_once(scheme, run, seconds)?);
            }
        }
        for (i, scheme) in ["rtmp", "rtmpt"].into_iter().enumerate() {
            let sorted = &mut all[i];
            sorted.sort_by(f64::total_cmp);
            println!(
                "all\t{scheme}\t-\t-\t-\t{}\t{:.1}\t{:.1}\t{:.1}",
                sorted.len(),
                percentile(sorted, 0.5),
                percentile(sorted, 0.95),
                sorted.last().copied().unwrap_or(f64::NAN),
            );
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("rtmpt_latency: {e}");
        std::process::exit(1);
    }
}
