//! FLV tag bodies <-> GStreamer caps and buffers. (Being written.)
