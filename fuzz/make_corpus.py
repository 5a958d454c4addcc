#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the captures in the unit tests' test
data and a few hand-built streams. Run from anywhere: python3 fuzz/make_corpus.py"""

import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def const_hex(path, name):
    """The hex string of a `const NAME: &str = concat!(...)` or plain literal in a Rust file."""
    text = open(os.path.join(ROOT, path)).read()
    m = re.search(r"const " + name + r": &str = (.*?);\n", text, re.S)
    literal = "".join(re.findall(r'"((?:[^"\\]|\\\n)*)"', m.group(1)))
    return bytes.fromhex(re.sub(r"[\s\\]", "", literal))


def fn_hex(path, marker):
    """The first hex("...") argument after `marker` in a Rust file."""
    text = open(os.path.join(ROOT, path)).read()
    rest = text[text.index(marker):]
    m = re.search(r'hex\(\s*"([^"]*)"', rest)
    return bytes.fromhex(m.group(1).replace(" ", ""))


# AMF0
def s(v):
    b = v.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def n(v):
    return b"\x00" + struct.pack(">d", v)


NULL = b"\x05"


def obj(pairs, marker=b"\x03"):
    out = marker
    for k, v in pairs:
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + v
    return out + b"\x00\x00\x09"


def ecma(pairs):
    return obj(pairs, b"\x08" + struct.pack(">I", len(pairs)))


def command(name, txn, cmd_obj, *args):
    return s(name) + n(txn) + cmd_obj + b"".join(args)


def status(code, level="status"):
    return obj([("level", s(level)), ("code", s(code)), ("description", s(code + "."))])


# Chunks
class Writer:
    def __init__(self):
        self.chunk_size = 128
        self.out = b""

    def msg(self, csid, type_id, payload, ts=0, stream_id=0):
        ext = ts >= 0xFFFFFF
        field = min(ts, 0xFFFFFF)
        extb = struct.pack(">I", ts) if ext else b""
        self.out += bytes([csid]) + field.to_bytes(3, "big") + len(payload).to_bytes(3, "big")
        self.out += bytes([type_id]) + struct.pack("<I", stream_id) + extb
        first = True
        pos = 0
        while first or pos < len(payload):
            if not first:
                self.out += bytes([0xC0 | csid]) + extb
            self.out += payload[pos:pos + self.chunk_size]
            pos += self.chunk_size
            first = False

    def set_chunk_size(self, size):
        self.msg(2, 1, struct.pack(">I", size))
        self.chunk_size = size


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


CHUNK = "src/protocol/chunk/testdata.rs"
FLV = "src/flv/testdata.rs"
nginx = const_hex(CHUNK, "NGINX_SERVER_STREAM")
ffmpeg = const_hex(CHUNK, "FFMPEG_CLIENT_STREAM")
on_metadata = const_hex("src/protocol/amf0/test_data.rs", "FFMPEG_ON_METADATA")
flv = const_hex(FLV, "FLV_EXCERPT")
avc_seq = const_hex(FLV, "AVC_SEQUENCE_HEADER_BODY")
avc_seq_330 = const_hex(FLV, "AVC_SEQUENCE_HEADER_330X190_BODY")
b_frame = const_hex(FLV, "AVC_B_FRAME_BODY_START")
aac_seq = const_hex(FLV, "AAC_SEQUENCE_HEADER_BODY")
mp3_44 = const_hex(FLV, "MP3_44K_MONO_BODY_START")
mp3_22 = const_hex(FLV, "MP3_22K_STEREO_BODY_START")
amf3_objects = fn_hex("src/protocol/amf3/tests.rs", "fn every_truncation_is_an_error")
amf3_sealed = bytes.fromhex("0a1b010361040503620406 01".replace(" ", ""))
flv_tags = flv[13:]

connect = command("connect", 1, obj([
    ("app", s("live")), ("type", s("nonprivate")), ("flashVer", s("FMLE/3.0")),
    ("tcUrl", s("rtmp://127.0.0.1/live")), ("fpad", b"\x01\x00"), ("audioCodecs", n(3575)),
    ("videoCodecs", n(252)), ("objectEncoding", n(0))]))
connect_result = command("_result", 1, obj([("fmsVer", s("FMS/3,0,1,123")), ("capabilities", n(31))]),
                         obj([("level", s("status")), ("code", s("NetConnection.Connect.Success")),
                              ("objectEncoding", n(0))]))
set_data_frame = s("@setDataFrame") + on_metadata

# A play session as a server answers it: connect is transaction 1, createStream 2.
w = Writer()
w.msg(2, 5, struct.pack(">I", 2500000))
w.msg(2, 6, struct.pack(">IB", 2500000, 2))
w.set_chunk_size(4096)
w.msg(3, 20, connect_result)
w.msg(3, 20, command("onBWDone", 0, NULL, n(8192)))
w.msg(3, 20, command("_result", 2, NULL, n(1)))
w.msg(2, 4, struct.pack(">HI", 0, 1))
w.msg(5, 20, command("onStatus", 0, NULL, status("NetStream.Play.Reset")), stream_id=1)
w.msg(5, 20, command("onStatus", 0, NULL, status("NetStream.Play.Start")), stream_id=1)
w.msg(5, 18, s("|RtmpSampleAccess") + b"\x01\x01\x01\x01", stream_id=1)
w.msg(5, 18, on_metadata, stream_id=1)
w.msg(6, 9, avc_seq, stream_id=1)
w.msg(4, 8, aac_seq, stream_id=1)
w.msg(6, 9, b_frame, ts=40, stream_id=1)
w.msg(2, 4, struct.pack(">HI", 6, 123456))
w.msg(7, 22, flv_tags[:flv_tags.index(b"\x09\x00\x00\x05")], ts=1000, stream_id=1)
w.msg(6, 9, bytes([0x27, 1, 0, 0, 0]) + bytes(300), ts=0x1000000, stream_id=1)
w.msg(2, 3, struct.pack(">I", 5000))
w.msg(2, 4, struct.pack(">HI", 1, 1))
w.msg(5, 20, command("onStatus", 0, NULL, status("NetStream.Play.UnpublishNotify")), stream_id=1)
w.msg(3, 20, command("close", 0, NULL))
play_stream = w.out

# Chunk streams: 4 control bytes, then the stream.
write("chunk_reader", "nginx_server", b"\x00\x00\x0f\x40" + nginx)
write("chunk_reader", "ffmpeg_client", b"\x00\x00\x0f\x40" + ffmpeg)
write("chunk_reader", "play_session", b"\x00\x00\x03\x8c" + play_stream)
ext = Writer()
ext.msg(4, 9, bytes(range(256)) + bytes(44), ts=0x01000000, stream_id=1)
ext.msg(4, 9, bytes(10), ts=0x01000010, stream_id=1)
ext.out += bytes([0x04 | 0x40, 0xFF, 0xFF, 0xFF, 0, 0, 3, 8]) + struct.pack(">I", 0x20) + b"abc"
ext.out += bytes([0xC4]) + b"abc"
ext.msg(2, 2, struct.pack(">I", 4))
write("chunk_reader", "extended_timestamps", b"\x02\x40\x01\x05" + ext.out)

# AMF0
write("amf0_decode", "ffmpeg_onmetadata", on_metadata)
write("amf0_decode", "connect", connect)
write("amf0_decode", "connect_result", connect_result)
write("amf0_decode", "misc", b"".join([
    b"\x0a\x00\x00\x00\x03" + n(1.5) + b"\x01\x01" + b"\x06",
    b"\x0b" + struct.pack(">dh", 1.6e12, 0),
    b"\x0c\x00\x00\x00\x03abc", b"\x0f\x00\x00\x00\x04<a/>",
    obj([("x", n(1))], b"\x10\x00\x03Foo"), b"\x07\x00\x01", b"\x0d",
    b"\x11" + amf3_objects]))

# AMF3
write("amf3_decode", "objects_and_references", amf3_objects)
write("amf3_decode", "sealed_and_dynamic", amf3_sealed)
write("amf3_decode", "string_reference", bytes.fromhex("0905010 60b68656c6c6f0600".replace(" ", "")))
write("amf3_decode", "vectors", bytes.fromhex("0d0500 00000001ffffffff".replace(" ", "")))
write("amf3_decode", "object_vector", bytes.fromhex("1005000104010603 61".replace(" ", "")))
write("amf3_decode", "dictionary", bytes.fromhex("11 03 00 06 03 6b 04 07".replace(" ", "")))


# Messages: type, timestamp (BE), stream id (LE), payload.
def message(type_id, payload, ts=0, stream_id=0):
    return bytes([type_id]) + struct.pack(">I", ts) + struct.pack("<I", stream_id) + payload


write("message_parse", "connect", message(20, connect))
write("message_parse", "connect_result", message(20, connect_result))
write("message_parse", "on_status", message(20, command("onStatus", 0, NULL, status("NetStream.Publish.Start")), 0, 1))
write("message_parse", "amf3_command", message(17, b"\x00" + command("createStream", 2, NULL)))
write("message_parse", "set_data_frame", message(18, set_data_frame, 0, 1))
write("message_parse", "amf3_data", message(15, b"\x00" + on_metadata, 0, 1))
write("message_parse", "set_chunk_size", message(1, struct.pack(">I", 4096)))
write("message_parse", "ping", message(4, struct.pack(">HI", 6, 1234)))
write("message_parse", "buffer_length", message(4, struct.pack(">HII", 3, 1, 1000)))
write("message_parse", "peer_bandwidth", message(6, struct.pack(">IB", 2500000, 2)))
write("message_parse", "aggregate", message(22, flv_tags, 5000, 1))
write("message_parse", "video", message(9, avc_seq, 0, 1))

# FLV: control byte, then a stream (bit 7 clear) or one tag body (bit 7 set).
write("flv_tags", "excerpt", b"\x00" + flv)
write("flv_tags", "excerpt_small_limit", b"\x02" + flv)
write("flv_tags", "avc_sequence_header", b"\x80" + avc_seq)
write("flv_tags", "avc_sequence_header_cropped", b"\x80" + avc_seq_330)
write("flv_tags", "aac_sequence_header", b"\x80" + aac_seq)
write("flv_tags", "mp3_44k", b"\x80" + mp3_44)
write("flv_tags", "mp3_22k", b"\x80" + mp3_22)
write("flv_tags", "onmetadata", b"\x80" + on_metadata)
write("flv_tags", "enhanced_avc", b"\x80" + b"\x90avc1" + avc_seq[5:])
write("flv_tags", "enhanced_aac", b"\x80" + b"\x90mp4a" + aac_seq[2:])
write("flv_tags", "enhanced_modex", b"\x80" + b"\x97\x01\xaa\xbb\x01avc1\x00\x00\x28" + b_frame[5:])

# Handshake: control byte, C1 time, then the server's bytes (or digest-server material).
pattern = bytes((i * 13 + 5) & 0xFF for i in range(1536))
plain_s1 = bytes(8) + pattern[8:]
write("handshake", "plain_server", b"\x00\x00\x00\x00\x01" + b"\x03" + plain_s1 + pattern + b"\x02\x00")
write("handshake", "digest_client_plain_server", b"\x01\x00\x00\x03\xe8" + b"\x03" + b"\x00\x00\x00\x00\x0d\x0e\x0a\x0d" + pattern[8:] + pattern)
write("handshake", "digest_server_first_layout", b"\x03\x00\x00\x03\xe8" + pattern[:600])
write("handshake", "digest_server_second_layout", b"\x07\x00\x00\x03\xe8" + pattern[:600])
write("handshake", "digest_server_bad_s2", b"\x0b\x10\x03\x03\xe8" + pattern[:600])
write("handshake", "rtmpe", b"\x00\x00\x00\x00\x00\x06" + pattern[:100])

# Server handshake: control byte (client C1 kind), S1 time, then client bytes or C1 material.
ffmpeg_c0c1 = bytes.fromhex(open(os.path.join(ROOT, "src/protocol/handshake/testdata/ffmpeg51_c0c1.hex")).read().strip())
write("server_handshake", "raw_simple", b"\x00\x00\x00\x00\x09" + b"\x03" + plain_s1 + pattern + b"\x02\x00")
write("server_handshake", "ffmpeg51", b"\x00\x00\x00\x00\x09" + ffmpeg_c0c1 + pattern + b"\x03\x00")
write("server_handshake", "simple_client", b"\x01\x00\x00\x03\xe8" + pattern[:1528] + pattern + b"\x03")
write("server_handshake", "digest_client", b"\x02\x00\x00\x03\xe8" + pattern[:1528] + pattern[:100])
write("server_handshake", "second_layout", b"\x03\x00\x00\x03\xe8" + pattern + pattern[:100])
write("server_handshake", "rtmpe", b"\x00\x00\x00\x00\x00\x06" + pattern[:100])
write("server_handshake", "tls", b"\x00\x00\x00\x00\x00\x16\x03\x01\x02\x00")

# Session: control byte, seed, then what the server sends after the handshake.
write("session", "nginx_publish", b"\x14\x01\x02\x03\x04" + nginx)
write("session", "nginx_publish_digest", b"\x1e\x05\x06\x07\x08" + nginx)
write("session", "play", b"\x01\x01\x02\x03\x04" + play_stream)

# Server session: control byte (bit 0: the client's own handshake follows), seed, then the
# client's bytes: real clients' captures (src/protocol/session/server/testdata), with their
# handshake or after it, and a client announcing 16 MiB before connect.
captures = os.path.join(ROOT, "src/protocol/session/server/testdata")
for name in sorted(os.listdir(captures)):
    capture = open(os.path.join(captures, name), "rb").read()
    base = name.rsplit(".", 1)[0]
    write("server_session", base, b"\x01\x01\x02\x03\x04" + capture)
    write("server_session", base + "_refusing", b"\x03\x05\x06\x07\x08" + capture[1 + 2 * 1536:])
write("server_session", "huge_before_connect", b"\x00\x01\x02\x03\x04" + bytes([3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0]) + bytes(300))

# RTMPT server side: 8 bytes of split seed, then one HTTP connection's bytes (requests as FFmpeg
# 5.1 and librtmp write them, pipelined; and refusals).
def rtmpt_post(path, body, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:1935\r\nAccept: */*\r\n"
            b"User-Agent: Shockwave Flash\r\nConnection: keep-alive\r\n" + extra +
            b"Content-Type: application/x-fcs\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


SEED = b"\x01\x02\x03\x04\x05\x06\x07\x08"
ID = b"0123456789abcdef0123456789abcdef"
write("rtmpt_server", "ffmpeg_session", SEED + b"".join([
    rtmpt_post(b"/open/1", b"\x00", b"Icy-MetaData: 1\r\n"),
    rtmpt_post(b"/send/" + ID + b"/0", b"\x03" + bytes(range(256)) * 6),
    rtmpt_post(b"/idle/" + ID + b"/1", b"\x00"),
    rtmpt_post(b"/close/" + ID + b"/2", b"\x00"),
]))
write("rtmpt_server", "librtmp_idle", SEED + b"".join([
    rtmpt_post(b"/idle/" + ID + b"/7", b"\x00", b"Cache-Control: no-cache\r\n"),
    rtmpt_post(b"http://127.0.0.1:1935/send/" + ID + b"/8?x", b"\x01\x02"),
]))
write("rtmpt_server", "refusals", SEED + b"GET / HTTP/1.0\r\n\r\n")
write("rtmpt_server", "chunked", SEED + b"POST /open/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\x00\r\n0\r\n\r\n")
