//! rtmpsink in listener mode: the writer's tags go to every player through the [`Fanout`]
//! instead of to one server through the caller-mode `Link`.
//!
//! A bound [`Listener`] hands over players whose play request it accepted; an accepting thread
//! adds them to the fan-out as they come (also before the first frame) and drops players whose
//! queues stall while no media flows. The streaming thread only queues (`try_send` never
//! blocks), so a slow or stopped player never holds up the pipeline or the other players.
//! On EOS every player gets the end of the stream (StreamEOF + UnpublishNotify) and is closed.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::fanout::{DropReason, Dropped, Fanout, FanoutConfig, PlayerQueue};
use super::link::Tag;
use super::writer::CAT;
use crate::connection::{
    Accepted, ClientNotice, Connection, ConnectionError, ListenOptions, Listener, Outgoing,
};
use crate::protocol::redact::redact_query;
use crate::protocol::session::SessionStats;

/// Element message for a player rtmpsink stopped serving because it fell behind or stalled:
/// `address`, `stream`, `reason` (strings). `rtmp-client-disconnected` follows once its
/// connection is closed.
pub const CLIENT_DROPPED: &str = "rtmp-client-dropped";

/// How often the accepting thread looks for stalled players while no media flows.
const ACCEPT_POLL: Duration = Duration::from_millis(250);
/// The chunk size the server session announces by itself (`ServerConfig::default()`).
const SERVER_DEFAULT_CHUNK_SIZE: u32 = 4096;

/// One player being served: its accepted connection.
pub struct Player {
    addr: SocketAddr,
    stream: String,
    connection: Connection,
}

impl PlayerQueue for Player {
    fn try_send(&self, item: Outgoing) -> Result<bool, ConnectionError> {
        self.connection.try_send(item)
    }

    fn queued_bytes(&self) -> usize {
        self.connection.queued_bytes()
    }
}

/// What the streaming thread, the accepting thread and the element share.
struct Shared {
    fanout: Mutex<Fanout<Player>>,
    /// The stream ended (EOS): players that come now are told so and closed.
    ended: AtomicBool,
    stopping: AtomicBool,
    chunk_size: Mutex<u32>,
    /// Players dropped for falling behind or stalling.
    dropped: AtomicU64,
    /// Where `rtmp-client-dropped` is posted from (the rtmpsink bin).
    element: gst::glib::WeakRef<gst::Element>,
    /// Byte counts of the players no longer served, so `stats` totals survive them.
    gone: Mutex<SessionStats>,
    /// Names the element in the debug log.
    log_id: gst::glib::GString,
}

impl Shared {
    fn fanout(&self) -> MutexGuard<'_, Fanout<Player>> {
        self.fanout.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn gone(&self) -> MutexGuard<'_, SessionStats> {
        self.gone.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a player's bytes into the totals of those gone.
    fn count_gone(&self, player: &Player) {
        add_bytes(&mut self.gone(), &player.connection.stats());
    }

    /// Announces and closes dropped players, off the calling thread: closing joins a
    /// connection's I/O thread, which the streaming thread must not wait for.
    fn close_dropped(&self, dropped: Vec<Dropped<Player>>) {
        if dropped.is_empty() {
            return;
        }
        for player in &dropped {
            self.count_gone(&player.queue);
            match &player.reason {
                // It left, or its connection failed: the connection tells the application.
                DropReason::Closed(err) => {
                    gst::debug!(
                        CAT,
                        id = &self.log_id,
                        "player {} ({:?}) gone: {err}",
                        player.queue.addr,
                        player.id
                    );
                }
                reason => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    gst::warning!(
                        CAT,
                        id = &self.log_id,
                        "dropping player {} ({:?}): {reason}",
                        player.queue.addr,
                        player.id
                    );
                    // Why; the listener posts rtmp-client-disconnected once it is closed.
                    if let Some(element) = self.element.upgrade() {
                        let structure = gst::Structure::builder(CLIENT_DROPPED)
                            .field("address", player.queue.addr.to_string())
                            .field("stream", redact_query(&player.queue.stream).as_ref())
                            .field("reason", reason.to_string())
                            .build();
                        let message = gst::message::Element::builder(structure)
                            .src(&element)
                            .build();
                        let _ = element.post_message(message);
                    }
                }
            }
        }
        std::thread::spawn(move || drop(dropped));
    }

    fn add(&self, accepted: Accepted) {
        let player = Player {
            addr: accepted.addr,
            stream: accepted.stream,
            connection: accepted.connection,
        };
        let chunk_size = *self.chunk_size.lock().unwrap_or_else(|e| e.into_inner());
        if chunk_size != SERVER_DEFAULT_CHUNK_SIZE {
            let _ = player.try_send(Outgoing::ChunkSize(chunk_size));
        }
        if self.ended.load(Ordering::SeqCst) {
            // Nothing more will come: end its play at once rather than leave it waiting.
            gst::debug!(
                CAT,
                id = &self.log_id,
                "player {} came after the end of the stream",
                player.addr
            );
            std::thread::spawn(move || {
                let _ = player.connection.close(Duration::from_secs(2));
            });
            return;
        }
        gst::info!(
            CAT,
            id = &self.log_id,
            "serving player {} ({})",
            player.addr,
            player.stream
        );
        let mut fanout = self.fanout();
        fanout.add(player, Instant::now());
        let dropped = fanout.take_dropped();
        drop(fanout);
        self.close_dropped(dropped);
    }
}

