//! The sink inside `rtmpsink` that owns the connection: it takes an FLV tag stream (from our own
//! muxer, or from flvmux through the `sink` pad), turns each tag into an RTMP message and hands it
//! to the [`Connection`]. Being a GstBaseSink gives `sync` (pacing by the clock) and preroll for free.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use gst::glib;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::connection::{ConnectOptions, Connection, ConnectionError, Direction, Outgoing};
use crate::flv::{FlvTagReader, TagType, metadata};
use crate::location::Settings;
use crate::protocol::session::{SessionMode, StopCommands};

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("rtmpsink", gst::DebugColorFlags::empty(), Some("RTMP sink"))
});

/// Settings of the `rtmpsink` bin that the writer needs, shared with it.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub common: Settings,
    pub chunk_size: u32,
    pub stop_commands: StopCommands,
    pub max_queue_bytes: usize,
}

/// Messages and bytes sent per kind, for the `stats` property.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaCounters {
    pub audio_messages: u64,
    pub audio_bytes: u64,
    pub video_messages: u64,
    pub video_bytes: u64,
    pub data_messages: u64,
    pub data_bytes: u64,
}

#[derive(Default)]
struct State {
    connection: Option<Arc<Connection>>,
    tags: FlvTagReader,
    counters: MediaCounters,
    /// Last stats of a connection that has gone, so the values survive a disconnect (as rtmp2's do).
    last_stats: Option<crate::protocol::session::SessionStats>,
}

#[derive(Default)]
pub struct RtmpWriter {
    settings: Mutex<Option<Arc<Mutex<SinkSettings>>>>,
    state: Mutex<State>,
}

impl RtmpWriter {
    /// Connects the writer to the bin's settings; called once when the bin builds it.
    pub fn set_settings(&self, settings: Arc<Mutex<SinkSettings>>) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }

    fn settings(&self) -> SinkSettings {
        let shared = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match shared {
            Some(s) => s.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => SinkSettings {
                common: Settings::default(),
                chunk_size: super::DEFAULT_CHUNK_SIZE,
                stop_commands: StopCommands::default(),
                max_queue_bytes: super::DEFAULT_MAX_QUEUE_BYTES,
            },
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn counters(&self) -> MediaCounters {
        self.state().counters
    }

    pub fn session_stats(&self) -> Option<crate::protocol::session::SessionStats> {
        let state = self.state();
        state
            .connection
            .as_ref()
            .map(|c| c.stats())
            .or(state.last_stats)
    }

    /// Starts connecting unless a connection exists already.
    fn ensure_connection(&self) -> Result<(), gst::ErrorMessage> {
        if self.state().connection.is_some() {
            return Ok(());
        }
        let settings = self.settings();
        let options = connect_options(&settings)?;
        gst::info!(
            CAT,
            imp = self,
            "publishing to {}",
            settings.common.location.to_uri()
        );
        let connection = Connection::start(options).map_err(|e| error_message(&e))?;
        self.state().connection = Some(Arc::new(connection));
        Ok(())
    }

    /// Runs `f` on the connection without holding the state lock, so that unlock() can reach it.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ConnectionError>,
    ) -> Result<T, ConnectionError> {
        let connection = self.state().connection.clone();
        match connection {
            Some(connection) => f(&connection),
            None => Err(ConnectionError::Closed),
        }
    }

    fn send(&self, item: Outgoing) -> Result<(), ConnectionError> {
        self.with_connection(|c| {
            c.wait_ready()?;
            c.send(item)
        })
    }

    fn flow_error(&self, err: ConnectionError) -> gst::FlowError {
        if err == ConnectionError::Flushing {
            return gst::FlowError::Flushing;
        }
        self.post_error_message(error_message(&err));
        gst::FlowError::Error
    }

    fn send_tag(
        &self,
        tag_type: TagType,
        timestamp: u32,
        body: Bytes,
    ) -> Result<(), ConnectionError> {
        let len = body.len() as u64;
        let item = match tag_type {
            TagType::Audio => Outgoing::Audio {
                timestamp,
                payload: body,
            },
            TagType::Video => Outgoing::Video {
                timestamp,
                payload: body,
            },
            TagType::Script => Outgoing::Data {
                timestamp,
                payload: metadata::set_data_frame(&body),
            },
        };
        self.send(item)?;
        let mut state = self.state();
        let counters = &mut state.counters;
        match tag_type {
            TagType::Audio => {
                counters.audio_messages += 1;
                counters.audio_bytes += len;
            }
            TagType::Video => {
                counters.video_messages += 1;
                counters.video_bytes += len;
            }
            TagType::Script => {
                counters.data_messages += 1;
                counters.data_bytes += len;
            }
        }
        Ok(())
    }

    /// Applies a changed `chunk-size` while streaming.
    pub fn set_chunk_size(&self, size: u32) {
        // Queued in order with media, so it applies between two messages.
        let _ = self.with_connection(|c| c.send(Outgoing::ChunkSize(size)));
    }
}

