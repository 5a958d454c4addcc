//! Caps a connection's TCP receive window. What a server has in flight to us is at most one
//! receive window, so a capped connection cannot fill a narrow link's queue: rtmpsrc caps the
//! rendition it probes beside the played one, whose server may send a cached GOP at once (up
//! to 900 KB from node-media-server), which overflowed the link's queue, and the played
//! stream's lost packets then stalled it (TCP's retransmission timer backs off for a second
//! or more). Stepping down it caps both the old connection (what the server still has of it)
//! and the new one. Reading slowly would not do: on a narrow link the socket never fills, so flow
//! control never starts.

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::figures::set_int_option;

/// The window covers this much of the rendition's bitrate beyond two round trips: the media
/// keeps pace on a wide link, and a narrow one queues no more than that of it.
const SLACK: Duration = Duration::from_millis(200);
const MIN_WINDOW: usize = 32 * 1024;
/// Asked for when the cap is lifted; Linux holds it to `net.core.rmem_max`.
const UNCAPPED: usize = 16 * 1024 * 1024;

/// The round trip credited at most: on a connection that has sent little but requests,
/// `tcpi_min_rtt` is how soon a server acknowledged them, delayed ACKs (40 ms) or its answer
/// included (35-86 ms from node-media-server on loopback), and windows of 131-162 KB that
/// this made overflowed a narrow link's 100-packet queue again. 20 ms still carries 3.5
/// Mbit/s over a 200 ms path.
const RTT_AT_MOST: Duration = Duration::from_millis(20);

/// The window for media at `bytes_per_sec` over a path with round trip `rtt`.
pub(super) fn window_for(bytes_per_sec: u32, rtt: Duration) -> usize {
    let time = SLACK + 2 * rtt.min(RTT_AT_MOST);
    ((f64::from(bytes_per_sec) * time.as_secs_f64()) as usize).max(MIN_WINDOW)
}

/// Caps the receive window at about `window` bytes (`None`: lifts the cap).
///
/// SO_RCVBUF is what bounds the window (Linux doubles the value, and advertises most of what
/// the buffer holds); TCP_WINDOW_CLAMP alone does not hold, the buffer's autotuning raises it.
/// Setting SO_RCVBUF ends autotuning for the socket, so lifting asks for a large buffer and
/// clamp instead (the connection's window scale was agreed at connect, from the system's
/// maximum, so the window can grow again).
pub(super) fn cap_receive_window(
    socket: &impl AsRawFd,
    window: Option<usize>,
) -> std::io::Result<()> {
    let buffer = window.map_or(UNCAPPED, |w| w / 2);
    let value = buffer.min(i32::MAX as usize) as libc::c_int;
    set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, value)?;
    if window.is_none() {
        set_int_option(
            socket,
            libc::IPPROTO_TCP,
            libc::TCP_WINDOW_CLAMP,
            UNCAPPED as libc::c_int,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    fn int_option(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: reads a c_int option into a c_int with its size.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        value
    }

    #[test]
    fn the_window_covers_the_bitrate_for_the_slack_and_two_round_trips() {
        // 3.5 Mbit/s: 437.5 kB/s for 0.2 s, plus two round trips.
        assert_eq!(window_for(437_500, Duration::ZERO), 87_500);
        assert_eq!(window_for(437_500, Duration::from_millis(10)), 96_250);
        assert_eq!(window_for(10_000, Duration::ZERO), MIN_WINDOW);
        // A server slow to acknowledge is not a long path.
        assert_eq!(window_for(437_500, Duration::from_millis(86)), 105_000);
    }

    #[test]
    fn a_capped_socket_holds_about_the_window_and_lifting_lets_it_grow() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        cap_receive_window(&client, Some(64 * 1024)).unwrap();
        assert_eq!(
            int_option(&client, libc::SOL_SOCKET, libc::SO_RCVBUF),
            64 * 1024
        );
        // The server can put about one window in flight to a client that does not read.
        server.set_nonblocking(true).unwrap();
        let chunk = vec![7u8; 16 * 1024];
        // On loopback a write hands its segments to the receiver at once: once the server's
        // send buffer is full, the client holds all its window lets in.
        let mut sent = 0;
        loop {
            match server.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // What the client's kernel holds, unread (reading would let the server's send
        // buffer flow on).
        let mut received: libc::c_int = 0;
        // SAFETY: FIONREAD writes the number of unread bytes into a c_int.
        let rc = unsafe { libc::ioctl(client.as_raw_fd(), libc::FIONREAD, &mut received) };
        assert_eq!(rc, 0);
        let received = received as usize;
        assert!(received <= 64 * 1024 + 16 * 1024, "{received} bytes held");
        assert!(sent > received, "the server's send buffer holds the rest");
        cap_receive_window(&client, None).unwrap();
        assert!(int_option(&client, libc::SOL_SOCKET, libc::SO_RCVBUF) > 64 * 1024);
        assert_eq!(
            int_option(&client, libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP),
            UNCAPPED as libc::c_int
        );
    }
}
