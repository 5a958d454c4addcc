//! Live or recorded? Decided while going to PAUSED, before the state change returns, since a
//! live source must say NO_PREROLL there and a recording must preroll like a file.
//!
//! The connection is started and the play awaited, at most [`PROBE_SETUP`]: a live stream may
//! not start playing before its publisher does (nginx-rtmp's `play_restart`), and the
//! application that starts the publisher may be the one waiting in the state change. Then
//! what follows `NetStream.Play.Start` is read until the answer is clear: StreamIsRecorded
//! (nginx-rtmp sends it right after Play.Start, FMS/Wowza before it) means a recording; the
//! first audio or video message without it, or [`PROBE_WINDOW`] of silence (a live stream
//! nobody publishes yet), means live. Whatever was read is handed on to the streaming thread,
//! with the connection, which goes on setting up if it had not finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::{ConnectOptions, Connection, ConnectionError};
use crate::protocol::session::SessionEvent;

/// How long after the play started a recording has to say so.
pub const PROBE_WINDOW: Duration = Duration::from_millis(500);
/// How long the play may take to start before the stream is taken as live: a recording
/// answers the play at once, a server far away still within this.
pub const PROBE_SETUP: Duration = Duration::from_secs(2);

/// What the probe found, for the streaming thread.
pub struct Probed {
    /// The started connection, or why it could not even start.
    pub connection: Result<Arc<Connection>, ConnectionError>,
    /// Events read while probing, in order.
    pub events: Vec<SessionEvent>,
    pub recorded: bool,
}

impl Probed {
    pub fn run(options: ConnectOptions) -> Probed {
        let connection = match Connection::start(options) {
            Ok(c) => Arc::new(c),
            Err(err) => {
                return Probed {
                    connection: Err(err),
                    events: Vec::new(),
                    recorded: false,
                };
            }
        };
        let mut events = Vec::new();
        let mut recorded = false;
        // An error is left for the streaming thread to find (and report) again.
        if let Ok(true) = connection.wait_ready_for(Some(PROBE_SETUP)) {
            let until = Instant::now() + PROBE_WINDOW;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                let Ok(Some(event)) = connection.recv(Some(left)) else {
                    break;
                };
                let decisive = match &event {
                    SessionEvent::StreamIsRecorded => {
                        recorded = true;
                        true
                    }
                    SessionEvent::Media { .. }
                    | SessionEvent::StreamEof
                    | SessionEvent::ServerClosed => true,
                    _ => false,
                };
                events.push(event);
                if decisive {
                    break;
                }
            }
        }
        Probed {
            connection: Ok(connection),
            events,
            recorded,
        }
    }
}
