//! Skypod's native realm client.
pub mod sm;