/// Players told that the stream ended that have not hung up yet: the end of stream waits for
/// them (bounded), so that a player's last words (deleteStream) do not meet a closed socket.
#[derive(Default)]
struct Hangups {
    waiting: Mutex<HashSet<SocketAddr>>,
    changed: Condvar,
}

impl Hangups {
    fn lock(&self) -> MutexGuard<'_, HashSet<SocketAddr>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hung_up(&self, addr: SocketAddr) {
        if self.lock().remove(&addr) {
            self.changed.notify_all();
        }
    }

    /// Waits until every awaited player hung up or `deadline` passes.
    fn wait(&self, deadline: Instant) {
        let mut waiting = self.lock();
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                waiting.clear();
                return;
            }
            waiting = self
                .changed
                .wait_timeout(waiting, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

pub struct Server {
    listener: Arc<Listener>,
    hangups: Arc<Hangups>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds (errors such as an address in use come from here) and starts accepting players.
    pub fn start(
        mut options: ListenOptions,
        config: FanoutConfig,
        chunk_size: u32,
        element: &gst::Element,
    ) -> Result<Server, ConnectionError> {
        // The listener says when a player's connection is over (after it hung up).
        let hangups = Arc::new(Hangups::default());
        let (post, seen) = (options.notify.clone(), hangups.clone());
        options.notify = Arc::new(move |notice: ClientNotice| {
            if let ClientNotice::Disconnected { addr, .. } = &notice {
                seen.hung_up(*addr);
            }
            post(notice)
        });
        let listener = Arc::new(Listener::bind(options)?);
        let shared = Arc::new(Shared {
            fanout: Mutex::new(Fanout::new(config)),
            ended: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            chunk_size: Mutex::new(chunk_size),
            dropped: AtomicU64::new(0),
            element: element.downgrade(),
            gone: Mutex::new(SessionStats::default()),
            log_id: element.name(),
        });
        let acceptor = {
            let (listener, shared) = (listener.clone(), shared.clone());
            std::thread::Builder::new()
                .name("rtmpsink-accept".into())
                .spawn(move || accept_players(&listener, &shared))
                .map_err(|e| ConnectionError::Internal(format!("cannot start a thread: {e}")))?
        };
        Ok(Server {
            listener,
            hangups,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Queues a tag for every player; never waits for one.
    pub fn send(&self, tag: Tag) {
        let mut fanout = self.shared.fanout();
        fanout.push(tag, Instant::now());
        let dropped = fanout.take_dropped();
        for id in fanout.take_fell_behind() {
            if let Some((_, player)) = fanout.queues().find(|(other, _)| *other == id) {
                gst::info!(
                    CAT,
                    id = &self.shared.log_id,
                    "player {} ({id:?}) fell behind: its queue is full, it skips to the next keyframe",
                    player.addr
                );
            }
        }
        drop(fanout);
        self.shared.close_dropped(dropped);
    }

    /// Applies a changed `chunk-size` to every player and to those still to come.
    pub fn set_chunk_size(&self, size: u32) {
        *self
            .shared
            .chunk_size
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = size;
        for (_, player) in self.shared.fanout().queues() {
            let _ = player.try_send(Outgoing::ChunkSize(size));
        }
    }

    /// End of stream: each player gets what is queued, then StreamEOF + UnpublishNotify, and is
    /// closed; all at once, within `timeout` in all (players that do not hang up are cut off).
    pub fn finish(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.shared.ended.store(true, Ordering::SeqCst);
        let players = {
            let mut fanout = self.shared.fanout();
            for (id, counters) in fanout.counters() {
                gst::debug!(
                    CAT,
                    id = &self.shared.log_id,
                    "{id:?} at the end: {counters:?}"
                );
            }
            fanout.remove_all()
        };
        self.hangups
            .lock()
            .extend(players.iter().map(|(_, player)| player.addr));
        gst::info!(
            CAT,
            id = &self.shared.log_id,
            "end of stream: closing {} player(s)",
            players.len()
        );
        std::thread::scope(|scope| {
            for (_, player) in &players {
                scope.spawn(move || {
                    if let Err(err) = player.connection.close(timeout) {
                        // Gone already, or cut off: nobody to wait for.
                        self.hangups.hung_up(player.addr);
                        gst::debug!(
                            CAT,
                            id = &self.shared.log_id,
                            "closing player {}: {err}",
                            player.addr
                        );
                    }
                    self.shared.count_gone(player);
                });
            }
        });
        // Their connections stay open until they hang up: dropping one ends it at once.
        self.hangups.wait(deadline);
        drop(players);
    }

    /// rtmp2's connection figures over all players: bytes summed over those served now and
    /// those gone; chunk and window sizes of the latest player.
    pub fn session_stats(&self) -> SessionStats {
        let mut total = *self.shared.gone();
        for (_, player) in self.shared.fanout().queues() {
            let stats = player.connection.stats();
            add_bytes(&mut total, &stats);
            total.in_chunk_size = stats.in_chunk_size;
            total.out_chunk_size = stats.out_chunk_size;
            total.in_window_ack_size = stats.in_window_ack_size;
            total.out_window_ack_size = stats.out_window_ack_size;
        }
        total
    }

    /// Adds the listener's figures to the `stats` structure: those both elements have
    /// (`clients-current`, `-accepted`, `-refused`), players dropped for falling behind
    /// (`clients-dropped`), and one structure per player served (`clients`).
    pub fn add_stats(&self, stats: &mut gst::StructureRef) {
        crate::shared::listen::add_listener_stats(stats, &self.listener.stats());
        stats.set(
            "clients-dropped",
            self.shared.dropped.load(Ordering::Relaxed),
        );
        let clients: Vec<gst::glib::SendValue> = self
            .shared
            .fanout()
            .players()
            .map(|(player, counters, skipping)| {
                gst::Structure::builder("client")
                    .field("address", player.addr.to_string())
                    .field("stream", redact_query(&player.stream).as_ref())
                    .field("sent-messages", counters.sent_tags)
                    .field("sent-bytes", counters.sent_bytes)
                    .field("skipped-messages", counters.skipped_tags)
                    .field("overflows", counters.overflows)
                    .field("queued-bytes", player.queued_bytes() as u64)
                    .field("skipping", skipping)
                    .build()
                    .to_send_value()
            })
            .collect();
        stats.set("clients", gst::Array::from_values(clients));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.listener.set_flushing(true);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Dropping the connections stops their I/O threads and closes the sockets.
        let players = self.shared.fanout().remove_all();
        drop(players);
    }
}

/// The accepting thread: adds players as the listener accepts them, and drops stalled ones
/// while no media flows, until the server stops.
fn accept_players(listener: &Listener, shared: &Shared) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept(Some(ACCEPT_POLL)) {
            Ok(Some(accepted)) => shared.add(accepted),
            Ok(None) => {}
            Err(ConnectionError::Flushing) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(err) => {
                // The stream goes on for the players already served; tell the application
                // that no more can join.
                gst::error!(CAT, id = &shared.log_id, "listener failed: {err}");
                if let Some(element) = shared.element.upgrade() {
                    let message = gst::message::Warning::builder(
                        gst::ResourceError::Failed,
                        &format!("No more players can join: {err}"),
                    )
                    .src(&element)
                    .build();
                    let _ = element.post_message(message);
                }
                return;
            }
        }
        let mut fanout = shared.fanout();
        fanout.tick(Instant::now());
        let dropped = fanout.take_dropped();
        drop(fanout);
        shared.close_dropped(dropped);
    }
}

/// Starts serving as the sink's settings say: the location's address, application and stream,
/// `max-clients` players at once, each with `max-queue-bytes` of queue, dropped after `timeout`
/// seconds without progress.
pub fn start_server(
    settings: &super::writer::SinkSettings,
    element: &gst::Element,
) -> Result<Server, gst::ErrorMessage> {
    use crate::connection::ListenRole;
    let notify = crate::shared::listen::poster(element);
    let mut options =
        crate::shared::listen::listen_options(&settings.common, ListenRole::Players, notify)?;
    options.max_clients = usize::try_from(settings.max_clients).unwrap_or(usize::MAX);
    options.max_outgoing_bytes = settings.max_queue_bytes;
    options.log_id = element.name();
    let config = FanoutConfig {
        stall_timeout: Duration::from_secs(u64::from(settings.common.timeout.max(1))),
        ..FanoutConfig::default()
    };
    let server = Server::start(options, config, settings.chunk_size, element)
        .map_err(|err| super::writer::error_message(&err))?;
    gst::info!(
        CAT,
        obj = element,
        "serving players on {}",
        server.local_addr()
    );
    Ok(server)
}

fn add_bytes(total: &mut SessionStats, stats: &SessionStats) {
    total.in_bytes_total += stats.in_bytes_total;
    total.out_bytes_total += stats.out_bytes_total;
    total.in_bytes_acked += stats.in_bytes_acked;
    total.out_bytes_acked += stats.out_bytes_acked;
}
