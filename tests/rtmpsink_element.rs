//! rtmpsink as an application sees it: errors on the bus, property changes while running,
//! gst-inspect-visible properties and bandwidth limiting.

mod common;

use std::time::Duration;

use common::pipeline::init;
use common::{Nginx, probe};
use gst::prelude::*;

const VIDEO_320: &str = "videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 \
     ! x264enc key-int-max=25 speed-preset=ultrafast ! h264parse";

/// An ERROR message as seen on the pipeline's bus.
#[derive(Debug)]
struct Posted {
    src: String,
    error: gst::glib::Error,
}

fn posted(message: &gst::Message) -> Option<Posted> {
    let gst::MessageView::Error(err) = message.view() else {
        return None;
    };
    Some(Posted {
        src: message
            .src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default(),
        error: err.error(),
    })
}

/// Starts `description` (its rtmpsink named `s`) and collects its ERROR messages: those
/// posted until `until` says enough (or `timeout` passes), then, once the pipeline is shut
/// down (which joins every streaming thread), whatever else was posted. In bus order.
fn errors_of(
    description: &str,
    timeout: Duration,
    until: impl Fn(&[Posted]) -> bool,
) -> Vec<Posted> {
    init();
    let pipeline = gst::parse::launch(description)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let bus = pipeline.bus().expect("bus");
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = std::time::Instant::now() + timeout;
    let mut errors = Vec::new();
    while !until(&errors) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Error],
        ) else {
            break;
        };
        errors.extend(posted(&message));
    }
    pipeline.set_state(gst::State::Null).expect("set to NULL");
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        errors.extend(posted(&message));
    }
    errors
}

/// Whether `path` is the rtmpsink named `s` or one of its children.
fn in_rtmpsink(path: &str) -> bool {
    path.ends_with("/GstRsRtmpSink:s") || path.contains("/GstRsRtmpSink:s/")
}

/// The one error of rtmpsink among `errors`: posted by the bin itself, first on the bus, and
/// nothing from its children.
fn the_sink_error(errors: &[Posted]) -> &gst::glib::Error {
    let ours: Vec<&Posted> = errors.iter().filter(|e| in_rtmpsink(&e.src)).collect();
    assert_eq!(ours.len(), 1, "{errors:#?}");
    assert!(ours[0].src.ends_with("/GstRsRtmpSink:s"), "{errors:#?}");
    assert!(in_rtmpsink(&errors[0].src), "{errors:#?}");
    &ours[0].error
}

#[test]
fn a_refused_connection_is_one_error_from_rtmpsink() {
    let port = common::free_port();
    // A live source that keeps pushing until our flow error reaches it: its "Internal data
    // stream error" (GStreamer's usual report of a downstream failure, outside our bin) marks
    // the point where everything our failure causes has happened.
    let errors = errors_of(
        &format!(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse \
             ! rtmpsink name=s location=rtmp://127.0.0.1:{port}/live/x timeout=3"
        ),
        Duration::from_secs(20),
        |errors| errors.iter().any(|e| !in_rtmpsink(&e.src)),
    );
    let err = the_sink_error(&errors);
    assert!(err.matches(gst::ResourceError::OpenWrite), "{err:?}");
    assert!(err.message().contains("refused"), "{err:?}");
    // Anything else comes from upstream, after ours, as GStreamer's generic flow error.
    for other in errors.iter().filter(|e| !in_rtmpsink(&e.src)) {
        assert!(other.error.matches(gst::StreamError::Failed), "{errors:#?}");
    }
}

#[test]
fn an_empty_host_is_one_error_from_rtmpsink_naming_it() {
    // The location is refused when set (a warning); starting then fails saying why, and base
    // sink's fallback "state change failed" error is not posted on top.
    let errors = errors_of(
        &format!("{VIDEO_320} ! rtmpsink name=s location=rtmp:// timeout=3"),
        Duration::from_secs(20),
        |errors| !errors.is_empty(),
    );
    let err = the_sink_error(&errors);
    assert!(err.matches(gst::ResourceError::Settings), "{err:?}");
    assert!(err.message().contains("no host name"), "{err:?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// The WARNING messages rtmpsink `s` has posted so far.
fn sink_warnings(bus: &gst::Bus) -> Vec<String> {
    let mut warnings = Vec::new();
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Warning]) {
        if let gst::MessageView::Warning(warning) = message.view()
            && message.src().is_some_and(|s| in_rtmpsink(&s.path_string()))
        {
            assert!(
                message.src().unwrap().path_string().ends_with(":s"),
                "warning from a child: {message:?}"
            );
            warnings.push(warning.error().message().to_owned());
        }
    }
    warnings
}

