//! Skypod's native realm client.
pub mod crypto;
pub mod sm;
pub mod store;
