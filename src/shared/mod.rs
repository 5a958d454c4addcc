//! What both elements do alike, at the element edge (GStreamer types allowed): the `stats`
//! structure and refusing start-only property changes once started; the reconnect backoff and
//! the disconnected/reconnected messages belong here too.

pub mod start_gate;
pub mod stats;
