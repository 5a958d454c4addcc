//! rtmpsrc playing recordings (issue #9): nginx-rtmp's `vod` application serves the fixtures of
//! `common::vod` (20 s of H.264 320x240 25 fps with a keyframe every second and 2 B-frames, so a
//! keyframe's PTS is its DTS + 80 ms, + AAC; 5 s audio-only files), and an in-process pipeline
//! (`recorded_support/vod_player.rs`) decodes what rtmpsrc gives and records, per pad, buffers,
//! segments, flushes and EOS with their seqnums, at rtmpsrc's pads and at the sinks.
//!
//! Covered: preroll and the DURATION/SEEKING/LATENCY queries, KEY_UNIT (before and after),
//! ACCURATE seeks, seeks backward, to the start, near and past the end, while PAUSED, pause and
//! resume without repeated or lost frames, playbin with a vod URI, audio-only files, MP4, the
//! bounded read-ahead (bytes received follow the play position), a live stream paused and
//! resumed at the live edge, and the seeks rtmpsrc refuses.
//!
//! Seeks go to the video sink, as playbin's playsink sends them; a seek sent to the pipeline
//! (GstBin forwards it to every sink, so rtmpsrc gets it once per branch) has its own test.
//! Each test runs its own nginx; the waits are on recorded conditions and bus messages.
//! Shared setups and checks: `recorded_support/checks.rs`.

#[path = "recorded_support/checks.rs"]
mod checks;
mod common;
#[path = "recorded_support/vod_player.rs"]
mod vod_player;

use std::sync::Arc;
use std::time::{Duration, Instant};

use checks::*;
use common::Recording;
use gst::ClockTime;
use gst::prelude::*;
use vod_player::*;

#[test]
fn prerolls_and_answers_duration_seeking_and_latency() {
    let (_nginx, file, url) = serve(Recording::flv());
    let player = VodPlayer::new(&url, &[], true, AV);
    player.preroll();
    assert_eq!(
        player.src.state(ClockTime::ZERO).0,
        Ok(gst::StateChangeSuccess::Success),
        "rtmpsrc prerolls: no NO_PREROLL"
    );
    let duration = player.duration().expect("duration query answered");
    assert_in("duration", duration, 19.8, 20.2);

    let mut seeking = gst::query::Seeking::new(gst::Format::Time);
    assert!(player.pipeline.query(&mut seeking), "seeking query");
    let (seekable, start, end) = seeking.result();
    assert!(seekable, "a recording is seekable");
    assert_eq!(start, gst::GenericFormattedValue::from(ClockTime::ZERO));
    match end {
        gst::GenericFormattedValue::Time(Some(end)) => assert_in("seekable end", end, 19.8, 20.2),
        other => panic!("seekable end {other:?}"),
    }

    // The pipeline's own answer says live as soon as a sink syncs: ask rtmpsrc's pads.
    for pad in player.src.src_pads() {
        let mut latency = gst::query::Latency::new();
        assert!(pad.query(&mut latency), "{}: latency query", pad.name());
        let (live, _, _) = latency.result();
        assert!(!live, "{}: a recording is not live", pad.name());
    }

    // Prerolled from the start: the file's own timestamps in a segment from 0.
    let packets = packets(&file.path);
    let first_video = packets.iter().find(|p| p.video).unwrap();
    let logs = player.logs();
    let video = logs.pad("video");
    let (segment, _) = video.src.segments()[0].clone();
    assert_eq!(segment.start(), Some(ClockTime::ZERO), "segment start");
    let first = video.src.buffers()[0];
    assert_eq!(
        first.dts,
        Some(ClockTime::from_mseconds(first_video.dts_ms as u64))
    );
    assert_eq!(
        first.pts,
        Some(ClockTime::from_mseconds(first_video.pts_ms as u64))
    );
    assert!(first.keyframe() && first.discont());
    let prerolled = video.sink.buffers();
    assert!(
        !prerolled.is_empty(),
        "a decoded frame prerolled at the video sink"
    );
    assert_eq!(prerolled[0].pts, first.pts, "the first frame prerolled");
    drop(logs);
    player.assert_no_error();
}