#[test]
fn start_only_properties_are_refused_while_playing_and_the_stream_goes_on() {
    let nginx = Nginx::start();
    let old = nginx.url("live/old");
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
         ! rtmpsink name=s location={old} timeout=5"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("s").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let video_messages = || {
        sink.property::<gst::Structure>("stats")
            .get::<u64>("video-messages")
            .unwrap_or(0)
    };
    assert!(
        common::wait_until(Duration::from_secs(10), || video_messages() >= 5),
        "publishing did not start"
    );

    sink.set_property("location", nginx.url("live/new"));
    sink.set_property("stream", "other");
    sink.set_property("timeout", 1u32);
    sink.set_property("max-queue-bytes", 100_000u64);
    // Applies while playing: accepted without a warning.
    sink.set_property("chunk-size", 1000u32);

    assert_eq!(sink.property::<String>("location"), old);
    assert_eq!(sink.property::<String>("stream"), "old");
    assert_eq!(sink.property::<u32>("timeout"), 5);
    assert_eq!(
        sink.property::<u64>("max-queue-bytes"),
        gstrtmp::rtmpsink::DEFAULT_MAX_QUEUE_BYTES as u64
    );
    assert_eq!(sink.property::<u32>("chunk-size"), 1000);
    let warnings = sink_warnings(&bus);
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    for (warning, name) in
        warnings
            .iter()
            .zip(["'location'", "'stream'", "'timeout'", "'max-queue-bytes'"])
    {
        assert!(
            warning.contains(name) && warning.contains("keeping the old value"),
            "{warning}"
        );
    }
    let handler = sink.dynamic_cast_ref::<gst::URIHandler>().unwrap();
    let refused = handler.set_uri(&nginx.url("live/new")).unwrap_err();
    assert!(refused.matches(gst::URIError::BadState), "{refused:?}");
    assert_eq!(sink.property::<String>("location"), old);

    let end = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    assert!(matches!(end.view(), gst::MessageView::Eos(_)), "{end:?}");
    let stats = sink.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u32>("out-chunk-size").unwrap(), 1000, "{stats}");
    pipeline.set_state(gst::State::Null).unwrap();

    // Everything went to the old stream, nothing to the new one.
    let recording = nginx.wait_recording("old", Duration::from_secs(10));
    assert_eq!(probe(&recording).video().unwrap().nb_read_frames, Some(50));
    assert!(!nginx.recording("new").exists());
    assert!(!nginx.recording("other").exists());
    // Stopped, changes are taken again.
    sink.set_property("location", nginx.url("live/new"));
    assert_eq!(sink.property::<String>("location"), nginx.url("live/new"));
    assert!(sink_warnings(&bus).is_empty());
}

#[test]
fn the_plugin_names_a_real_origin() {
    init();
    let sink = gst::ElementFactory::make("rtmpsink").build().unwrap();
    let plugin = sink.factory().unwrap().plugin().expect("our plugin");
    assert_eq!(plugin.origin(), "https://gstreamer.freedesktop.org");
    assert_eq!(plugin.source(), "gst-plugin-rtmp");
}

/// Publishes `flv` (a file, as fast as the sink allows: sync=false) to `url` with the extra
/// rtmpsink properties `props`; returns how long it took and the media bytes sent.
fn publish_file(flv: &std::path::Path, url: &str, props: &str) -> (Duration, u64) {
    let start = std::time::Instant::now();
    let outcome = common::pipeline::run(
        &format!(
            "filesrc location={} ! video/x-flv ! rtmpsink name=s location={url} sync=false {props}",
            flv.display()
        ),
        Duration::from_secs(60),
    );
    let elapsed = start.elapsed();
    outcome.assert_eos();
    let stats = outcome.stats.expect("stats");
    let bytes = ["video-bytes", "audio-bytes", "data-bytes"]
        .iter()
        .map(|f| stats.get::<u64>(*f).unwrap())
        .sum();
    (elapsed, bytes)
}