/// Builds the connection options from the bin's settings.
fn connect_options(settings: &SinkSettings) -> Result<ConnectOptions, gst::ErrorMessage> {
    let mode = SessionMode::Publish {
        stream: settings.common.location.stream.clone(),
        publish_type: "live".into(),
    };
    let mut options = ConnectOptions::from_settings(&settings.common, mode)?;
    options.session.chunk_size = settings.chunk_size;
    options.stop_commands = settings.stop_commands;
    options.max_outgoing_bytes = settings.max_queue_bytes;
    Ok(options)
}

/// The GStreamer error for a publishing connection's failure.
pub fn error_message(err: &ConnectionError) -> gst::ErrorMessage {
    err.to_error_message(Direction::Publish)
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpWriter {
    const NAME: &'static str = "GstRsRtmpWriter";
    type Type = super::RtmpWriterElement;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for RtmpWriter {}
impl GstObjectImpl for RtmpWriter {}

impl ElementImpl for RtmpWriter {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-flv").build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("static pad template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSinkImpl for RtmpWriter {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        {
            let mut state = self.state();
            state.tags = FlvTagReader::new();
            state.counters = MediaCounters::default();
            state.last_stats = None;
        }
        if self.settings().common.async_connect {
            self.ensure_connection()?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let mut state = self.state();
        if let Some(connection) = state.connection.take() {
            state.last_stats = Some(connection.stats());
            drop(state);
            drop(connection);
        }
        Ok(())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(connection) = &self.state().connection {
            connection.set_flushing(true);
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(connection) = &self.state().connection {
            connection.set_flushing(false);
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.ensure_connection().map_err(|msg| {
            self.post_error_message(msg);
            gst::FlowError::Error
        })?;
        // flvmux starts again with a file header when caps change mid-stream.
        if buffer.flags().contains(gst::BufferFlags::HEADER) {
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            if map.starts_with(b"FLV") {
                self.state().tags = FlvTagReader::new();
            }
        }
        let mapped = buffer
            .clone()
            .into_mapped_buffer_readable()
            .map_err(|_| gst::FlowError::Error)?;
        self.state().tags.push(Bytes::from_owner(mapped));
        loop {
            let tag = self.state().tags.next_tag();
            let tag = match tag {
                Ok(Some(tag)) => tag,
                Ok(None) => break,
                Err(err) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        ("Invalid FLV input: {err}")
                    );
                    return Err(gst::FlowError::Error);
                }
            };
            self.send_tag(tag.tag_type, tag.timestamp, tag.body)
                .map_err(|e| self.flow_error(e))?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            // EOS is posted only once everything is on the wire and the stream is closed.
            let timeout = Duration::from_secs(u64::from(self.settings().common.timeout.max(1)));
            if self.state().connection.is_some() {
                let result = self.with_connection(|c| {
                    c.wait_ready()?;
                    c.close(timeout)
                });
                match result {
                    Ok(()) | Err(ConnectionError::Flushing) => {}
                    Err(err) => {
                        self.post_error_message(error_message(&err));
                        return false;
                    }
                }
                gst::info!(CAT, imp = self, "stream closed after EOS");
            }
        }
        self.parent_event(event)
    }
}
