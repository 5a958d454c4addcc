//! The sessions: one RTMP connection from handshake to close, as a state machine, in either role.
//!
//! - [`ClientSession`] (in `client`): we dial, connect, then publish or play.
//! - [`ServerSession`] (in [`server`]): a client dialled us; it asks, the application decides.
//!
//! Both stand on one message-stream core (`core`): chunk reader and writer, acknowledgements,
//! pings, chunk size and window changes, which neither role has to think about.

mod client;
mod core;
pub mod enhanced;
pub mod server;
mod types;

pub use client::{ClientSession, Play2};
pub use server::{
    DEFAULT_MAX_SETUP_MESSAGE_SIZE, ServerConfig, ServerError, ServerEvent, ServerSession,
    ServerState,
};
pub use types::*;
