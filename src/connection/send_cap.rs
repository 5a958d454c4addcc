//! Bounds what the kernel holds for a publishing socket (unsent and in flight) to about a
//! given duration at the link's rate, for rtmpsink's `adaptive-bitrate` / `max-delay`.
//!
//! TCP_NOTSENT_LOWAT keeps the unsent part small, but bytes sent and not yet acknowledged can
//! be seconds of media: a bottleneck's queue (bufferbloat: a router's, or htb's 1000 packets)
//! lets the congestion window grow far beyond what the link carries in a round trip. What sits
//! there can be neither dropped nor re-encoded. The send buffer (SO_SNDBUF) bounds unsent plus
//! unacknowledged bytes, so sizing it to the link's rate times a budget keeps that queue short
//! and the media waits in ours, where `max-delay` drops whole GOPs and adaptation sees it.
//!
//! The budget never goes below a few base round trips (`tcpi_min_rtt`): a buffer smaller than
//! the bandwidth-delay product would itself limit the rate, and the measured rate (and with it
//! the buffer) would spiral down.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::TcpFigures;

/// Never smaller: a few frames of a low-bitrate stream.
const MIN_BYTES: usize = 32 * 1024;
/// Never larger than Linux's usual autotuned maximum (`net.ipv4.tcp_wmem`).
const MAX_BYTES: usize = 4 * 1024 * 1024;
/// The budget is at least this many base round trips.
const MIN_ROUND_TRIPS: u32 = 3;
/// The rate is the highest measured over this long: a burst (a keyframe) must not shrink it.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Acknowledged bytes are measured over at least this long.
const RATE_SPAN: Duration = Duration::from_millis(200);
/// A new size is applied only when it differs this much from the one in force.
const CHANGE_FACTOR: f64 = 1.25;

#[derive(Debug)]
pub struct SendCap {
    budget: Duration,
    /// The last acknowledged-bytes reading a rate was measured from.
    acked_at: Option<(Instant, u64)>,
    /// Rates in bytes/s measured over the last [`RATE_WINDOW`].
    rates: VecDeque<(Instant, f64)>,
    applied: Option<usize>,
}

impl SendCap {
    pub fn new(budget: Duration) -> SendCap {
        SendCap {
            budget,
            acked_at: None,
            rates: VecDeque::new(),
            applied: None,
        }
    }

    /// Takes a TCP_INFO sample; returns the send buffer size to set, when it should change.
    pub fn on_sample(&mut self, now: Instant, tcp: &TcpFigures) -> Option<usize> {
        let (at, acked) = *self.acked_at.get_or_insert((now, tcp.bytes_acked));
        let span = now.saturating_duration_since(at);
        if span >= RATE_SPAN {
            let rate = tcp.bytes_acked.saturating_sub(acked) as f64 / span.as_secs_f64();
            self.rates.push_back((now, rate));
            self.acked_at = Some((now, tcp.bytes_acked));
        }
        // The kernel's delivery rate, when the link (not we) limited it, is the link's rate
        // even while we send less than it carries.
        if !tcp.app_limited && tcp.delivery_rate > 0 {
            self.rates.push_back((now, tcp.delivery_rate as f64));
        }
        while self
            .rates
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > RATE_WINDOW)
        {
            self.rates.pop_front();
        }
        let rate = self.rates.iter().map(|(_, r)| *r).fold(0.0, f64::max);
        if rate <= 0.0 {
            return None;
        }
        let budget = self.budget.max(tcp.min_rtt * MIN_ROUND_TRIPS);
        let want = ((rate * budget.as_secs_f64()) as usize).clamp(MIN_BYTES, MAX_BYTES);
        let close = self.applied.is_some_and(|applied| {
            let ratio = want as f64 / applied as f64;
            ratio < CHANGE_FACTOR && ratio > 1.0 / CHANGE_FACTOR
        });
        if close {
            return None;
        }
        self.applied = Some(want);
        Some(want)
    }
}

/// Sets SO_SNDBUF (Linux doubles the value for its bookkeeping; what we pass is about what it
/// holds of payload).
pub fn set_send_buffer(socket: &impl AsRawFd, bytes: usize) -> std::io::Result<()> {
    let value = bytes.min(i32::MAX as usize) as libc::c_int;
    super::figures::set_int_option(socket, libc::SOL_SOCKET, libc::SO_SNDBUF, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(acked: u64, delivery_rate: u64, app_limited: bool) -> TcpFigures {
        TcpFigures {
            bytes_acked: acked,
            delivery_rate,
            app_limited,
            min_rtt: Duration::from_millis(1),
            ..TcpFigures::default()
        }
    }

    #[test]
    fn the_buffer_follows_the_link_rate_down_and_up() {
        let mut cap = SendCap::new(Duration::from_millis(500));
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(cap.on_sample(t0, &figures(0, 0, true)), None);
        // 500 kB/s acknowledged (app-limited): 250 kB for 500 ms.
        assert_eq!(
            cap.on_sample(ms(200), &figures(100_000, 0, true)),
            Some(250_000)
        );
        // Close to it: left alone.
        assert_eq!(cap.on_sample(ms(400), &figures(210_000, 0, true)), None);
        // The link narrows to 150 kB/s: once the faster second has left the window, the
        // buffer shrinks to 75 kB.
        let mut acked = 210_000;
        let mut last = None;
        for step in 3..=12 {
            acked += 30_000;
            if let Some(size) = cap.on_sample(ms(step * 200), &figures(acked, 150_000, false)) {
                last = Some(size);
            }
        }
        assert_eq!(last, Some(75_000));
        // A burst the link carried at 1 MB/s raises it at once.
        assert_eq!(
            cap.on_sample(ms(2_450), &figures(acked, 1_000_000, false)),
            Some(500_000)
        );
    }

    #[test]
    fn bounds_and_round_trips_hold() {
        let mut cap = SendCap::new(Duration::from_millis(500));
        let t0 = Instant::now();
        // 10 kB/s: the floor.
        cap.on_sample(t0, &figures(0, 0, true));
        let slow = cap.on_sample(t0 + RATE_SPAN, &figures(2_000, 0, true));
        assert_eq!(slow, Some(MIN_BYTES));
        // A long path: 400 ms base RTT means 1.2 s of budget, not 500 ms.
        let mut far = SendCap::new(Duration::from_millis(500));
        let tcp = TcpFigures {
            min_rtt: Duration::from_millis(400),
            ..figures(0, 1_000_000, false)
        };
        assert_eq!(far.on_sample(t0, &tcp), Some(1_200_000));
        // 1 GB/s on loopback: the ceiling.
        let mut fast = SendCap::new(Duration::from_millis(500));
        assert_eq!(
            fast.on_sample(t0, &figures(0, 1_000_000_000, false)),
            Some(MAX_BYTES)
        );
    }

    #[test]
    fn the_kernel_takes_the_size() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_send_buffer(&socket, 64 * 1024).unwrap();
    }
}
