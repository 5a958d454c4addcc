//! The client session state machine. (Being written.)
