//! Skypod feed proxy.