#[test]
fn key_unit_seek_to_the_middle() {
    let (_nginx, _file, player) = playing(Recording::flv());
    let seek = player.seek(KEY, t(10.0));
    player.wait_sink_buffers("video", &seek, 25);
    let video = src_after(&player, "video", &seek, 25);
    // The keyframe shown at or before 10 s: DTS 9.0 s, PTS 9.08 s (the next one shows at 10.08 s).
    check_key_unit(&video, 9.0, 10.0);
    let start = video.segment.start().unwrap();
    let audio = src_after(&player, "audio", &seek, 5);
    assert_eq!(
        audio.segment.start(),
        Some(start),
        "both pads get the same segment"
    );
    let logs = player.logs();
    let decoded = logs
        .pad("video")
        .sink
        .after_flush(seek.seqnum)
        .unwrap()
        .buffers();
    assert!(decoded.len() >= 25, "decoding goes on after the seek");
    assert!(
        decoded.iter().all(|b| b.pts.unwrap() >= start),
        "nothing decoded from before the segment"
    );
    drop(logs);
    // About a second played from the segment start.
    assert_in(
        "position",
        player.position().unwrap(),
        secs(start),
        secs(start) + 2.0,
    );
    player.assert_no_error();
}

#[test]
fn accurate_seek_starts_the_segment_at_the_target() {
    let (_nginx, _file, player) = playing(Recording::flv());
    let seek = player.seek(ACCURATE, t(10.5));
    player.wait_sink_buffers("video", &seek, 10);
    let video = src_after(&player, "video", &seek, 10);
    assert_eq!(video.segment.start(), Some(t(10.5)), "segment start");
    let first = video.bufs[0];
    assert!(first.keyframe(), "data starts at a keyframe");
    assert_in(
        "first video PTS (the keyframe before)",
        first.pts.unwrap(),
        9.5,
        10.5,
    );
    assert_monotonic_dts(&video.bufs, "video after the seek");
    let logs = player.logs();
    let decoded = logs
        .pad("video")
        .sink
        .after_flush(seek.seqnum)
        .unwrap()
        .buffers();
    eprintln!(
        "accurate seek to 10.5 s: segment start {}, first video PTS {}, first decoded {}",
        video.segment.start().display(),
        first.pts.display(),
        decoded[0].pts.display()
    );
    assert_in(
        "first decoded frame after the seek",
        decoded[0].pts.unwrap(),
        10.5 - FRAME_S,
        10.5 + FRAME_S,
    );
    let audio = logs
        .pad("audio")
        .sink
        .after_flush(seek.seqnum)
        .map(|r| r.buffers())
        .unwrap_or_default();
    assert!(!audio.is_empty(), "audio after the seek");
    assert_in(
        "first decoded audio after the seek",
        audio[0].pts.unwrap(),
        10.5 - AAC_FRAME_S,
        10.5 + 2.0 * AAC_FRAME_S,
    );
    drop(logs);
    player.assert_no_error();
}

#[test]
fn key_unit_snap_after_seek() {
    let (_nginx, _file, player) = playing(Recording::flv());
    let seek = player.seek(KEY_AFTER, t(10.5));
    player.wait_sink_buffers("video", &seek, 5);
    let video = src_after(&player, "video", &seek, 5);
    // The first keyframe at or after 10.5 s: DTS 11.0 s, PTS 11.08 s.
    check_key_unit(&video, 10.9, 11.1);
    player.assert_no_error();
}

