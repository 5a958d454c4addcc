//! Figures a publishing connection exposes for adaptation (rtmpsink's `adaptive-bitrate`): how
//! much media waits where, and what the link carried. The policy that acts on them lives in the
//! element (`rtmpsink/adaptive.rs`); this module only measures.
//!
//! Linux hides congestion in the socket's send buffer (several MB once autotuned): with
//! `TCP_NOTSENT_LOWAT` the kernel reports the socket writable only while little of what we gave
//! it is unsent, so media waits in our queue instead, where its duration is known.

use std::os::fd::AsRawFd;
use std::time::Duration;

/// What [`Connection::figures`](super::Connection::figures) returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkFigures {
    /// Media bytes in our outgoing queue (not yet taken by the I/O thread).
    pub queued_bytes: usize,
    /// Media bytes the I/O thread holds that the kernel has not taken yet.
    pub held_bytes: usize,
    /// Media duration waiting on our side, from timestamps: the newest queued message against
    /// the last one the I/O thread handed to the socket.
    pub queued_media: Duration,
    /// The timestamp of the last media message the I/O thread handed to the socket.
    pub last_taken_ts: Option<u32>,
    /// RTMP messages' bytes sent, and acknowledged by the server (its Acknowledgement messages:
    /// coarse, one per window).
    pub sent_bytes: u64,
    pub server_acked_bytes: u64,
    /// The kernel's view (TCP_INFO), when the transport is a TCP socket and figures are sampled.
    pub tcp: Option<TcpFigures>,
}

/// The part of Linux's `struct tcp_info` adaptation uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFigures {
    /// Bytes written to the socket that the kernel has not sent yet (`tcpi_notsent_bytes`).
    pub notsent_bytes: u32,
    /// Bytes the peer's TCP acknowledged (`tcpi_bytes_acked`): what the link really carried.
    pub bytes_acked: u64,
    /// Bytes sent but not acknowledged yet (`tcpi_unacked` segments of `tcpi_snd_mss`): they
    /// sit in a bottleneck's queue, often seconds of it (bufferbloat), where only TCP sees them.
    pub in_flight_bytes: u64,
    /// The kernel's delivery rate estimate in bytes per second (`tcpi_delivery_rate`).
    pub delivery_rate: u64,
    /// Whether that estimate was limited by us sending too little (not by the link).
    pub app_limited: bool,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// The lowest round-trip time seen: the path without its queues.
    pub min_rtt: Duration,
}

// Offsets in Linux's struct tcp_info (include/uapi/linux/tcp.h); stable ABI, grown at the end.
const TCPI_OPTIONS_BYTE: usize = 7; // tcpi_delivery_rate_app_limited:1 is bit 0
const TCPI_SND_MSS: usize = 16;
const TCPI_UNACKED: usize = 24;
const TCPI_RTT: usize = 68;
const TCPI_BYTES_ACKED: usize = 120;
const TCPI_NOTSENT_BYTES: usize = 144;
const TCPI_MIN_RTT: usize = 148;
const TCPI_DELIVERY_RATE: usize = 160;
const TCPI_MIN_LEN: usize = TCPI_DELIVERY_RATE + 8;

/// Reads TCP_INFO of `socket`; `None` when the kernel is too old to report delivery rate or
/// the socket is no TCP socket.
pub fn read_tcp_info(socket: &impl AsRawFd) -> Option<TcpFigures> {
    let mut buf = [0u8; 256];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer outlives the call and `len` says how much of it the kernel may write.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 || (len as usize) < TCPI_MIN_LEN {
        return None;
    }
    Some(parse_tcp_info(&buf[..len as usize]))
}

fn parse_tcp_info(info: &[u8]) -> TcpFigures {
    let u32_at = |at: usize| {
        info.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    };
    let u64_at = |at: usize| {
        info.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    TcpFigures {
        notsent_bytes: u32_at(TCPI_NOTSENT_BYTES),
        bytes_acked: u64_at(TCPI_BYTES_ACKED),
        in_flight_bytes: u64::from(u32_at(TCPI_UNACKED)) * u64::from(u32_at(TCPI_SND_MSS)),
        delivery_rate: u64_at(TCPI_DELIVERY_RATE),
        app_limited: info.get(TCPI_OPTIONS_BYTE).is_some_and(|b| b & 1 != 0),
        rtt: Duration::from_micros(u64::from(u32_at(TCPI_RTT))),
        min_rtt: Duration::from_micros(u64::from(u32_at(TCPI_MIN_RTT))),
    }
}

/// Sets TCP_NOTSENT_LOWAT: the socket is writable only while less than `bytes` are unsent.
pub fn set_notsent_lowat(socket: &impl AsRawFd, bytes: u32) -> std::io::Result<()> {
    set_int_option(
        socket,
        libc::IPPROTO_TCP,
        libc::TCP_NOTSENT_LOWAT,
        bytes as libc::c_int,
    )
}

/// setsockopt with an int value.
pub(super) fn set_int_option(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: passes a c_int by pointer with its size, as setsockopt expects.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Media duration between two RTMP timestamps (32-bit, wrapping).
pub fn media_between(oldest: u32, newest: u32) -> Duration {
    let ms = newest.wrapping_sub(oldest);
    // A "newer" message with a lower timestamp (audio and video slightly out of order) waits
    // for nothing.
    match ms {
        ms if ms > u32::MAX / 2 => Duration::ZERO,
        ms => Duration::from_millis(u64::from(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn tcp_info_of_a_loopback_connection_counts_what_was_acknowledged() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        set_notsent_lowat(&client, 128 * 1024).unwrap();
        client.write_all(&[7u8; 100_000]).unwrap();
        let mut got = vec![0u8; 100_000];
        server.read_exact(&mut got).unwrap();
        let mut figures = read_tcp_info(&client).expect("Linux reports TCP_INFO");
        for _ in 0..100 {
            if figures.bytes_acked > 100_000 && figures.in_flight_bytes == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            figures = read_tcp_info(&client).unwrap();
        }
        // The SYN counts as one acknowledged byte.
        assert!(figures.bytes_acked >= 100_000, "{figures:?}");
        assert_eq!(figures.notsent_bytes, 0, "{figures:?}");
        assert_eq!(figures.in_flight_bytes, 0, "{figures:?}");
        assert!(figures.delivery_rate > 0, "{figures:?}");
    }

    #[test]
    fn media_between_wraps_and_ignores_reordering() {
        assert_eq!(media_between(1000, 1500), Duration::from_millis(500));
        assert_eq!(media_between(u32::MAX - 9, 10), Duration::from_millis(20));
        assert_eq!(media_between(1500, 1480), Duration::ZERO);
    }
}
