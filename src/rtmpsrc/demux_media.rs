//! The media half of [`Demuxer`]: video and audio tag bodies, per track, to pads, caps and
//! buffers. Legacy tags and single-track Enhanced RTMP tags belong to track 0 (the `video` and
//! `audio` pads); each other track of a multitrack packet is its own stream and pad.

use std::time::Duration;

use bytes::Bytes;

use super::*;

impl Demuxer {
    pub(super) fn handle_video(
        &mut self,
        ts: u32,
        payload: &Bytes,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        match parse_video_body(payload) {
            Ok(VideoTag::Multitrack(tracks)) => {
                for (track, tag) in tracks {
                    let pad = PadId {
                        kind: StreamKind::Video,
                        track,
                    };
                    self.video_tag(pad, ts, tag, now, out);
                }
            }
            Ok(tag) => self.video_tag(PadId::VIDEO, ts, tag, now, out),
            Err(err) => gst::warning!(CAT, "dropping invalid video message: {err}"),
        }
    }

    fn video_tag(
        &mut self,
        pad: PadId,
        ts: u32,
        tag: VideoTag,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        match tag {
            VideoTag::AvcSequenceHeader(avcc) => {
                let meta = self.meta.clone().unwrap_or_default();
                match video_caps(&avcc, &meta) {
                    Ok(caps) => {
                        self.stream_mut(pad).config = Config::Avc(avcc);
                        self.set_caps(pad, caps, now, out);
                    }
                    Err(err) => gst::warning!(CAT, "ignoring AVC sequence header: {err}"),
                }
            }
            VideoTag::AvcFrame {
                keyframe,
                cts_ms,
                data,
            } => {
                // Coded frames follow every track's sequence start: the layout is known.
                self.media_seen = true;
                let stream = self.stream_mut(pad);
                if !matches!(stream.config, Config::Avc(_)) || !stream.has_pad() {
                    drop_frame(stream, "no AVC sequence header yet");
                    return;
                }
                if !keyframe && !stream.keyframe_seen {
                    drop_frame(stream, "waiting for a keyframe");
                    return;
                }
                stream.keyframe_seen = true;
                push_frame(stream, Time::ms(ts, cts_ms), keyframe, data, out);
            }
            VideoTag::ExSequenceStart { codec, config } => {
                match self.ex_video_caps(pad, codec, &config) {
                    Ok(caps) => {
                        self.stream_mut(pad).config = Config::ExVideo(codec, config);
                        self.set_caps(pad, caps, now, out);
                    }
                    Err(err) => {
                        gst::warning!(CAT, "ignoring {} sequence start: {err}", codec.name())
                    }
                }
            }
            VideoTag::ExFrame {
                codec,
                keyframe,
                cts_ms,
                timestamp_offset_ns,
                data,
            } => {
                // Coded frames follow every track's sequence start: the layout is known.
                self.media_seen = true;
                let stream = self.stream_mut(pad);
                if !matches!(&stream.config, Config::ExVideo(c, _) if *c == codec)
                    || !stream.has_pad()
                {
                    drop_frame(stream, "no sequence start for this codec yet");
                    return;
                }
                if !keyframe && !stream.keyframe_seen {
                    drop_frame(stream, "waiting for a keyframe");
                    return;
                }
                stream.keyframe_seen = true;
                let at = Time {
                    ts,
                    cts_ms,
                    offset_ns: timestamp_offset_ns,
                };
                push_frame(stream, at, keyframe, data, out);
            }
            VideoTag::ExMetadata { data, .. } => {
                let Some(color) = ColorInfo::parse(&data) else {
                    gst::debug!(CAT, "ignoring video metadata {data:02x?}");
                    return;
                };
                gst::debug!(CAT, "colorInfo {color:?}");
                self.stream_mut(pad).color = Some(color);
                if let Config::ExVideo(codec, config) = self.stream_mut(pad).config.clone()
                    && let Ok(caps) = self.ex_video_caps(pad, codec, &config)
                {
                    self.set_caps(pad, caps, now, out);
                }
            }
            VideoTag::ExSequenceEnd { .. } => {
                gst::debug!(CAT, "ignoring video {tag:?}");
            }
            VideoTag::AvcEndOfSequence | VideoTag::Command | VideoTag::Multitrack(_) => {
                gst::debug!(CAT, "ignoring video {tag:?}");
            }
            VideoTag::Unsupported { codec_id } => {
                let what = format!(
                    "FLV video codec {codec_id} ({})",
                    video_codec_name(codec_id)
                );
                self.unsupported(pad, &what, out);
            }
            VideoTag::UnsupportedEnhanced {
                packet_type,
                fourcc,
            } => {
                // A codec we map, with a packet type we do not: only that tag is skipped.
                let known =
                    fourcc.is_some_and(|f| &f == b"avc1" || ExVideoCodec::from_fourcc(f).is_some());
                if known {
                    gst::debug!(CAT, "ignoring video packet type {packet_type} ({fourcc:?})");
                } else {
                    let what = enhanced_name(packet_type, fourcc);
                    self.unsupported(pad, &what, out);
                }
            }
        }
    }