#[test]
fn seeks_backward_to_the_start_near_and_past_the_end() {
    let (_nginx, _file, player) = playing(Recording::flv());
    // To about 5 s: a seek to 4 s and one second of playing.
    let seek = player.seek(KEY, t(4.0));
    check_key_unit(&src_after(&player, "video", &seek, 1), 3.0, 4.0);
    player.wait_sink_pts("video", t(5.0), Duration::from_secs(5));

    let back = player.seek(KEY, t(2.0));
    player.wait_sink_buffers("video", &back, 10);
    let video = src_after(&player, "video", &back, 10);
    check_key_unit(&video, 1.0, 2.0);
    let start = video.segment.start().unwrap();
    let decoded = player
        .logs()
        .pad("video")
        .sink
        .after_flush(back.seqnum)
        .unwrap()
        .buffers();
    assert_in(
        "decoded after the backward seek",
        decoded[0].pts.unwrap(),
        secs(start),
        secs(start) + FRAME_S,
    );

    let zero = player.seek(KEY, ClockTime::ZERO);
    player.wait_sink_buffers("video", &zero, 10);
    let video = src_after(&player, "video", &zero, 10);
    check_key_unit(&video, 0.0, 0.1);
    assert_eq!(
        video.bufs[0].dts,
        Some(ClockTime::ZERO),
        "the file's first frame"
    );

    let near_end = player.seek(KEY, t(19.5));
    let video = src_after(&player, "video", &near_end, 1);
    check_key_unit(&video, 18.9, 19.1);
    let eos = wait_both_eos(&player, &near_end, Duration::from_secs(5));
    assert_eq!(
        eos,
        vec![near_end.seqnum; 2],
        "EOS on each pad with the seek's seqnum"
    );
    player.wait_message(
        near_end.mark,
        WAIT,
        "pipeline EOS after the seek near the end",
        |m| matches!(m.view(), gst::MessageView::Eos(_)) && m.seqnum() == near_end.seqnum,
    );

    let past = player.seek(KEY, t(25.0));
    let asked = Instant::now();
    let eos = wait_both_eos(&player, &past, Duration::from_secs(2));
    eprintln!("seek past the end: EOS after {:?}", asked.elapsed());
    assert_eq!(
        eos,
        vec![past.seqnum; 2],
        "EOS on each pad with the seek's seqnum"
    );
    let logs = player.logs();
    for pad in ["video", "audio"] {
        let recs = logs.pad(pad).src.after_flush(past.seqnum).unwrap();
        assert!(recs.buffers().is_empty(), "{pad}: no data past the end");
        let segments = recs.segments();
        assert!(
            segments.iter().any(|(_, s)| *s == past.seqnum),
            "{pad}: a segment with the seek's seqnum before EOS"
        );
    }
    drop(logs);
    player.assert_no_error();
}

#[test]
fn seek_while_paused_prerolls_at_the_new_position() {
    let (_nginx, _file, url) = serve(Recording::flv());
    let player = VodPlayer::new(&url, &[], true, AV);
    player.preroll();
    let seek = player.seek(KEY, t(8.0));
    player.wait_async_done(seek.mark, "preroll after the seek");
    assert_eq!(
        player.pipeline.state(ClockTime::ZERO),
        (
            Ok(gst::StateChangeSuccess::Success),
            gst::State::Paused,
            gst::State::VoidPending
        )
    );
    let video = src_after(&player, "video", &seek, 1);
    check_key_unit(&video, 7.0, 8.0);
    let start = video.segment.start().unwrap();
    let prerolled = player
        .logs()
        .pad("video")
        .sink
        .after_flush(seek.seqnum)
        .unwrap()
        .buffers();
    assert!(!prerolled.is_empty(), "a frame prerolled after the seek");
    assert_in(
        "prerolled frame",
        prerolled[0].pts.unwrap(),
        secs(start),
        secs(start) + FRAME_S,
    );

    player.play();
    player.wait_sink_pts("video", t(9.0), Duration::from_secs(4));
    let decoded: Vec<ClockTime> = player
        .logs()
        .pad("video")
        .sink
        .after_flush(seek.seqnum)
        .unwrap()
        .buffers()
        .iter()
        .map(|b| b.pts.unwrap())
        .collect();
    // From the prerolled frame on, nothing skipped or repeated: playing went on from there.
    assert_contiguous(decoded, FRAME_S, "decoded video after the paused seek");
    // The sink has the 9 s frame; its clock position may still be a frame or two short.
    assert_in(
        "position",
        player.position().unwrap(),
        9.0 - 2.0 * FRAME_S,
        10.5,
    );
    player.assert_no_error();
}

