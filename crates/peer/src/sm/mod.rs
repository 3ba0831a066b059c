//! Sans-IO state machines: inputs and `now` in, actions out. No sockets, no sleeps, no
//! clocks read; the IO layer in [`crate::peer`] drives them.

pub mod backoff;
pub mod health;
pub mod negotiation;
pub mod signaling;
