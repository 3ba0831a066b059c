//! Fragmentation of application messages: split a message into pieces that fit a transport's
//! message size limit, and put them back together on the other side. Sans-IO: no clocks
//! (time is passed in), no sockets.
//!
//! Why: a WebRTC data channel message is limited (~64 KiB in practice, `crates/peer`'s
//! `MAX_MESSAGE`), and so is a relayed one (the server's frame cap minus encryption and
//! base64, `MAX_RELAY_MESSAGE` ≈ 44 KiB), while a library's first sync is one Automerge
//! message the size of the whole library (0.6 MiB for 100k play records, more for more).
//!
//! ## Wire format
//!
//! An application message that fits and does not start with [`FRAGMENT_PREFIX`] travels
//! **unframed**, byte for byte (no overhead for the common small message). Anything else —
//! too large, or starting with the prefix itself — travels as fragments:
//!
//! ```text
//! 0x00 'F' | id: u32 | index: u32 | count: u32 | total: u32 | payload
//! ```
//!
//! Big-endian; [`HEADER_LEN`] = 18 bytes. `id` names the message (per sender), `index` is
//! in `0..count`, `total` is the length of the whole message; every payload but the last is
//! at least [`MIN_CHUNK`] bytes. So a transport message starting with `\0F` is always a
//! fragment and anything else is a whole message: unambiguous for arbitrary bytes. (Other
//! app prefixes: `\0L` library sync, text never starts with NUL; see `messages.rs`.)
//!
//! A [`Reassembler`] (one per sender) buffers fragments within [`ReassemblyLimits`] and
//! returns each message once, when its last fragment arrives, in any order.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The first two bytes of every fragment.
pub const FRAGMENT_PREFIX: &[u8] = b"\0F";
/// Prefix + id + index + count + total.
pub const HEADER_LEN: usize = 2 + 4 + 4 + 4 + 4;
/// Smallest payload of a fragment that is not the last (bounds the fragment count a header
/// may claim, so a tiny declared size cannot ask for millions of pieces).
pub const MIN_CHUNK: usize = 16;
/// Largest message that can be fragmented or reassembled by default: a library sync message
/// (`skypod_library::MAX_SYNC_MESSAGE`, 256 MiB) plus room for its prefix.
pub const MAX_MESSAGE: usize = 256 * 1024 * 1024 + 1024;
/// Memory charged per buffered fragment on top of its payload (map entry, allocation).
pub const FRAGMENT_OVERHEAD: usize = 64;
/// Completed message ids remembered per sender, to refuse late duplicates.
pub const REMEMBERED: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("message of {len} bytes is above the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("a fragment size limit of {0} bytes leaves no room for data")]
    MaxTooSmall(usize),
    #[error("not a fragment (no \\0F prefix)")]
    NotAFragment,
    #[error("fragment shorter than its {HEADER_LEN}-byte header")]
    Truncated,
    #[error("fragment {index} of a message of {count}")]
    OutOfRange { index: u32, count: u32 },
    #[error("message {id}: {count} fragments for {total} bytes")]
    BadCount { id: u32, count: u32, total: u32 },
    #[error("message {id}: fragment {index} has {len} bytes, below the {MIN_CHUNK}-byte minimum")]
    ChunkTooSmall { id: u32, index: u32, len: usize },
    #[error("message {id}: fragments disagree on the count or total size")]
    Inconsistent { id: u32 },
    #[error("message {id}: fragment {index} received twice")]
    Duplicate { id: u32, index: u32 },
    #[error("message {id} was already delivered")]
    AlreadyDelivered { id: u32 },
    #[error("message {id}: fragments add up to more than the declared {total} bytes")]
    LengthMismatch { id: u32, total: u32 },
    #[error("{max} partial messages already in flight")]
    TooManyPartials { max: usize },
    #[error("buffering this fragment would exceed {max} bytes")]
    BufferFull { max: usize },
}