#[test]
fn pause_and_resume_neither_repeat_nor_lose_frames() {
    let (_nginx, _file, player) = playing(Recording::flv());
    player.wait_sink_pts("video", t(1.5), Duration::from_secs(5));
    player
        .pipeline
        .set_state(gst::State::Paused)
        .expect("PLAYING -> PAUSED");
    let (ret, state, _) = player.pipeline.state(ClockTime::from_seconds(10));
    assert_eq!(
        (ret, state),
        (Ok(gst::StateChangeSuccess::Success), gst::State::Paused)
    );
    let paused_at = player.position().unwrap();
    // The pause itself: two seconds of wall clock with the pipeline paused (the scenario
    // under test, not a synchronisation).
    std::thread::sleep(Duration::from_secs(2));
    player.play();
    player.wait_sink_pts("video", paused_at + t(1.5), Duration::from_secs(5));
    let logs = player.logs();
    let video = logs.pad("video").src.buffers();
    let audio = logs.pad("audio").src.buffers();
    let decoded = logs.pad("video").sink.buffers();
    drop(logs);
    eprintln!(
        "paused at {paused_at}; rtmpsrc pushed video up to {:.3} s, audio up to {:.3} s",
        video.iter().map(|b| b.pts_s()).fold(0.0, f64::max),
        audio.iter().map(|b| b.pts_s()).fold(0.0, f64::max)
    );
    let disconts = video.iter().filter(|b| b.discont()).count();
    assert_all(vec![
        contiguous(
            video.iter().map(|b| b.dts.unwrap()).collect(),
            FRAME_S,
            "video DTS from rtmpsrc",
        ),
        // In decode order, a B-frame shown before the newest PTS may still be on its way:
        // only PTS up to the newest DTS are complete.
        contiguous(
            video
                .iter()
                .map(|b| b.pts.unwrap())
                .filter(|pts| Some(*pts) <= video.iter().filter_map(|b| b.dts).max())
                .collect(),
            FRAME_S,
            "video PTS from rtmpsrc",
        ),
        contiguous(
            audio.iter().map(|b| b.dts.unwrap()).collect(),
            AAC_FRAME_S,
            "audio from rtmpsrc",
        ),
        contiguous(
            decoded.iter().map(|b| b.pts.unwrap()).collect(),
            FRAME_S,
            "decoded video",
        ),
        (disconts == 1).then_some(()).ok_or(format!(
            "{disconts} DISCONT video buffers: a resume is no discontinuity"
        )),
    ]);
    assert_monotonic_dts(&video, "video");
    player.assert_no_error();
}

/// GstBin sends a seek to every sink: rtmpsrc gets it once per branch, with one seqnum.
#[test]
fn a_seek_sent_to_the_pipeline_is_accepted_and_carried_out_once() {
    let (_nginx, _file, player) = playing(Recording::flv());
    let event = VodPlayer::seek_event(1.0, KEY, t(5.0), None);
    let seek = player.send_seek(player.pipeline.upcast_ref(), event);
    // Carried out (where it lands is the other tests' business).
    player.wait_sink_buffers("video", &seek, 10);
    src_after(&player, "video", &seek, 10);
    src_after(&player, "audio", &seek, 5);
    let logs = player.logs();
    let flushes: Vec<(usize, usize)> = ["video", "audio"]
        .iter()
        .map(|p| {
            let src = &logs.pad(p).src;
            (src.flush_starts(seek.seqnum), src.flush_stops(seek.seqnum))
        })
        .collect();
    drop(logs);
    eprintln!(
        "pipeline seek: accepted {}, (flush-starts, flush-stops) video/audio {flushes:?}",
        seek.accepted
    );
    assert_all(vec![
        seek.accepted.then_some(()).ok_or(
            "gst_element_send_event(pipeline, seek) returned false although the seek was carried out"
                .to_owned(),
        ),
        (flushes == [(1, 1), (1, 1)]).then_some(()).ok_or(format!(
            "one seek (seqnum {:?}) flushed rtmpsrc's pads {flushes:?} times: it is carried out more than once",
            seek.seqnum
        )),
    ]);
    player.assert_no_error();
}