    pub(super) fn handle_audio(
        &mut self,
        ts: u32,
        payload: &Bytes,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        match parse_audio_body(payload) {
            Ok(AudioTag::Multitrack(tracks)) => {
                for (track, tag) in tracks {
                    let pad = PadId {
                        kind: StreamKind::Audio,
                        track,
                    };
                    self.audio_tag(pad, ts, tag, now, out);
                }
            }
            Ok(tag) => self.audio_tag(PadId::AUDIO, ts, tag, now, out),
            Err(err) => gst::warning!(CAT, "dropping invalid audio message: {err}"),
        }
    }

    fn audio_tag(
        &mut self,
        pad: PadId,
        ts: u32,
        tag: AudioTag,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        match tag {
            AudioTag::AacSequenceHeader(asc) => match aac_caps(&asc) {
                Ok(caps) => {
                    self.stream_mut(pad).config = Config::Aac(asc);
                    self.set_caps(pad, caps, now, out);
                }
                Err(err) => gst::warning!(CAT, "ignoring AAC sequence header: {err}"),
            },
            AudioTag::AacFrame(data) => {
                // Coded frames follow every track's sequence start: the layout is known.
                self.media_seen = true;
                let stream = self.stream_mut(pad);
                if !matches!(stream.config, Config::Aac(_)) || !stream.has_pad() {
                    drop_frame(stream, "no AAC sequence header yet");
                    return;
                }
                push_frame(stream, Time::ms(ts, 0), true, data, out);
            }
            AudioTag::Mp3 { data } => {
                // Coded frames follow every track's sequence start: the layout is known.
                self.media_seen = true;
                let stream = self.stream_mut(pad);
                if stream.config != Config::Mp3 || !stream.has_pad() {
                    match mp3_caps(&data) {
                        Ok(caps) => {
                            self.stream_mut(pad).config = Config::Mp3;
                            self.set_caps(pad, caps, now, out);
                        }
                        Err(err) => {
                            gst::warning!(CAT, "dropping MP3 message: {err}");
                            return;
                        }
                    }
                }
                push_frame(self.stream_mut(pad), Time::ms(ts, 0), true, data, out);
            }
            AudioTag::ExSequenceStart { codec, config } => {
                let meta = self.meta.clone().unwrap_or_default();
                match ex_audio_caps(codec, &config, &meta) {
                    Ok(caps) => {
                        self.stream_mut(pad).config = Config::ExAudio(codec, config);
                        self.set_caps(pad, caps, now, out);
                    }
                    Err(err) => {
                        gst::warning!(CAT, "ignoring {} sequence start: {err}", codec.name())
                    }
                }
            }
            AudioTag::ExFrame {
                codec,
                timestamp_offset_ns,
                data,
            } => {
                // Coded frames follow every track's sequence start: the layout is known.
                self.media_seen = true;
                let stream = self.stream_mut(pad);
                if !matches!(&stream.config, Config::ExAudio(c, _) if *c == codec)
                    || !stream.has_pad()
                {
                    drop_frame(stream, "no sequence start for this codec yet");
                    return;
                }
                let at = Time {
                    ts,
                    cts_ms: 0,
                    offset_ns: timestamp_offset_ns,
                };
                push_frame(stream, at, true, data, out);
            }
            AudioTag::ExMultichannelConfig {
                fourcc,
                channels,
                mask: Some(mask),
                ..
            } => self.channel_layout(pad, fourcc, channels, mask, now, out),
            AudioTag::ExSequenceEnd { .. }
            | AudioTag::ExMultichannelConfig { .. }
            | AudioTag::Multitrack(_) => {
                gst::debug!(CAT, "ignoring audio {tag:?}");
            }
            AudioTag::Unsupported { sound_format } => {
                let what = format!(
                    "FLV sound format {sound_format} ({})",
                    sound_format_name(sound_format)
                );
                self.unsupported(pad, &what, out);
            }
            AudioTag::UnsupportedEnhanced {
                packet_type,
                fourcc,
            } => {
                let known = fourcc.is_some_and(|f| {
                    matches!(&f, b"mp4a" | b".mp3") || ExAudioCodec::from_fourcc(f).is_some()
                });
                if known {
                    gst::debug!(CAT, "ignoring audio packet type {packet_type} ({fourcc:?})");
                } else {
                    let what = enhanced_name(packet_type, fourcc);
                    self.unsupported(pad, &what, out);
                }
            }
        }
    }