impl FragmentError {
    /// A stable name (golden vectors, logs, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::MaxTooSmall(_) => "max_too_small",
            Self::NotAFragment => "not_a_fragment",
            Self::Truncated => "truncated",
            Self::OutOfRange { .. } => "out_of_range",
            Self::BadCount { .. } => "bad_count",
            Self::ChunkTooSmall { .. } => "chunk_too_small",
            Self::Inconsistent { .. } => "inconsistent",
            Self::Duplicate { .. } => "duplicate",
            Self::AlreadyDelivered { .. } => "already_delivered",
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::TooManyPartials { .. } => "too_many_partials",
            Self::BufferFull { .. } => "buffer_full",
        }
    }
}

/// Whether a transport message is a fragment (else it is a whole application message).
pub fn is_fragment(frame: &[u8]) -> bool {
    frame.starts_with(FRAGMENT_PREFIX)
}

/// Whether `msg` can travel unframed on a transport carrying at most `max` bytes.
pub fn fits_unframed(msg: &[u8], max: usize) -> bool {
    msg.len() <= max && !is_fragment(msg)
}

/// One parsed fragment, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub id: u32,
    pub index: u32,
    pub count: u32,
    pub total: u32,
    pub payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Parse a fragment's header and check what one fragment alone can tell.
    pub fn parse(frame: &'a [u8]) -> Result<Self, FragmentError> {
        if !is_fragment(frame) {
            return Err(FragmentError::NotAFragment);
        }
        if frame.len() < HEADER_LEN {
            return Err(FragmentError::Truncated);
        }
        let u = |at: usize| {
            u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]])
        };
        let f = Fragment {
            id: u(2),
            index: u(6),
            count: u(10),
            total: u(14),
            payload: &frame[HEADER_LEN..],
        };
        if f.count == 0 || f.count as usize > max_count(f.total as usize) {
            return Err(FragmentError::BadCount {
                id: f.id,
                count: f.count,
                total: f.total,
            });
        }
        if f.index >= f.count {
            return Err(FragmentError::OutOfRange {
                index: f.index,
                count: f.count,
            });
        }
        if f.index + 1 < f.count && f.payload.len() < MIN_CHUNK {
            return Err(FragmentError::ChunkTooSmall {
                id: f.id,
                index: f.index,
                len: f.payload.len(),
            });
        }
        if f.payload.len() > f.total as usize {
            return Err(FragmentError::LengthMismatch {
                id: f.id,
                total: f.total,
            });
        }
        Ok(f)
    }

    /// Encode (header + payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.payload.len());
        v.extend_from_slice(FRAGMENT_PREFIX);
        for n in [self.id, self.index, self.count, self.total] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v.extend_from_slice(self.payload);
        v
    }
}

/// Most fragments a message of `total` bytes can have.
fn max_count(total: usize) -> usize {
    total.div_ceil(MIN_CHUNK).max(1)
}

/// Split `msg` into transport messages of at most `max` bytes: `[msg]` itself when it fits
/// unframed, else fragments of message `id`. Fragments carry `max - HEADER_LEN` bytes each
/// (the last one the rest).
pub fn split(msg: &[u8], max: usize, id: u32) -> Result<Vec<Vec<u8>>, FragmentError> {
    if fits_unframed(msg, max) {
        return Ok(vec![msg.to_vec()]);
    }
    if msg.len() > MAX_MESSAGE {
        return Err(FragmentError::TooLarge {
            len: msg.len(),
            max: MAX_MESSAGE,
        });
    }
    let chunk = max.saturating_sub(HEADER_LEN);
    if chunk < MIN_CHUNK {
        return Err(FragmentError::MaxTooSmall(max));
    }
    let total = msg.len() as u32; // ≤ MAX_MESSAGE < 2^32
    let count = msg.len().div_ceil(chunk).max(1) as u32;
    let pieces: Vec<&[u8]> = if msg.is_empty() {
        vec![&[]]
    } else {
        msg.chunks(chunk).collect()
    };
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            Fragment {
                id,
                index: i as u32,
                count,
                total,
                payload,
            }
            .encode()
        })
        .collect())
}

