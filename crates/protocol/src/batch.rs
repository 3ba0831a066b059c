//! Batches: several application frames in one data channel message. Sans-IO.
//!
//! Why: a data channel pays per message, not per byte: every message is its own SCTP chunk,
//! reassembly and receive callback on both sides. With small messages (1 KiB) that cost, not
//! the bandwidth, sets the rate. The native peer's link writer packs the frames that queued
//! up while the channel was busy into one [`tag::BATCH`](crate::link::tag::BATCH) message,
//! so a burst of small messages costs what a few large ones do, and a lone message still
//! leaves at once as a plain `DATA` frame (no timer, no added latency).
//!
//! ## Wire format
//!
//! ```text
//! tag::BATCH | (len: u16 | item)*
//! ```
//!
//! Big-endian lengths, at least one item, nothing after the last. Each item is exactly what a
//! `DATA` frame would carry after its tag: a whole application message or a fragment
//! ([`crate::fragment`]), delivered in order as if each had come in its own frame. The whole
//! message, tag included, fits one data channel message
//! ([`MAX_P2P_MESSAGE`](crate::link::MAX_P2P_MESSAGE) + 1 bytes).

use crate::link::{MAX_P2P_MESSAGE, tag};

/// Bytes before each item: its length as a big-endian `u16`.
pub const LEN_PREFIX: usize = 2;

/// Why a batch body was refused. Nothing of a refused batch is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("empty batch")]
    Empty,
    #[error("batch item runs past the end of the message")]
    Truncated,
}

impl BatchError {
    /// Stable code (shared with the web app's golden-vector test).
    pub fn code(&self) -> &'static str {
        match self {
            BatchError::Empty => "empty",
            BatchError::Truncated => "truncated",
        }
    }
}

/// Builds one batch message (tag included), item by item, within one data channel message.
#[derive(Debug)]
pub struct BatchBuilder {
    message: Vec<u8>,
    items: usize,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self {
            message: vec![tag::BATCH],
            items: 0,
        }
    }
}

impl BatchBuilder {
    /// Room the next item of `len` bytes takes.
    pub const fn cost(len: usize) -> usize {
        LEN_PREFIX + len
    }

    /// Whether an item of `len` bytes still fits in this batch.
    pub fn fits(&self, len: usize) -> bool {
        // The tag and the body make one data channel message.
        self.message.len() + Self::cost(len) <= MAX_P2P_MESSAGE + 1
    }

    /// Append an item; false (and nothing appended) when it does not fit.
    pub fn push(&mut self, item: &[u8]) -> bool {
        if !self.fits(item.len()) {
            return false;
        }
        // `fits` bounds every item below 64 KiB, so the length is a u16.
        self.message
            .extend_from_slice(&(item.len() as u16).to_be_bytes());
        self.message.extend_from_slice(item);
        self.items += 1;
        true
    }

    pub fn items(&self) -> usize {
        self.items
    }

    /// The data channel message built so far (tag, then body), leaving the builder empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(self).message
    }
}

/// The items of a batch body (what follows the tag), in order. All or nothing: a body that
/// does not parse to the end is refused whole.
pub fn items(body: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
    if body.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut out = vec![];
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<LEN_PREFIX>()
            .ok_or(BatchError::Truncated)?;
        let len = u16::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(BatchError::Truncated);
        }
        let (item, tail) = tail.split_at(len);
        out.push(item);
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_in_order() {
        let mut b = BatchBuilder::default();
        for item in [&b"one"[..], b"", &[0u8; 300]] {
            assert!(b.push(item));
        }
        assert_eq!(b.items(), 3);
        let msg = b.take();
        assert_eq!(b.items(), 0);
        assert_eq!(msg[0], tag::BATCH);
        assert_eq!(msg.len(), 1 + 3 * LEN_PREFIX + 3 + 300);
        assert_eq!(
            items(&msg[1..]).unwrap(),
            vec![&b"one"[..], b"", &[0u8; 300]]
        );
        assert_eq!(b.take(), [tag::BATCH]);
    }

    #[test]
    fn a_batch_fits_one_data_channel_message() {
        let mut b = BatchBuilder::default();
        let item = [7u8; 1024];
        while b.push(&item) {}
        let msg = b.take();
        // Tag + body is one 64 KiB message, and no further 1 KiB item would have fitted.
        assert!(msg.len() <= MAX_P2P_MESSAGE + 1);
        assert!(msg.len() + BatchBuilder::cost(item.len()) > MAX_P2P_MESSAGE + 1);
        assert_eq!(items(&msg[1..]).unwrap().len(), 63);
        // The largest item that fits alone.
        let mut b = BatchBuilder::default();
        assert!(!b.push(&vec![0; MAX_P2P_MESSAGE - 1]));
        assert!(b.push(&vec![0; MAX_P2P_MESSAGE - LEN_PREFIX]));
    }

    #[test]
    fn malformed_bodies_are_refused_whole() {
        assert_eq!(items(&[]), Err(BatchError::Empty));
        assert_eq!(items(&[0]), Err(BatchError::Truncated));
        assert_eq!(items(&[0, 2, b'a']), Err(BatchError::Truncated));
        // A good item followed by a truncated one: nothing is returned.
        assert_eq!(items(&[0, 1, b'a', 0, 5, b'b']), Err(BatchError::Truncated));
        assert_eq!(items(&[0, 0]).unwrap(), vec![&b""[..]]);
    }
}