#[test]
fn playbin_plays_and_seeks_a_vod_uri() {
    init();
    let (_nginx, _file, url) = serve(Recording::flv());
    let sink = |counter: &Arc<Watch<u64>>| {
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", true)
            .build()
            .unwrap();
        let c = counter.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.update(|n| *n += 1);
                gst::PadProbeReturn::Ok
            });
        sink
    };
    let frames = Arc::new(Watch::new(0u64));
    let audio_frames = Arc::new(Watch::new(0u64));
    let playbin = NullOnDrop(
        gst::ElementFactory::make("playbin")
            .property("uri", &url)
            .property("video-sink", sink(&frames))
            .property("audio-sink", sink(&audio_frames))
            .build()
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap(),
    );
    let source = Arc::new(Watch::new(String::new()));
    let s = source.clone();
    playbin.connect("source-setup", false, move |args| {
        let element = args[1].get::<gst::Element>().unwrap();
        s.update(|s| *s = element.type_().name().to_owned());
        None
    });
    let bus = Arc::new(Watch::new(Vec::new()));
    VodPlayer::collect_bus(&playbin.0, &bus);
    let wait = |mark: usize, what: &str, pred: &dyn Fn(&gst::Message) -> bool| {
        let found = bus.wait_for(WAIT, |msgs| {
            msgs.iter().skip(mark).find_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(Err(format!("{} ({:?})", e.error(), e.debug()))),
                _ => pred(m).then_some(Ok(())),
            })
        });
        match found {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("{what}: {e}"),
            None => panic!("{what}: not within {WAIT:?}"),
        }
    };
    let async_done = |m: &gst::Message| {
        matches!(m.view(), gst::MessageView::AsyncDone(_)) && m.src() == Some(playbin.upcast_ref())
    };
    assert_eq!(
        playbin.set_state(gst::State::Paused),
        Ok(gst::StateChangeSuccess::Async)
    );
    wait(0, "playbin prerolls", &async_done);
    assert_eq!(*source.lock(), "GstRsRtmpSrc", "playbin picked our rtmpsrc");
    assert_in(
        "duration",
        playbin.query_duration::<ClockTime>().expect("duration"),
        19.8,
        20.2,
    );
    playbin.set_state(gst::State::Playing).unwrap();
    assert!(
        frames
            .wait_for(WAIT, |n| (*n >= 10).then_some(()))
            .is_some(),
        "playbin plays"
    );

    // As gst-play-1.0 seeks.
    let mark = bus.lock().len();
    playbin
        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, t(12.0))
        .expect("seek accepted");
    wait(mark, "playbin prerolls after the seek", &async_done);
    assert_in(
        "position after the seek",
        playbin.query_position::<ClockTime>().unwrap(),
        11.0,
        12.0,
    );
    let seen = *frames.lock();
    assert!(
        frames
            .wait_for(WAIT, |n| (*n >= seen + 10).then_some(()))
            .is_some(),
        "playing goes on after the seek"
    );
    assert_in(
        "position later",
        playbin.query_position::<ClockTime>().unwrap(),
        11.0,
        14.0,
    );
    assert!(*audio_frames.lock() > 0, "audio played");
    playbin.set_state(gst::State::Null).unwrap();
}

