//! Serving one stream to many players (rtmpsink in listener mode), without sockets.
//!
//! The fan-out keeps what a player needs to start decoding at any moment: the latest
//! `onMetaData`, the latest sequence headers, `colorInfo` and channel layouts of every track
//! ([`super::headers`]), and the media since the last video
//! keyframe (the current group of pictures, bounded in bytes). A player that joins gets the
//! metadata and headers as they were at that keyframe (stamped with its timestamp), then the
//! cached GOP (with any header that changed within it, in place), then live media; so a late
//! joiner starts with a picture at the keyframe's timestamp, and players that come before the
//! first frame get everything as it comes. Audio-only streams have no GOP: a joiner starts with
//! the next frame.
//!
//! Each player's queue is bounded (the connection's outgoing bound) and [`PlayerQueue::try_send`]
//! never blocks: a full queue makes that player skip to the next keyframe (dropping audio too, so
//! the two stay together), then resume with the sequence headers if they changed meanwhile. A
//! player whose queue made no progress for the stall timeout, or that overflowed too many times in
//! a row, is dropped. The streaming thread therefore never waits for a player, and a slow player
//! costs the others nothing.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::headers::{HeaderKey, Headers};
use super::link::Tag;
use crate::connection::{ConnectionError, Outgoing};
use crate::flv::TagType;

/// Where media for one player goes: in rtmpsink the player's [`crate::connection::Connection`].
pub trait PlayerQueue {
    /// Queues `item` unless it does not fit the bound (`Ok(false)`: it is dropped); never blocks.
    fn try_send(&self, item: Outgoing) -> Result<bool, ConnectionError>;
    /// Bytes queued and not yet written to the socket.
    fn queued_bytes(&self) -> usize;
}

/// The GOP cache holds at most this many bytes of media by default.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Overflows in a row (the first, then keyframes that did not fit either) after which a player
/// is dropped: with one-second GOPs, about 8 s of a player that cannot take a keyframe.
pub const DEFAULT_MAX_OVERFLOWS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// Bound of the GOP cache; a longer GOP is not cached (joiners wait for the next keyframe).
    pub cache_bytes: usize,
    /// A player whose queue does not shrink for this long is dropped.
    pub stall_timeout: Duration,
    /// A player that overflows this many times in a row (its queue never has room for the
    /// keyframe it could resume at) is dropped.
    pub max_overflows: u32,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            cache_bytes: DEFAULT_CACHE_BYTES,
            stall_timeout: Duration::from_secs(5),
            max_overflows: DEFAULT_MAX_OVERFLOWS,
        }
    }
}

/// Names a player for as long as it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayerId(pub u64);

#[derive(Debug, Clone, PartialEq)]
pub enum DropReason {
    /// The queue made no progress for this long.
    Stalled(Duration),
    /// The queue overflowed this many times in a row.
    Overflowed(u32),
    /// The connection failed or closed (the player left).
    Closed(ConnectionError),
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Stalled(d) => write!(f, "player took no data for {d:?}"),
            DropReason::Overflowed(n) => write!(f, "player fell behind {n} times in a row"),
            DropReason::Closed(err) => write!(f, "{err}"),
        }
    }
}

/// A player the fan-out no longer serves; the caller closes its connection.
pub struct Dropped<P> {
    pub id: PlayerId,
    pub queue: P,
    pub reason: DropReason,
}

/// What has happened to one player, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayerCounters {
    pub sent_tags: u64,
    pub sent_bytes: u64,
    /// Tags not sent because the player was behind (including those that did not fit).
    pub skipped_tags: u64,
    /// Times the queue was full.
    pub overflows: u64,
}

/// A header tag's key and generation ([`Headers::remember`]); `None` for media.
type HeaderMark = Option<(HeaderKey, u64)>;

struct Player<P> {
    id: PlayerId,
    queue: P,
    /// Skipping: nothing is sent until the next point a decoder can start from.
    waiting: bool,
    /// Which generation of each header the player has.
    sent_headers: BTreeMap<HeaderKey, u64>,
    overflows_in_row: u32,
    last_progress: Instant,
    /// Queue size after our last send: a smaller one later means the socket took data.
    queued_after_send: usize,
    counters: PlayerCounters,
}

pub struct Fanout<P> {
    config: FanoutConfig,
    headers: Headers,
    /// A video tag has been seen: players start at keyframes (else at any audio frame).
    has_video: bool,
    /// Media since the last video keyframe, starting with it, and the headers that changed
    /// since, in order (with their generations).
    gop: VecDeque<(Tag, HeaderMark)>,
    /// The headers as they were when the cached GOP's keyframe came: what a joiner needs first.
    gop_headers: Headers,
    gop_bytes: usize,
    /// The GOP outgrew the cache: nothing is cached until the next keyframe.
    gop_overflowed: bool,
    players: Vec<Player<P>>,
    dropped: Vec<Dropped<P>>,
    /// Players whose queues filled since the last look: they now skip to a keyframe.
    fell_behind: Vec<PlayerId>,
    next_id: u64,
}

