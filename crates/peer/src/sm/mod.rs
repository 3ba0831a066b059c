//! Sans-IO state machines: inputs and `now` in, actions out. No sockets, no sleeps, no
//! clocks read; the actor (`crate::actor`) drives them.
//!
//! Per connection: [`negotiation`], [`health`], [`backoff`]; the server connection:
//! [`signaling`]; the realm: [`presence`] (who is online, direct vs relay), [`keys`]
//! (realm-key delivery and rotation), composed by [`realm`].

pub mod backoff;
pub mod health;
pub mod keys;
pub mod negotiation;
pub mod presence;
pub mod realm;
pub mod signaling;