fn audio_only(recording: Recording) {
    let (_nginx, file, url) = serve(recording);
    let expected = packets(&file.path).iter().filter(|p| !p.video).count();
    let decoder = match recording.format {
        common::VodFormat::Mp3Flv => "queue ! avdec_mp3",
        _ => "queue ! avdec_aac",
    };
    let player = VodPlayer::new(&url, &[], false, &[("audio", decoder)]);
    player.preroll();
    assert_in("duration", player.duration().expect("duration"), 4.8, 5.2);
    let mark = player.mark();
    player.play();
    player.wait_eos(
        mark,
        Duration::from_secs(15),
        "audio-only recording played to EOS",
    );
    let logs = player.logs();
    assert_eq!(
        logs.pads.keys().collect::<Vec<_>>(),
        ["audio"],
        "audio only"
    );
    assert!(logs.no_more_pads);
    let audio = logs.pad("audio");
    let sent = audio.src.buffers().len();
    let decoded = audio.sink.buffers().len();
    eprintln!(
        "{:?}: {sent} frames from rtmpsrc, {decoded} decoded, ffprobe {expected}",
        recording.format
    );
    assert_eq!(sent, expected, "every frame of the file");
    assert!(
        decoded * 100 >= expected * 95,
        "{decoded} of {expected} decoded"
    );
    assert_eq!(audio.src.eos().len(), 1, "one EOS");
    assert_contiguous(
        audio.src.buffers().iter().map(|b| b.dts.unwrap()).collect(),
        if recording.format == common::VodFormat::Mp3Flv {
            1152.0 / 44100.0
        } else {
            AAC_FRAME_S
        },
        "audio",
    );
    drop(logs);
    player.assert_no_error();
}

#[test]
fn aac_only_recording_plays_to_eos() {
    audio_only(Recording::aac_flv());
}

#[test]
fn mp3_only_recording_plays_to_eos() {
    audio_only(Recording::mp3_flv());
}

#[test]
fn eos_at_the_end_after_a_seek() {
    let (_nginx, file, url) = serve(Recording::flv());
    let player = VodPlayer::new(&url, &[], true, AV);
    player.preroll();
    let seek = player.seek(KEY, t(17.0));
    player.wait_async_done(seek.mark, "preroll after the seek");
    player.play();
    player.wait_message(
        seek.mark,
        Duration::from_secs(8),
        "pipeline EOS with the seek's seqnum",
        |m| matches!(m.view(), gst::MessageView::Eos(_)) && m.seqnum() == seek.seqnum,
    );
    // A second EOS (nginx ends a seeked FLV twice) would come within a second or so.
    let again = player.logs.wait_for(Duration::from_millis(1500), |l| {
        l.pads
            .values()
            .any(|p| p.src.eos().len() > 1 || p.sink.eos().len() > 1)
            .then_some(())
    });
    assert!(
        again.is_none(),
        "a second EOS: {:?}",
        player
            .logs()
            .pads
            .values()
            .map(|p| p.src.eos())
            .collect::<Vec<_>>()
    );
    let logs = player.logs();
    for pad in ["video", "audio"] {
        assert_eq!(
            logs.pad(pad).src.eos(),
            [seek.seqnum],
            "{pad}: one EOS from rtmpsrc, the seek's"
        );
        assert_eq!(
            logs.pad(pad).sink.eos(),
            [seek.seqnum],
            "{pad}: one EOS at the sink"
        );
    }
    let video = logs.pad("video");
    let start = video.src.after_flush(seek.seqnum).unwrap().segments()[0]
        .0
        .start()
        .unwrap();
    assert_in("segment start", start, 16.0, 17.0);
    let decoded = video.sink.after_flush(seek.seqnum).unwrap().buffers();
    let expected = packets(&file.path)
        .iter()
        .filter(|p| p.video && p.pts_ms as u64 >= start.mseconds())
        .count();
    assert_eq!(
        decoded.len(),
        expected,
        "every frame from the keyframe to the end"
    );
    let last = decoded.iter().map(|b| b.pts.unwrap()).max().unwrap();
    assert_in("last decoded frame", last, 19.9, 20.1);
    drop(logs);

    // After EOS the recording can be seeked and played again.
    let again = player.seek(KEY, t(5.0));
    player.wait_sink_buffers("video", &again, 10);
    check_key_unit(&src_after(&player, "video", &again, 10), 4.0, 5.0);
    player.assert_no_error();
}