    /// Caps of an Enhanced RTMP video codec, with onMetaData's size and rate and the last
    /// `colorInfo`'s colorimetry and HDR fields.
    pub(super) fn ex_video_caps(
        &self,
        pad: PadId,
        codec: ExVideoCodec,
        config: &Bytes,
    ) -> Result<gst::Caps, crate::flv::FlvError> {
        let meta = self.meta.clone().unwrap_or_default();
        let mut caps = ex_video_caps(codec, config, &meta)?;
        if let Some(color) = self.stream(pad).and_then(|s| s.color.as_ref()) {
            color.add_to_caps(&mut caps, config_full_range(codec, config));
        }
        Ok(caps)
    }

    fn unsupported(&mut self, pad: PadId, what: &str, out: &mut Vec<Action>) {
        let stream = self.stream_mut(pad);
        if !stream.has_pad() {
            stream.skipped = true;
        }
        if !stream.warned {
            stream.warned = true;
            out.push(Action::Warning(format!(
                "The {} stream uses {what}, which rtmpsrc cannot play; skipping it",
                pad.pad_name()
            )));
        }
    }

    /// A MultichannelConfig's speakers go on the pad's caps as `channel-mask` (the decoders
    /// read the layout from the codec's own headers; the caps tell the application).
    fn channel_layout(
        &mut self,
        pad: PadId,
        fourcc: [u8; 4],
        channels: u8,
        mask: u32,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let stream = self.stream_mut(pad);
        let codec_matches = matches!(&stream.config, Config::ExAudio(c, _) if ExAudioCodec::from_fourcc(fourcc) == Some(*c));
        let gst_mask = crate::flv::channels::gst_from_mask(mask)
            .filter(|m| m.count_ones() == u32::from(channels));
        let (Some(caps), true, Some(gst_mask)) = (stream.caps.clone(), codec_matches, gst_mask)
        else {
            gst::debug!(
                CAT,
                "ignoring MultichannelConfig of {channels} channels, mask {mask:#x}"
            );
            return;
        };
        let mut caps = caps;
        caps.make_mut()
            .set("channel-mask", gst::Bitmask::new(gst_mask));
        self.set_caps(pad, caps, now, out);
    }

    pub(super) fn set_caps(
        &mut self,
        pad: PadId,
        caps: gst::Caps,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let stream = self.stream_mut(pad);
        stream.skipped = false;
        match &stream.caps {
            None => {
                stream.caps = Some(caps.clone());
                out.push(Action::AddPad { pad, caps });
                self.first_pad_at.get_or_insert(now);
                self.push_tags(pad, out);
            }
            Some(old) if *old != caps => {
                stream.caps = Some(caps.clone());
                out.push(Action::Caps { pad, caps });
            }
            Some(_) => {}
        }
    }
}