impl<P: PlayerQueue> Fanout<P> {
    pub fn new(config: FanoutConfig) -> Self {
        Fanout {
            config,
            headers: Default::default(),
            has_video: false,
            gop: VecDeque::new(),
            gop_headers: Default::default(),
            gop_bytes: 0,
            gop_overflowed: false,
            players: Vec::new(),
            dropped: Vec::new(),
            fell_behind: Vec::new(),
            next_id: 1,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.players.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.players.is_empty()
    }

    #[cfg(test)]
    /// Bytes of media the GOP cache holds.
    pub fn cached_bytes(&self) -> usize {
        self.gop_bytes
    }

    /// Starts serving a player: headers and the cached GOP now when there is one, else from the
    /// next point a decoder can start from.
    pub fn add(&mut self, queue: P, now: Instant) -> PlayerId {
        let id = PlayerId(self.next_id);
        self.next_id += 1;
        let mut player = Player {
            id,
            queue,
            waiting: true,
            sent_headers: BTreeMap::new(),
            overflows_in_row: 0,
            last_progress: now,
            queued_after_send: 0,
            counters: PlayerCounters::default(),
        };
        let cache_usable = !self.gop_overflowed && !self.gop.is_empty();
        let mut failed = None;
        if cache_usable {
            // The cache starts with its keyframe, the one place in it a decoder can start, so
            // the headers go first as they were then (later changes are in the cache).
            for (index, (tag, mark)) in self.gop.iter().enumerate() {
                let resume_point = index == 0;
                let headers = &self.gop_headers;
                if let Err(reason) =
                    deliver(headers, &self.config, &mut player, tag, resume_point, *mark)
                {
                    failed = Some(reason);
                    break;
                }
            }
        }
        match failed {
            Some(reason) => self.dropped.push(Dropped {
                id,
                queue: player.queue,
                reason,
            }),
            None => self.players.push(player),
        }
        id
    }

    /// Sends one tag of the stream to every player and keeps it for later joiners as needed.
    pub fn push(&mut self, tag: Tag, now: Instant) {
        let (resume_point, mark) = self.remember(&tag);
        let mut index = 0;
        while index < self.players.len() {
            let player = &mut self.players[index];
            let was_waiting = player.waiting;
            let result = check_progress(&self.config, player, now).and_then(|()| {
                deliver(
                    &self.headers,
                    &self.config,
                    player,
                    &tag,
                    resume_point,
                    mark,
                )
            });
            match result {
                Ok(()) => {
                    if player.waiting && !was_waiting {
                        self.fell_behind.push(player.id);
                    }
                    index += 1;
                }
                Err(reason) => self.drop_player(index, reason),
            }
        }
    }

    /// The players that started skipping since the last call, for the caller to report.
    pub fn take_fell_behind(&mut self) -> Vec<PlayerId> {
        std::mem::take(&mut self.fell_behind)
    }

    /// Drops the players whose queues have stalled; for when no media flows.
    pub fn tick(&mut self, now: Instant) {
        let mut index = 0;
        while index < self.players.len() {
            match check_progress(&self.config, &mut self.players[index], now) {
                Ok(()) => index += 1,
                Err(reason) => self.drop_player(index, reason),
            }
        }
    }

    /// The players dropped since the last call, for the caller to close and announce.
    pub fn take_dropped(&mut self) -> Vec<Dropped<P>> {
        std::mem::take(&mut self.dropped)
    }

    #[cfg(test)]
    /// Stops serving one player (it left).
    pub fn remove(&mut self, id: PlayerId) -> Option<P> {
        let index = self.players.iter().position(|p| p.id == id)?;
        Some(self.players.remove(index).queue)
    }

    /// Stops serving every player (end of stream, stopping).
    pub fn remove_all(&mut self) -> Vec<(PlayerId, P)> {
        self.players.drain(..).map(|p| (p.id, p.queue)).collect()
    }

    pub fn counters(&self) -> Vec<(PlayerId, PlayerCounters)> {
        self.players.iter().map(|p| (p.id, p.counters)).collect()
    }

    pub fn queues(&self) -> impl Iterator<Item = (PlayerId, &P)> {
        self.players.iter().map(|p| (p.id, &p.queue))
    }

    /// Each player served: its queue, its counters, and whether it is skipping to a keyframe.
    pub fn players(&self) -> impl Iterator<Item = (&P, PlayerCounters, bool)> {
        self.players
            .iter()
            .map(|p| (&p.queue, p.counters, p.waiting))
    }

    fn drop_player(&mut self, index: usize, reason: DropReason) {
        let player = self.players.remove(index);
        self.dropped.push(Dropped {
            id: player.id,
            queue: player.queue,
            reason,
        });
    }

    /// Updates the headers and the GOP cache with `tag`; returns whether a player that waits
    /// may start with it, and the tag's header mark.
    fn remember(&mut self, tag: &Tag) -> (bool, HeaderMark) {
        if let Some((key, generation)) = self.headers.remember(tag) {
            self.has_video |= key.is_video();
            // A change within the GOP: joiners get it where it came.
            self.cache(tag, Some((key, generation)));
            return (false, Some((key, generation)));
        }
        if tag.tag_type == TagType::Video {
            self.has_video = true;
        }
        if !self.has_video {
            // Audio only: every frame is a starting point, nothing to cache.
            return (true, None);
        }
        let keyframe = tag.is_video_keyframe();
        if keyframe {
            self.gop.clear();
            self.gop_bytes = 0;
            self.gop_overflowed = false;
            self.gop_headers = self.headers.clone();
        }
        self.cache(tag, None);
        (keyframe, None)
    }

    /// Adds a tag to the GOP being cached, if one is (it starts at a keyframe and fits).
    fn cache(&mut self, tag: &Tag, mark: HeaderMark) {
        if self.gop_overflowed || self.gop.is_empty() && !tag.is_video_keyframe() {
            return;
        }
        self.gop_bytes += tag.body.len();
        self.gop.push_back((tag.clone(), mark));
        if self.gop_bytes > self.config.cache_bytes {
            self.gop.clear();
            self.gop_bytes = 0;
            self.gop_overflowed = true;
        }
    }
}

/// Drops a player whose queue has not shrunk for the stall timeout.
fn check_progress<P: PlayerQueue>(
    config: &FanoutConfig,
    player: &mut Player<P>,
    now: Instant,
) -> Result<(), DropReason> {
    let queued = player.queue.queued_bytes();
    if queued == 0 || queued < player.queued_after_send {
        player.last_progress = now;
        player.queued_after_send = queued;
        return Ok(());
    }
    let stalled = now.saturating_duration_since(player.last_progress);
    if stalled >= config.stall_timeout {
        return Err(DropReason::Stalled(stalled));
    }
    Ok(())
}

/// Sends `tag` to one player as its state allows. `headers` are those current for `tag`;
/// `mark` is the tag's own key and generation when it is a header.
fn deliver<P: PlayerQueue>(
    headers: &Headers,
    config: &FanoutConfig,
    player: &mut Player<P>,
    tag: &Tag,
    resume_point: bool,
    mark: HeaderMark,
) -> Result<(), DropReason> {
    if player.waiting {
        if !resume_point {
            // Headers that change meanwhile are sent on resuming.
            if mark.is_none() {
                player.counters.skipped_tags += 1;
            }
            return Ok(());
        }
        // Resuming: the headers it lacks first (every track's), stamped with the frame they
        // precede so the player sees no jump back in time.
        for (key, header_tag, generation) in headers.iter() {
            if player.sent_headers.get(&key) == Some(&generation) {
                continue;
            }
            let stamped = Tag {
                timestamp: tag.timestamp,
                ..header_tag.clone()
            };
            if !send(config, player, &stamped)? {
                return Ok(());
            }
            player.sent_headers.insert(key, generation);
        }
        if send(config, player, tag)? {
            // It takes data again: the row of overflows is broken.
            player.waiting = false;
            player.overflows_in_row = 0;
        }
        return Ok(());
    }
    if send(config, player, tag)?
        && let Some((key, generation)) = mark
    {
        player.sent_headers.insert(key, generation);
    }
    Ok(())
}

/// Queues one tag; on a full queue the player starts skipping (`Ok(false)`), or is dropped when
/// that happened too often in a row.
fn send<P: PlayerQueue>(
    config: &FanoutConfig,
    player: &mut Player<P>,
    tag: &Tag,
) -> Result<bool, DropReason> {
    let len = tag.body.len() as u64;
    match player.queue.try_send(player_outgoing(tag)) {
        Ok(true) => {
            player.counters.sent_tags += 1;
            player.counters.sent_bytes += len;
            player.queued_after_send = player.queue.queued_bytes();
            Ok(true)
        }
        Ok(false) => {
            player.waiting = true;
            player.counters.skipped_tags += 1;
            player.counters.overflows += 1;
            player.overflows_in_row += 1;
            if player.overflows_in_row >= config.max_overflows {
                return Err(DropReason::Overflowed(player.overflows_in_row));
            }
            Ok(false)
        }
        Err(err) => Err(DropReason::Closed(err)),
    }
}

/// The message a player gets for a tag: media as it is, and metadata as a plain `onMetaData`
/// data message (what servers send players; `@setDataFrame` is for publishers).
pub fn player_outgoing(tag: &Tag) -> Outgoing {
    let (timestamp, payload) = (tag.timestamp, tag.body.clone());
    match tag.tag_type {
        TagType::Audio => Outgoing::Audio { timestamp, payload },
        TagType::Video => Outgoing::Video { timestamp, payload },
        TagType::Script => Outgoing::Data { timestamp, payload },
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