#[test]
fn peak_kbps_limits_the_sending_rate() {
    let dir = common::TempDir::new("peak-kbps");
    let flv = dir.join("2mbit.flv");
    // 3 s of hard-to-compress video at 2 Mbit/s (about 750 kB).
    common::run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=640x360:rate=25:duration=3,noise=alls=40:allf=t")
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args([
                "-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M", "-f", "flv",
            ])
            .arg(&flv),
        Duration::from_secs(60),
    )
    .assert_success("ffmpeg");
    let nginx = Nginx::start();

    let (unlimited, bytes) = publish_file(&flv, &nginx.url("live/unlimited"), "");
    assert!(bytes > 500_000, "{bytes} bytes: not a 2 Mbit/s stream");
    let (limited, limited_bytes) = publish_file(&flv, &nginx.url("live/limited"), "peak-kbps=800");
    assert_eq!(bytes, limited_bytes);
    eprintln!("{bytes} bytes: unlimited {unlimited:?}, peak-kbps=800 {limited:?}");
    // At 800 kbit/s the bytes take this long; the token bucket credits at most 100 ms.
    let at_peak = Duration::from_secs_f64(bytes as f64 * 8.0 / 800_000.0);
    assert!(
        limited + Duration::from_millis(150) >= at_peak,
        "{bytes} bytes in {limited:?} with peak-kbps=800 (at least {at_peak:?})"
    );
    assert!(
        limited.as_secs_f64() >= 2.5 * unlimited.as_secs_f64(),
        "limited {limited:?}, unlimited {unlimited:?}"
    );
    // Every frame still arrives.
    for name in ["unlimited", "limited"] {
        let recording = nginx.wait_recording(name, Duration::from_secs(10));
        assert_eq!(probe(&recording).video().unwrap().nb_read_frames, Some(75));
    }
}

#[test]
fn base_sink_properties_are_on_rtmpsink_and_ts_offset_adds_to_the_latency_offset() {
    let nginx = Nginx::start();
    init();
    let ms = 1_000_000i64;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=25 ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse \
         ! rtmpsink name=s location={} ts-offset={} max-lateness={} qos=true",
        nginx.url("live/offset"),
        30 * ms,
        40 * ms
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("s").unwrap();
    let writer = sink
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("writer")
        .expect("the internal writer");
    // Proxied to the writer, read back from rtmpsink.
    assert_eq!(writer.property::<i64>("max-lateness"), 40 * ms);
    assert!(writer.property::<bool>("qos"));
    sink.set_property("async", false);
    assert!(!writer.property::<bool>("async"));
    sink.set_property("async", true);
    assert_eq!(sink.property::<i64>("max-lateness"), 40 * ms);
    assert!(sink.property::<bool>("enable-last-sample"));

    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            sink.property::<gst::Structure>("stats")
                .get::<u64>("video-messages")
                .unwrap_or(0)
                >= 3
        }),
        "publishing did not start"
    );
    let mut query = gst::query::Latency::new();
    assert!(pipeline.query(&mut query));
    let (live, latency, _) = query.result();
    assert!(live && latency > gst::ClockTime::ZERO, "{query:?}");
    let latency = latency.nseconds() as i64;
    // The writer does not wait for the pipeline latency (it sends at running time), and the
    // application's offset comes on top of that.
    assert_eq!(sink.property::<i64>("ts-offset"), 30 * ms);
    assert_eq!(writer.property::<i64>("ts-offset"), 30 * ms - latency);
    sink.set_property("ts-offset", -5 * ms);
    assert_eq!(sink.property::<i64>("ts-offset"), -5 * ms);
    assert_eq!(writer.property::<i64>("ts-offset"), -5 * ms - latency);
    assert!(
        sink.property::<Option<gst::Sample>>("last-sample")
            .is_some()
    );

    let end = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the stream ends");
    assert!(matches!(end.view(), gst::MessageView::Eos(_)), "{end:?}");
    pipeline.set_state(gst::State::Null).unwrap();
}
