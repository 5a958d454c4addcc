//! Setups and checks shared by the tests of `recorded.rs`: serving a recording, a live
//! publisher, what rtmpsrc sent after a seek, and checks on timestamps.
#![allow(dead_code)]

use std::time::Duration;

use gst::ClockTime;
use gst::prelude::*;

use super::common::{Nginx, Recording, VodFile};
use super::vod_player::*;

pub const FRAME_S: f64 = 0.040;
/// AAC frames of 1024 samples at 44.1 kHz.
pub const AAC_FRAME_S: f64 = 1024.0 / 44100.0;
pub const KEY: gst::SeekFlags = gst::SeekFlags::FLUSH.union(gst::SeekFlags::KEY_UNIT);
pub const ACCURATE: gst::SeekFlags = gst::SeekFlags::FLUSH.union(gst::SeekFlags::ACCURATE);
pub const KEY_AFTER: gst::SeekFlags = KEY.union(gst::SeekFlags::SNAP_AFTER);

pub fn t(seconds: f64) -> ClockTime {
    ClockTime::from_nseconds((seconds * 1e9).round() as u64)
}

pub fn assert_in(what: &str, got: ClockTime, lo: f64, hi: f64) {
    let g = secs(got);
    assert!(
        g >= lo - 1e-9 && g <= hi + 1e-9,
        "{what}: {g:.3} s, expected within [{lo}, {hi}]"
    );
}

pub fn serve(recording: Recording) -> (Nginx, VodFile, String) {
    let nginx = Nginx::start();
    let file = nginx.add_vod(&recording, "rec");
    let url = nginx.vod_url(&file);
    (nginx, file, url)
}

/// A recording prerolled and playing, with some video rendered.
pub fn playing(recording: Recording) -> (Nginx, VodFile, VodPlayer) {
    let (nginx, file, url) = serve(recording);
    let player = VodPlayer::new(&url, &[], true, AV);
    player.preroll();
    player.play();
    player.wait_sink_pts("video", t(0.2), WAIT);
    (nginx, file, player)
}

/// What a pad of rtmpsrc sent after a seek's flush.
pub struct After {
    pub segment: gst::FormattedSegment<ClockTime>,
    pub bufs: Vec<Buf>,
}

/// Waits for `n` buffers on rtmpsrc's `pad` after the seek and checks the flush and the
/// segment before them: both carry the seek's seqnum.
pub fn src_after(player: &VodPlayer, pad: &str, seek: &Seek, n: usize) -> After {
    let recs = player.wait_logs(
        WAIT,
        &format!("{n} {pad} buffers from rtmpsrc after the seek"),
        |l| {
            let recs = l.pads.get(pad)?.src.after_flush(seek.seqnum)?;
            (recs.buffers().len() >= n).then(|| recs.to_vec())
        },
    );
    let starts = player.logs().pad(pad).src.flush_starts(seek.seqnum);
    assert!(starts >= 1, "{pad}: no flush-start with the seek's seqnum");
    let first = recs
        .iter()
        .position(|r| matches!(r.ev, Ev::Buffer { .. }))
        .unwrap_or(recs.len());
    let segments = recs[..first].segments();
    let (segment, seqnum) = segments
        .last()
        .unwrap_or_else(|| panic!("{pad}: no segment before the first buffer after the seek"))
        .clone();
    assert_eq!(seqnum, seek.seqnum, "{pad}: the segment's seqnum");
    After {
        segment,
        bufs: recs.buffers(),
    }
}

/// The video after a KEY_UNIT seek: the segment starts at the first buffer, a keyframe, which is
/// DISCONT; DTS never goes back.
pub fn check_key_unit(after: &After, lo: f64, hi: f64) {
    let start = after.segment.start().expect("segment start");
    let first = after.bufs[0];
    // Quoted in the closing note of issue #9.
    eprintln!(
        "key-unit seek: segment start {start}, first video PTS {}, DTS {}",
        first.pts.display(),
        first.dts.display()
    );
    assert_in("segment start", start, lo, hi);
    assert_eq!(first.pts, Some(start), "first video PTS == segment start");
    assert!(first.keyframe(), "first video buffer is a keyframe");
    assert!(
        first.discont(),
        "first video buffer after the seek is DISCONT"
    );
    assert_monotonic_dts(&after.bufs, "video after the seek");
}