/// The sending side: numbers fragmented messages.
#[derive(Clone, Debug)]
pub struct Fragmenter {
    next_id: u32,
}

impl Fragmenter {
    /// Start numbering at `first_id`. Pass a random value: a restarted sender then does not
    /// reuse the ids its peers remember as delivered.
    pub fn new(first_id: u32) -> Self {
        Self { next_id: first_id }
    }

    /// [`split`] with the next id (an id is used up only when the message is fragmented).
    pub fn split(&mut self, msg: &[u8], max: usize) -> Result<Vec<Vec<u8>>, FragmentError> {
        if fits_unframed(msg, max) {
            return Ok(vec![msg.to_vec()]);
        }
        let id = self.next_id;
        let out = split(msg, max, id)?;
        self.next_id = self.next_id.wrapping_add(1);
        Ok(out)
    }
}

/// Bounds on what one sender can make a [`Reassembler`] hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Largest message (declared `total`).
    pub max_message: usize,
    /// Messages partially received at once.
    pub max_partials: usize,
    /// Bytes buffered across partial messages (payloads plus a per-fragment overhead).
    pub max_buffered: usize,
    /// A partial message with no new fragment for this long is dropped.
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            max_message: MAX_MESSAGE,
            max_partials: 8,
            max_buffered: MAX_MESSAGE + MAX_MESSAGE / 4,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
struct Partial {
    count: u32,
    total: u32,
    parts: BTreeMap<u32, Vec<u8>>,
    /// Payload bytes received.
    received: usize,
    /// Memory charged against `max_buffered`.
    charged: usize,
    last: Instant,
}

