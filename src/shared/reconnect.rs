//! Reconnecting as both elements do it: the waits between attempts, and the element messages
//! that tell the application (`rtmp-disconnected`, `rtmp-reconnected`).

use std::time::Duration;

/// Longest wait between two attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// Each attempt's number (from 1) and the wait before it: `first`, then doubling, at most
/// [`MAX_RECONNECT_DELAY`].
pub fn attempts(first: Duration, count: u32) -> impl Iterator<Item = (u32, Duration)> {
    (1..=count).scan(first, |delay, attempt| {
        let this = *delay;
        *delay = (*delay * 2).min(MAX_RECONNECT_DELAY);
        Some((attempt, this))
    })
}

/// `rtmp-disconnected`, with why the connection was lost.
pub fn disconnected(reason: &str) -> gst::Structure {
    gst::Structure::builder("rtmp-disconnected")
        .field("reason", reason)
        .build()
}

/// `rtmp-reconnected` after `attempt` attempts; an element adds its own fields.
pub fn reconnected(attempt: u32) -> gst::structure::Builder {
    gst::Structure::builder("rtmp-reconnected").field("attempt", attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling() {
        let waits: Vec<(u32, u64)> = attempts(Duration::from_millis(3000), 5)
            .map(|(n, d)| (n, d.as_millis() as u64))
            .collect();
        assert_eq!(
            waits,
            [(1, 3000), (2, 6000), (3, 10_000), (4, 10_000), (5, 10_000)]
        );
        assert_eq!(attempts(Duration::ZERO, 0).count(), 0);
    }

    #[test]
    fn messages_carry_their_fields() {
        gst::init().unwrap();
        let lost = disconnected("server closed the connection");
        assert_eq!(lost.name(), "rtmp-disconnected");
        assert_eq!(
            lost.get::<&str>("reason").unwrap(),
            "server closed the connection"
        );
        let back = reconnected(2).field("dropped-bytes", 5u64).build();
        assert_eq!(back.get::<u32>("attempt").unwrap(), 2);
        assert_eq!(back.get::<u64>("dropped-bytes").unwrap(), 5);
    }
}
