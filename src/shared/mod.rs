//! What both elements do alike, at the element edge (GStreamer types allowed): today the `stats`
//! structure; the reconnect backoff and the disconnected/reconnected messages belong here too.

pub mod stats;