/// The receiving side, one per sender.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partials: BTreeMap<u32, Partial>,
    buffered: usize,
    /// Recently completed ids, oldest first.
    done: VecDeque<(u32, Instant)>,
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            partials: BTreeMap::new(),
            buffered: 0,
            done: VecDeque::new(),
        }
    }

    /// Take one fragment. Returns the whole message when this was its last missing piece.
    ///
    /// On an error nothing is delivered; a fragment that contradicts its message (count,
    /// size) also drops that partial message, a duplicate or refused fragment leaves it as
    /// it was.
    pub fn push(&mut self, now: Instant, frame: &[u8]) -> Result<Option<Vec<u8>>, FragmentError> {
        self.expire(now);
        let f = Fragment::parse(frame)?;
        if f.total as usize > self.limits.max_message {
            return Err(FragmentError::TooLarge {
                len: f.total as usize,
                max: self.limits.max_message,
            });
        }
        if self.done.iter().any(|(id, _)| *id == f.id) {
            return Err(FragmentError::AlreadyDelivered { id: f.id });
        }
        let charge = f.payload.len() + FRAGMENT_OVERHEAD;
        if !self.partials.contains_key(&f.id)
            && f.count > 1
            && self.partials.len() >= self.limits.max_partials
        {
            return Err(FragmentError::TooManyPartials {
                max: self.limits.max_partials,
            });
        }
        if let Some(p) = self.partials.get(&f.id) {
            if p.count != f.count || p.total != f.total {
                self.drop_partial(f.id);
                return Err(FragmentError::Inconsistent { id: f.id });
            }
            if p.parts.contains_key(&f.index) {
                return Err(FragmentError::Duplicate {
                    id: f.id,
                    index: f.index,
                });
            }
            if p.received + f.payload.len() > f.total as usize {
                self.drop_partial(f.id);
                return Err(FragmentError::LengthMismatch {
                    id: f.id,
                    total: f.total,
                });
            }
        }
        if f.count > 1 && self.buffered + charge > self.limits.max_buffered {
            return Err(FragmentError::BufferFull {
                max: self.limits.max_buffered,
            });
        }
        let p = self.partials.entry(f.id).or_insert_with(|| Partial {
            count: f.count,
            total: f.total,
            parts: BTreeMap::new(),
            received: 0,
            charged: 0,
            last: now,
        });
        p.parts.insert(f.index, f.payload.to_vec());
        p.received += f.payload.len();
        p.charged += charge;
        p.last = now;
        self.buffered += charge;
        if p.parts.len() < p.count as usize {
            return Ok(None);
        }
        let Some(p) = self.take_partial(f.id) else {
            return Ok(None);
        };
        if p.received != p.total as usize {
            return Err(FragmentError::LengthMismatch {
                id: f.id,
                total: p.total,
            });
        }
        let mut msg = Vec::with_capacity(p.received);
        for part in p.parts.into_values() {
            msg.extend_from_slice(&part);
        }
        if self.done.len() >= REMEMBERED {
            self.done.pop_front();
        }
        self.done.push_back((f.id, now));
        Ok(Some(msg))
    }

    /// Drop partial messages idle for longer than the timeout (and forget delivered ids as
    /// old). Returns how many partial messages were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let timeout = self.limits.timeout;
        let stale: Vec<u32> = self
            .partials
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            self.drop_partial(*id);
        }
        while self
            .done
            .front()
            .is_some_and(|(_, t)| now.saturating_duration_since(*t) >= timeout)
        {
            self.done.pop_front();
        }
        stale.len()
    }

    /// Messages partially received.
    pub fn in_flight(&self) -> usize {
        self.partials.len()
    }

    /// Bytes charged for buffered fragments.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Nothing buffered and nothing remembered: the reassembler can be forgotten.
    pub fn is_idle(&self) -> bool {
        self.partials.is_empty() && self.done.is_empty()
    }

    fn take_partial(&mut self, id: u32) -> Option<Partial> {
        let p = self.partials.remove(&id)?;
        self.buffered -= p.charged;
        Some(p)
    }

    fn drop_partial(&mut self, id: u32) {
        self.take_partial(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    fn msg(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn small_messages_travel_unframed() {
        assert_eq!(split(b"hello", 100, 0).unwrap(), vec![b"hello".to_vec()]);
        assert_eq!(split(b"", 100, 0).unwrap(), vec![Vec::<u8>::new()]);
        assert_eq!(
            split(b"\0Lsync", 100, 0).unwrap(),
            vec![b"\0Lsync".to_vec()]
        );
    }

    #[test]
    fn a_message_with_the_reserved_prefix_is_always_framed() {
        let out = split(b"\0Fx", 100, 9).unwrap();
        assert_eq!(out.len(), 1);
        assert!(is_fragment(&out[0]));
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(r.push(t0(), &out[0]).unwrap(), Some(b"\0Fx".to_vec()));
    }

    #[test]
    fn round_trip_in_any_order_within_the_size_limit() {
        let m = msg(10_000);
        for max in [HEADER_LEN + MIN_CHUNK, 100, 999, 4096, 9_999] {
            let mut parts = split(&m, max, 42).unwrap();
            assert!(parts.len() > 1);
            assert!(parts.iter().all(|p| p.len() <= max), "max {max}");
            parts.reverse();
            let mut r = Reassembler::new(ReassemblyLimits::default());
            let now = t0();
            let last = parts.pop().unwrap();
            for p in &parts {
                assert_eq!(r.push(now, p).unwrap(), None);
            }
            assert_eq!(r.push(now, &last).unwrap(), Some(m.clone()));
            assert_eq!(r.buffered(), 0);
            assert_eq!(r.in_flight(), 0);
        }
    }

    #[test]
    fn nothing_is_delivered_twice() {
        let m = msg(100);
        let parts = split(&m, 50, 1).unwrap();
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let now = t0();
        for p in &parts[..parts.len() - 1] {
            r.push(now, p).unwrap();
        }
        assert_eq!(
            r.push(now, &parts[0]).unwrap_err(),
            FragmentError::Duplicate { id: 1, index: 0 }
        );
        assert_eq!(r.push(now, parts.last().unwrap()).unwrap(), Some(m));
        for p in &parts {
            assert_eq!(
                r.push(now, p).unwrap_err(),
                FragmentError::AlreadyDelivered { id: 1 }
            );
        }
    }

    #[test]
    fn limits_hold() {
        let now = t0();
        let limits = ReassemblyLimits {
            max_message: 1000,
            max_partials: 2,
            max_buffered: 600,
            timeout: Duration::from_secs(10),
        };
        let mut r = Reassembler::new(limits);
        let big = split(&msg(1001), 100, 1).unwrap();
        assert_eq!(r.push(now, &big[0]).unwrap_err().code(), "too_large");
        let a = split(&msg(300), 100, 2).unwrap();
        let b = split(&msg(300), 100, 3).unwrap();
        let c = split(&msg(300), 100, 4).unwrap();
        r.push(now, &a[0]).unwrap();
        r.push(now, &b[0]).unwrap();
        assert_eq!(r.push(now, &c[0]).unwrap_err().code(), "too_many_partials");
        // Each fragment charges 82 + 64 bytes: the fifth one passes 600.
        r.push(now, &a[1]).unwrap();
        r.push(now, &a[2]).unwrap();
        assert_eq!(r.push(now, &b[1]).unwrap_err().code(), "buffer_full");
        // Expiry frees everything; the message whose fragments were refused never arrives.
        assert_eq!(r.expire(now + Duration::from_secs(10)), 2);
        assert_eq!(r.buffered(), 0);
        let later = now + Duration::from_secs(11);
        for p in &c[..c.len() - 1] {
            assert_eq!(r.push(later, p).unwrap(), None);
        }
        assert_eq!(r.push(later, c.last().unwrap()).unwrap(), Some(msg(300)));
    }

    #[test]
    fn contradictions_drop_the_partial_message() {
        let now = t0();
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let a = split(&msg(100), 50, 7).unwrap();
        r.push(now, &a[0]).unwrap();
        let other = split(&msg(101), 50, 7).unwrap();
        assert_eq!(r.push(now, &other[1]).unwrap_err().code(), "inconsistent");
        assert_eq!(r.in_flight(), 0);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn bad_headers_are_refused() {
        let mk = |id, index, count, total, payload: &[u8]| {
            Fragment {
                id,
                index,
                count,
                total,
                payload,
            }
            .encode()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"hello".to_vec(), "not_a_fragment"),
            (b"\0F\0\0\0".to_vec(), "truncated"),
            (mk(1, 0, 0, 0, b""), "bad_count"),
            (mk(1, 2, 2, 40, &[0; 20]), "out_of_range"),
            (mk(1, 0, 4, 40, &[0; 10]), "bad_count"),
            (mk(1, 0, 2, 40, &[0; 10]), "chunk_too_small"),
            (mk(1, 1, 2, 20, &[0; 21]), "length_mismatch"),
        ];
        for (frame, code) in cases {
            let mut r = Reassembler::new(ReassemblyLimits::default());
            assert_eq!(r.push(t0(), &frame).unwrap_err().code(), code, "{frame:?}");
        }
        assert_eq!(
            split(&msg(100), HEADER_LEN + MIN_CHUNK - 1, 0)
                .unwrap_err()
                .code(),
            "max_too_small"
        );
    }

    #[test]
    fn fragmenter_uses_an_id_only_when_fragmenting() {
        let mut f = Fragmenter::new(u32::MAX);
        assert_eq!(f.split(b"small", 100).unwrap(), vec![b"small".to_vec()]);
        let a = f.split(&msg(200), 100).unwrap();
        let b = f.split(&msg(200), 100).unwrap();
        assert_eq!(Fragment::parse(&a[0]).unwrap().id, u32::MAX);
        assert_eq!(Fragment::parse(&b[0]).unwrap().id, 0);
    }
}
