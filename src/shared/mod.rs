//! What both elements do alike, at the element edge (GStreamer types allowed): the `stats`
//! structure, refusing start-only property changes once started, and reconnecting (backoff and
//! the disconnected/reconnected messages).

pub mod connect;
pub mod listen;
pub mod proxy;
pub mod reconnect;
pub mod start_gate;
pub mod stats;
