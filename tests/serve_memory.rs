//! Memory of rtmpsink in listener mode per player: the sink's RSS with 1, 6 and 20 players
//! (rtmpdump, which costs the machine little), printed for the record and bounded.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Proc;
use common::serve::{FPS, ServeOptions, ServeStream};

fn rtmpdump(url: &str) -> Proc {
    Proc::spawn(Command::new("rtmpdump").args([
        "-q",
        "--live",
        "--timeout",
        "20",
        "-r",
        url,
        "-o",
        "/dev/null",
    ]))
}

/// CPU time (user + system) the process used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// RSS after the players have played for a while (the median of a few samples), and the CPU
/// share of one core the sink used meanwhile (percent).
fn settled_rss(stream: &ServeStream) -> (u64, u64) {
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu_ticks(stream.pid());
    let mut samples: Vec<u64> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            stream.rss_kib()
        })
        .collect();
    // 100 ticks a second on Linux; one second of sampling.
    let cpu = cpu_ticks(stream.pid()) - ticks;
    samples.sort_unstable();
    (samples[2], cpu)
}

#[test]
fn memory_per_player_stays_small() {
    let mut stream = ServeStream::start(&ServeOptions {
        frames: 60 * FPS,
        ..ServeOptions::default()
    });
    let (none, cpu_none) = settled_rss(&stream);
    let mut players = vec![rtmpdump(&stream.url)];
    let (one, cpu_one) = settled_rss(&stream);
    players.extend((0..5).map(|_| rtmpdump(&stream.url)));
    let (six, cpu_six) = settled_rss(&stream);
    players.extend((0..14).map(|_| rtmpdump(&stream.url)));
    let (twenty, cpu_twenty) = settled_rss(&stream);
    let peak = stream.peak_rss_kib();
    assert!(stream.is_running());
    for player in &mut players {
        assert!(player.try_wait().is_none(), "a player ended early");
    }
    let _ = stream.kill();
    let per_player = (twenty.saturating_sub(one)) / 19;
    eprintln!(
        "sink RSS: {none} KiB with no player, {one} KiB with 1, {six} KiB with 6, {twenty} KiB \
         with 20 (peak {peak} KiB): about {per_player} KiB per player; CPU (% of a core): \
         {cpu_none} with none, {cpu_one} with 1, {cpu_six} with 6, {cpu_twenty} with 20"
    );
    assert!(per_player < 2048, "{per_player} KiB per player");
    drop(players);
}