pub fn assert_monotonic_dts(bufs: &[Buf], what: &str) {
    for pair in bufs.windows(2) {
        assert!(
            pair[0].dts <= pair[1].dts,
            "{what}: DTS went back {:?} -> {:?}",
            pair[0].dts,
            pair[1].dts
        );
    }
}

/// Sorted timestamps have neither duplicates nor gaps of more than 1.5 frames.
pub fn contiguous(mut times: Vec<ClockTime>, frame: f64, what: &str) -> Result<(), String> {
    times.sort();
    let dups: Vec<f64> = times
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| secs(w[0]))
        .collect();
    let gaps: Vec<(f64, f64)> = times
        .windows(2)
        .filter(|w| secs(w[1]) - secs(w[0]) > frame * 1.5)
        .map(|w| (secs(w[0]), secs(w[1])))
        .collect();
    match (dups.is_empty(), gaps.is_empty()) {
        (true, true) => Ok(()),
        _ => Err(format!(
            "{what}: repeated timestamps at {dups:?} s, missing frames between {gaps:?} s"
        )),
    }
}

pub fn assert_contiguous(times: Vec<ClockTime>, frame: f64, what: &str) {
    if let Err(e) = contiguous(times, frame, what) {
        panic!("{e}");
    }
}

/// Panics with every failed check, not just the first.
pub fn assert_all(checks: Vec<Result<(), String>>) {
    let failed: Vec<String> = checks.into_iter().filter_map(Result::err).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Waits until both sinks got EOS after the seek; returns the seqnums of the EOS events at
/// rtmpsrc's pads after its flush.
pub fn wait_both_eos(player: &VodPlayer, seek: &Seek, timeout: Duration) -> Vec<gst::Seqnum> {
    player.wait_logs(timeout, "EOS at both sinks after the seek", |l| {
        ["video", "audio"]
            .iter()
            .all(|p| {
                l.pads
                    .get(*p)
                    .and_then(|p| p.sink.after_flush(seek.seqnum))
                    .is_some_and(|r| !r.eos().is_empty())
            })
            .then_some(())
    });
    let logs = player.logs();
    ["video", "audio"]
        .iter()
        .flat_map(|p| logs.pad(p).src.after_flush(seek.seqnum).unwrap().eos())
        .collect()
}

pub const LIVE_PUBLISHER: &str = "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
    ! x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! h264parse \
    ! rtmpsink name=m location={url} \
    audiotestsrc is-live=true samplesperbuffer=1024 ! voaacenc ! aacparse ! m.";

/// nginx with a live test stream published by our rtmpsink, and a player on it.
pub fn live() -> (Nginx, NullOnDrop<gst::Element>, VodPlayer) {
    init();
    let nginx = Nginx::start();
    let url = nginx.url("cam");
    let publisher = NullOnDrop(gst::parse::launch(&LIVE_PUBLISHER.replace("{url}", &url)).unwrap());
    publisher.set_state(gst::State::Playing).unwrap();
    nginx.wait_publisher("cam", WAIT);
    let player = VodPlayer::new(&url, &[], true, AV);
    assert_eq!(
        player.pipeline.set_state(gst::State::Paused),
        Ok(gst::StateChangeSuccess::NoPreroll),
        "a live stream is a live source"
    );
    player.play();
    player.wait_logs(WAIT, "live video decoded", |l| {
        (l.pads.get("video")?.sink.buffers().len() >= 25).then_some(())
    });
    (nginx, publisher, player)
}

/// How far ahead of the clock (positive: early) each buffer's running time was.
pub fn ahead(bufs: &[Buf]) -> Vec<f64> {
    bufs.iter()
        .map(|b| secs(b.running.unwrap()) - secs(b.now.unwrap()))
        .collect()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
