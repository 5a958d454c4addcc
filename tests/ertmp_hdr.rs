//! HDR metadata end to end: x265enc encodes an HDR10 stream (PQ, BT.2020, mastering display,
//! content light level), rtmpsink writes the `colorInfo` Metadata packet from h265parse's caps,
//! and rtmpsrc in listener mode puts it back into its caps. rtmpsrc does not parse the SEI in
//! the bitstream, so the mastering display and light level reach its caps only through
//! `colorInfo`. FFmpeg 9 as the server reads the packet as well.

mod common;

use std::time::Duration;

use common::ertmp::play_and_decode_with;
use common::listen::listen_location;
use common::publish::publish;
use common::wait_listening;

const TIMEOUT: Duration = Duration::from_secs(20);
const MASTERING: &str = "34000:16000:13250:34500:7500:3000:15635:16450:10000000:50";

#[test]
fn hdr10_caps_reach_rtmpsrc_through_color_info() {
    let (port, location) = listen_location("key");
    let frames: u32 = 20;
    let description = format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=I420,width=160,height=120,\
         framerate=30/1,colorimetry=bt2100-pq ! x265enc speed-preset=ultrafast \
         option-string=\"master-display=G(13250,34500)B(7500,3000)R(34000,16000)\
         WP(15635,16450)L(10000000,50):max-cll=1000,400\" ! h265parse ! \
         video/x-h265,stream-format=hvc1 ! rtmpsink name=s location={location} sync=false \
         reconnect-attempts=0"
    );
    let publisher = std::thread::spawn(move || {
        assert!(wait_listening(port, TIMEOUT), "rtmpsrc does not listen");
        publish(&description, TIMEOUT)
    });
    let log = play_and_decode_with(
        &location,
        &[("video", "h265parse ! avdec_h265")],
        TIMEOUT,
        &[("mode", "listener")],
    );
    let published = publisher.join().expect("publisher thread");
    assert!(
        published.eos && published.error.is_none(),
        "publishing: {:?}",
        published.error
    );
    assert!(
        log.eos && log.error.is_none(),
        "{:?} {:?}",
        log.error,
        log.warnings
    );
    let v = log.pad("video");
    assert_eq!(
        (v.buffers, v.decoded),
        (u64::from(frames), u64::from(frames))
    );
    // The first caps already carry it: colorInfo goes before the sequence start.
    let caps = v.caps.first().expect("caps on the video pad");
    eprintln!("{caps}");
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("colorimetry"), Ok("bt2100-pq"));
    assert_eq!(s.get::<&str>("mastering-display-info"), Ok(MASTERING));
    assert_eq!(s.get::<&str>("content-light-level"), Ok("1000:400"));
}

/// FFmpeg 9 as the server parses the same packet.
#[test]
fn ffmpeg9_reads_the_color_info() {
    let port = common::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let server = common::Proc::spawn(
        std::process::Command::new(common::ffmpeg9())
            .args(["-nostdin", "-hide_banner", "-v", "verbose", "-listen", "1"])
            .args(["-rw_timeout", "20000000", "-i"])
            .arg(&url)
            .args(["-map", "0", "-f", "null", "-"]),
    );
    assert!(wait_listening(port, TIMEOUT));
    let description = format!(
        "videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=160,height=120,\
         framerate=30/1,colorimetry=bt2100-pq ! x265enc speed-preset=ultrafast \
         option-string=\"master-display=G(13250,34500)B(7500,3000)R(34000,16000)\
         WP(15635,16450)L(10000000,50):max-cll=1000,400\" ! h265parse ! \
         video/x-h265,stream-format=hvc1 ! rtmpsink name=s location={url} sync=false \
         reconnect-attempts=0"
    );
    let published = publish(&description, TIMEOUT);
    assert!(published.eos, "{:?}", published.error);
    let finished = server.finish(TIMEOUT);
    let log = &finished.stderr;
    // FFmpeg's FLV reader lists the colorInfo members it parsed among the input's metadata
    // (only the packet carries them; the SEI in the bitstream does not show there).
    for (key, value) in [
        ("bitDepth", "8"),
        ("colorPrimaries", "9"),
        ("transferCharacteristics", "16"),
        ("matrixCoefficients", "9"),
        ("maxCLL", "1000"),
        ("maxFall", "400"),
        ("maxLuminance", "1000"),
    ] {
        let listed = log.lines().any(|l| {
            l.split_once(':')
                .is_some_and(|(k, v)| k.trim() == key && v.trim() == value)
        });
        assert!(listed, "no {key}: {value} in FFmpeg's output:\n{log}");
    }
    // And the stream's colour and HDR side data agree with it.
    for wanted in [
        "bt2020nc/bt2020/smpte2084",
        "Content light level metadata: MaxCLL=1000, MaxFALL=400",
        "Mastering display metadata: has_primaries:1 has_luminance:1 r(0.6800,0.3200) \
         g(0.2650,0.6900) b(0.1500 0.0600) wp(0.3127, 0.3290) min_luminance=0.005000, \
         max_luminance=1000.000000",
    ] {
        assert!(
            log.contains(wanted),
            "no {wanted:?} in FFmpeg's output:\n{log}"
        );
    }
}