#[test]
fn mp4_recording_duration_and_key_unit_seeks() {
    let (_nginx, _file, player) = playing(Recording::mp4());
    assert_in("duration", player.duration().expect("duration"), 19.8, 20.2);
    // In the MP4, keyframes have PTS k s exactly (DTS 80 ms earlier).
    let seek = player.seek(KEY, t(6.0));
    player.wait_sink_buffers("video", &seek, 5);
    check_key_unit(&src_after(&player, "video", &seek, 5), 5.0, 6.0);
    let seek = player.seek(KEY, t(10.5));
    player.wait_sink_buffers("video", &seek, 5);
    check_key_unit(&src_after(&player, "video", &seek, 5), 9.9, 10.1);
    player.assert_no_error();
}

#[test]
fn bytes_received_follow_the_play_position() {
    let (_nginx, file, url) = serve(Recording::flv());
    let size = std::fs::metadata(&file.path).unwrap().len();
    let mut packets = packets(&file.path);
    packets.sort_by_key(|p| p.pos);
    // The media time that `bytes` of the file reach (ignoring the RTMP framing).
    let media_at = |bytes: u64| {
        packets
            .iter()
            .take_while(|p| p.pos + p.size <= bytes)
            .map(|p| p.dts_ms)
            .max()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let player = VodPlayer::new(&url, &[], true, AV);
    player.preroll();
    player.play();
    let started = Instant::now();
    let mut samples = Vec::new();
    for step in 1..=8 {
        let at = t(0.5 * f64::from(step));
        player.wait_sink_pts("video", at, Duration::from_secs(3));
        let position = player.position().unwrap();
        let bytes = player.stats().get::<u64>("in-bytes-total").unwrap();
        let ahead = media_at(bytes) - secs(position);
        eprintln!(
            "bytes-ahead: wall {:.2} s, position {:.2} s, in-bytes-total {bytes} ({:.1}% of {size}), \
             media received to {:.2} s: {ahead:.2} s ahead",
            started.elapsed().as_secs_f64(),
            secs(position),
            bytes as f64 * 100.0 / size as f64,
            media_at(bytes),
        );
        samples.push((position, bytes, ahead));
    }
    let (_, at_1s, _) = samples[1];
    let (position, at_4s, ahead) = samples[7];
    assert_in("position", position, 3.9, 4.3);
    assert!(
        at_4s * 2 < size,
        "at 4 s {at_4s} of {size} bytes received: more than half"
    );
    assert!(
        at_4s > at_1s,
        "bytes keep flowing: {at_1s} at 1 s, {at_4s} at 4 s"
    );
    // buffer-length (1 s) + the 1 s nginx adds, and what the pipeline's queues hold.
    assert!(ahead < 4.0, "{ahead:.2} s of media ahead of the position");
    player.assert_no_error();
}

#[test]
fn live_stream_paused_and_resumed_returns_to_the_live_edge() {
    let (_nginx, publisher, player) = live();
    assert_eq!(
        player.pipeline.set_state(gst::State::Paused),
        Ok(gst::StateChangeSuccess::NoPreroll)
    );
    assert_eq!(
        player.pipeline.state(ClockTime::ZERO),
        (
            Ok(gst::StateChangeSuccess::NoPreroll),
            gst::State::Paused,
            gst::State::VoidPending
        ),
        "the pipeline stays live"
    );
    // Two seconds paused: the scenario, not a synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    let resumed = Instant::now();
    player.play();
    player.wait_logs(WAIT, "video decoded after the resume", |l| {
        let sink = l.pads.get("video")?.sink.buffers();
        (sink.iter().filter(|b| b.at > resumed).count() >= 50).then_some(())
    });
    let logs = player.logs();
    let src = logs.pad("video").src.buffers();
    let sink = logs.pad("video").sink.buffers();
    drop(logs);
    let (before, after): (Vec<Buf>, Vec<Buf>) = src.iter().partition(|b| b.at < resumed);
    let first = after[0];
    assert!(
        first.discont(),
        "the first buffer after the resume is DISCONT"
    );
    assert!(
        first.keyframe(),
        "the first buffer after the resume is a keyframe"
    );
    let first_ahead = secs(first.running.unwrap()) - secs(first.now.unwrap());
    assert!(
        first_ahead.abs() < 0.1,
        "the first buffer after the resume is stamped at its arrival: {first_ahead:.3} s off"
    );
    let after_ahead = ahead(&after);
    let worst = after_ahead
        .iter()
        .copied()
        .fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
    eprintln!(
        "live: ahead of the clock at rtmpsrc before the pause {:.3} s (median), after {:.3} s (median), worst after {worst:.3} s",
        median(ahead(&before)),
        median(after_ahead.clone())
    );
    assert!(
        worst.abs() < 0.5,
        "a buffer {worst:.3} s off the clock after the resume"
    );
    // At the sink: no more late than before the pause.
    let (sink_before, sink_after): (Vec<Buf>, Vec<Buf>) = sink.iter().partition(|b| b.at < resumed);
    let late = |bufs: &[Buf]| median(ahead(bufs).iter().map(|a| -a).collect());
    let grew = late(&sink_after) - late(&sink_before);
    assert!(grew < 0.3, "latency grew by {grew:.3} s over the pause");
    assert!(player.position().is_some());
    player.assert_no_error();
    drop(publisher);
}

#[test]
fn seeks_are_refused_on_a_live_stream() {
    let (_nginx, publisher, player) = live();
    let mut seeking = gst::query::Seeking::new(gst::Format::Time);
    assert!(player.src.src_pads()[0].query(&mut seeking));
    assert!(!seeking.result().0, "a live stream is not seekable");
    let seek = player.seek_with(1.0, KEY, t(1.0), None);
    assert!(!seek.accepted, "a seek on a live stream is refused");
    assert_eq!(
        player.logs().pad("video").src.flush_starts(seek.seqnum),
        0,
        "no flush"
    );
    player.assert_no_error();
    drop(publisher);
}

#[test]
fn unsupported_seeks_on_a_recording_are_refused() {
    let (_nginx, _file, player) = playing(Recording::flv());
    let refused = [
        ("rate 2.0", player.seek_with(2.0, KEY, t(5.0), None)),
        (
            "SEGMENT",
            player.seek_with(1.0, KEY | gst::SeekFlags::SEGMENT, t(5.0), None),
        ),
        (
            "not flushing",
            player.seek_with(1.0, gst::SeekFlags::KEY_UNIT, t(5.0), None),
        ),
    ];
    for (what, seek) in &refused {
        assert!(!seek.accepted, "{what}: seek accepted");
        let logs = player.logs();
        for pad in ["video", "audio"] {
            assert_eq!(
                logs.pad(pad).src.flush_starts(seek.seqnum),
                0,
                "{what}: {pad} flushed"
            );
        }
    }
    // Still playing, and a supported seek still works.
    let seek = player.seek(KEY, t(5.0));
    player.wait_sink_buffers("video", &seek, 5);
    check_key_unit(&src_after(&player, "video", &seek, 5), 4.0, 5.0);
    player.assert_no_error();
}

/// `stream-type=recorded` with `async-connect=false` still connects when going to PAUSED: a
/// recording must preroll (waiting for PLAYING would leave the pipeline in PAUSED for good).
#[test]
fn a_forced_recording_prerolls_without_async_connect() {
    let (_nginx, _file, url) = serve(Recording::aac_flv());
    let player = VodPlayer::new(
        &url,
        &[("stream-type", "recorded"), ("async-connect", "false")],
        false,
        &[("audio", "queue ! avdec_aac")],
    );
    player.preroll();
    assert_in("duration", player.duration().expect("duration"), 4.8, 5.2);
    player.assert_no_error();
}
