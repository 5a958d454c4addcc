//! rtmpsink in listener mode serving a multitrack stream (H.264, AAC on track 0, Opus on
//! track 1) to a player that joins late: it gets every track's sequence start (and Opus's
//! MultichannelConfig) before media, so rtmpsrc adds `audio_1` beside `audio` and both decode.

mod common;

use std::time::Duration;

use common::listen::listen_location;
use common::publish::{Audio, CountingPlayer, Video, publish};
use common::wait_listening;

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn a_late_player_gets_both_audio_tracks() {
    let (port, location) = listen_location("key");
    // 3 s, live: a keyframe every 15 frames (0.5 s).
    let frames = 90;
    let buffers = 141;
    let description = format!(
        "rtmpsink name=s mode=listener location={location} {} ! queue ! s.video \
         {} ! queue ! s.audio {} ! queue ! s.audio_1",
        Video::H264.branch(frames, true),
        Audio::Aac.branch(buffers, 440, true),
        Audio::Opus.branch(buffers, 880, true),
    );
    let server = std::thread::spawn(move || publish(&description, TIMEOUT));
    assert!(wait_listening(port, TIMEOUT), "rtmpsink does not listen");
    let decoders = [
        ("video", Video::H264.decoder()),
        ("audio", Audio::Aac.decoder()),
        ("audio_1", Audio::Opus.decoder()),
    ];
    // The first player shows the stream is well under way (past its first GOP and the headers)
    // before the second one connects.
    let early = CountingPlayer::start(&location, &decoders);
    assert!(
        early.wait_received(&[("video", 25)], TIMEOUT),
        "early player: {:?}",
        early.error()
    );
    let late = CountingPlayer::start(&location, &decoders);
    let wanted = [("video", 20), ("audio", 20), ("audio_1", 20)];
    let decoded = late.wait_decoded(&wanted, TIMEOUT);
    let counts: Vec<_> = wanted
        .iter()
        .map(|(pad, _)| (*pad, late.received(pad), late.decoded(pad)))
        .collect();
    eprintln!("late player (pad, received, decoded): {counts:?}");
    assert!(decoded, "late player: {counts:?}, error {:?}", late.error());
    let caps = late.caps.lock().unwrap().clone();
    let name = |pad: &str| {
        caps.get(pad)
            .and_then(|c| c.structure(0))
            .map(|s| s.name().to_string())
    };
    assert_eq!(name("audio").as_deref(), Some("audio/mpeg"));
    assert_eq!(name("audio_1").as_deref(), Some("audio/x-opus"));
    // It joined late: it missed the start.
    assert!(late.received("video") < early.received("video"));
    let published = server.join().expect("publisher thread");
    assert!(
        published.eos && published.error.is_none(),
        "serving failed: {:?}",
        published.error
    );
}
