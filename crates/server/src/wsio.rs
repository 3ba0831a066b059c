//! What a WebSocket's reader may make the server hold.
//!
//! [`GuardedIo`] sits between the socket and the WebSocket layer (tungstenite) and reads the
//! frame headers as they pass, before tungstenite buffers anything:
//! - a frame or message larger than the current limit is refused at its header (a few KiB
//!   before authentication, `max_frame_bytes` after), so its payload is never read;
//! - header-level protocol violations (RSV bits, reserved opcodes, unmasked frames, fragmented
//!   or oversized control frames) are refused at once, not after reading their payload;
//! - a message may hold [`ReadLimits::free`] bytes on its own; beyond that it needs a share of
//!   one server-wide byte budget, taken before its header is handed on. When the budget is
//!   spent, reading from that socket waits (its bytes stay in the kernel, not in our memory);
//! - a message holding budget must complete within [`ReadLimits::frame_timeout`], so stalled
//!   sockets cannot keep the budget.
//!
//! - before authentication, the read that completes the first message hands on nothing after
//!   it: what the client pipelined stays here (until the next read), so the WebSocket layer
//!   holds nothing unread when the connection swaps it for one with fresh, small buffers
//!   after authentication (its auth-phase buffers grew to the size of the token).
//!
//! A refusal makes reads fail; [`GuardedIo::refusal`] says why, and the connection closes with
//! the matching code (1009, 1002, 1008).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Bytes a message may hold without the shared budget: signals and small broadcasts.
pub const FREE_PER_MESSAGE: usize = 2 * 1024;

/// Why reading stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A frame or message above the limit (close 1009).
    TooBig,
    /// A header no client may send (close 1002).
    Protocol(&'static str),
    /// A message holding budget did not complete in time (close 1008).
    Stalled,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooBig => f.write_str("frame larger than the server accepts"),
            Refusal::Protocol(why) => f.write_str(why),
            Refusal::Stalled => f.write_str("frame not completed in time"),
        }
    }
}

/// Limits shared by every socket of a server.
#[derive(Clone, Debug)]
pub struct ReadLimits {
    /// Largest message before authentication.
    pub preauth_max: usize,
    /// Largest message after authentication.
    pub max: usize,
    /// Bytes a message may hold without the shared budget.
    pub free: usize,
    /// Bytes all sockets' larger messages may hold together.
    pub budget: Arc<Semaphore>,
    /// Time a message holding budget has to complete.
    pub frame_timeout: Duration,
}

impl ReadLimits {
    pub fn new(preauth_max: usize, max: usize, free: usize, budget: usize, t: Duration) -> Self {
        Self {
            preauth_max,
            max,
            free,
            // At least what one largest message needs, or it could wait forever.
            budget: Arc::new(Semaphore::new(
                budget
                    .max(max.saturating_sub(free))
                    .min(Semaphore::MAX_PERMITS),
            )),
            frame_timeout: t,
        }
    }
}

/// A frame header as far as this layer needs it.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    len: u64,
    size: usize,
    fin: bool,
    opcode: u8,
}

/// Parse a header at the start of `d`; `Ok(None)` if more bytes are needed.
fn parse_header(d: &[u8]) -> Result<Option<Header>, Refusal> {
    let [b0, b1, ..] = *d else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(Refusal::Protocol("reserved bits set"));
    }
    let opcode = b0 & 0x0f;
    let fin = b0 & 0x80 != 0;
    if !matches!(opcode, 0..=2 | 8..=10) {
        return Err(Refusal::Protocol("reserved opcode"));
    }
    if b1 & 0x80 == 0 {
        return Err(Refusal::Protocol("client frames must be masked"));
    }
    let (len, size) = match b1 & 0x7f {
        126 => match d.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match d.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let size = size + 4;
    if d.len() < size {
        return Ok(None);
    }
    if opcode >= 8 && (!fin || len > 125) {
        return Err(Refusal::Protocol(
            "control frames must be final and at most 125 bytes",
        ));
    }
    Ok(Some(Header {
        len,
        size,
        fin,
        opcode,
    }))
}

/// Where the byte stream is, frame-wise.
#[derive(Default)]
struct Scan {
    /// Bytes of the current frame's (already checked) header not yet passed on.
    header_left: usize,
    /// Payload bytes of the current frame not yet passed on.
    payload_left: u64,
    /// The current frame is a data frame that ends a message.
    ends_message: bool,
    /// Data bytes of the message in progress, current frame included.
    message_len: u64,
}

/// What stopped a scan short of the end of the bytes.
enum Stop {
    /// A header is incomplete: more bytes are needed.
    Partial,
    /// A header needs this many more budget bytes.
    Budget(u32),
    /// Not authenticated and this read handed on the end of the first message.
    FirstMessageEnd,
    Refused(Refusal),
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

pub struct GuardedIo<S> {
    inner: S,
    limits: ReadLimits,
    /// Current message limit (raised after authentication).
    max: usize,
    authenticated: bool,
    /// Before authentication, the first data message ended in the current read.
    first_message_ended: bool,
    scan: Scan,
    /// Bytes read from the socket but not yet passed on: a header waiting for budget or more
    /// bytes, and what came after it in the same read.
    held: Vec<u8>,
    permit: Option<OwnedSemaphorePermit>,
    acquiring: Option<Acquire>,
    deadline: Option<Pin<Box<Sleep>>>,
    refused: Option<Refusal>,
}

impl<S> GuardedIo<S> {
    pub fn new(inner: S, limits: ReadLimits) -> Self {
        Self {
            max: limits.preauth_max,
            authenticated: false,
            first_message_ended: false,
            inner,
            limits,
            scan: Scan::default(),
            held: Vec::new(),
            permit: None,
            acquiring: None,
            deadline: None,
            refused: None,
        }
    }

    /// Raise the limit to the authenticated one.
    pub fn authenticated(&mut self) {
        self.max = self.limits.max;
        self.authenticated = true;
    }

    /// Why reads fail, if they do.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn reserved(&self) -> u64 {
        self.permit.as_ref().map_or(0, |p| p.num_permits() as u64)
    }

    /// How many bytes at the start of `d` may be passed on now, at most `limit` (the reader's
    /// room). Headers are read from all of `d`, so a header is checked whole before any byte
    /// of it is passed on, even when it is passed on in pieces.
    fn admit(&mut self, d: &[u8], limit: usize) -> (usize, Option<Stop>) {
        let limit = limit.min(d.len());
        let mut pos = 0;
        while pos < limit {
            let room = limit - pos;
            if self.scan.header_left > 0 || self.scan.payload_left > 0 {
                let take = if self.scan.header_left > 0 {
                    let take = self.scan.header_left.min(room);
                    self.scan.header_left -= take;
                    take
                } else {
                    let take = self.scan.payload_left.min(room as u64);
                    self.scan.payload_left -= take;
                    take as usize
                };
                pos += take;
                if self.scan.header_left == 0 && self.scan.payload_left == 0 {
                    self.frame_done();
                }
                continue;
            }
            if self.first_message_ended {
                return (pos, Some(Stop::FirstMessageEnd));
            }
            let h = match parse_header(&d[pos..]) {
                Ok(Some(h)) => h,
                Ok(None) => return (pos, Some(Stop::Partial)),
                Err(r) => return (pos, Some(Stop::Refused(r))),
            };
            let data = h.opcode <= 2;
            let message_len = if data {
                let before = if h.opcode == 0 {
                    self.scan.message_len
                } else {
                    0
                };
                before.saturating_add(h.len)
            } else {
                self.scan.message_len
            };
            if h.len > self.max as u64 || message_len > self.max as u64 {
                return (pos, Some(Stop::Refused(Refusal::TooBig)));
            }
            let covered = self.limits.free as u64 + self.reserved();
            if data && message_len > covered {
                let need = u32::try_from(message_len - covered).unwrap_or(u32::MAX);
                return (pos, Some(Stop::Budget(need)));
            }
            if data {
                self.scan.message_len = message_len;
                self.scan.ends_message = h.fin;
            } else {
                self.scan.ends_message = false;
            }
            self.scan.header_left = h.size;
            self.scan.payload_left = h.len;
        }
        (pos, None)
    }

    fn frame_done(&mut self) {
        if self.scan.ends_message {
            self.first_message_ended = !self.authenticated;
            self.scan.message_len = 0;
            self.scan.ends_message = false;
            self.permit = None;
            self.deadline = None;
        }
    }

    fn refuse(&mut self, r: Refusal) -> Poll<io::Result<()>> {
        self.refused = Some(r);
        self.permit = None;
        self.acquiring = None;
        self.deadline = None;
        self.held = Vec::new();
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            r.to_string(),
        )))
    }
}

impl<S: AsyncRead + Unpin> GuardedIo<S> {
    /// After a refusal: read and discard what the client still sends (at most `max` bytes, for
    /// at most `within`), so closing does not reset the connection before the client has read
    /// our close frame.
    pub async fn discard(&mut self, max: usize, within: Duration) {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        let mut left = max;
        let drain = async {
            while left > 0 {
                match self.inner.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(within, drain).await;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // A new read: the reader has the first message and asks for what follows.
        this.first_message_ended = false;
        if let Some(r) = this.refused {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                r.to_string(),
            )));
        }
        if let Some(d) = this.deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            return this.refuse(Refusal::Stalled);
        }
        loop {
            if let Some(acq) = this.acquiring.as_mut() {
                let got = std::task::ready!(acq.as_mut().poll(cx));
                this.acquiring = None;
                let Ok(p) = got else {
                    return this.refuse(Refusal::Stalled);
                };
                match this.permit.as_mut() {
                    Some(held) => held.merge(p),
                    None => this.permit = Some(p),
                }
                if this.deadline.is_none() {
                    this.deadline = Some(Box::pin(tokio::time::sleep(this.limits.frame_timeout)));
                    // Register the timer with this task.
                    if let Some(d) = this.deadline.as_mut()
                        && d.as_mut().poll(cx).is_ready()
                    {
                        return this.refuse(Refusal::Stalled);
                    }
                }
            }
            if !this.held.is_empty() {
                let held = std::mem::take(&mut this.held);
                let (n, stop) = this.admit(&held, buf.remaining());
                buf.put_slice(&held[..n]);
                if n < held.len() {
                    this.held = held;
                    this.held.drain(..n);
                }
                if n > 0 {
                    return Poll::Ready(Ok(()));
                }
                match stop {
                    Some(Stop::Refused(r)) => return this.refuse(r),
                    // Cannot happen (a read starts past the first message); pass on.
                    Some(Stop::FirstMessageEnd) => {
                        this.first_message_ended = false;
                        continue;
                    }
                    Some(Stop::Budget(need)) => {
                        this.acquiring = Some(Box::pin(
                            this.limits.budget.clone().acquire_many_owned(need),
                        ));
                        continue;
                    }
                    // A partial header: read more behind it.
                    Some(Stop::Partial) | None => {
                        let mut tmp = [0u8; 512];
                        let mut more = ReadBuf::new(&mut tmp);
                        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut more))?;
                        if more.filled().is_empty() {
                            // End of stream inside a header: the WebSocket layer sees the end.
                            this.held = Vec::new();
                            return Poll::Ready(Ok(()));
                        }
                        this.held.extend_from_slice(more.filled());
                        continue;
                    }
                }
            }
            let start = buf.filled().len();
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let end = buf.filled().len();
            if end == start {
                return Poll::Ready(Ok(()));
            }
            let (n, stop) = this.admit(&buf.filled()[start..end], end - start);
            if stop.is_none() {
                return Poll::Ready(Ok(()));
            }
            this.held = buf.filled()[start + n..end].to_vec();
            buf.set_filled(start + n);
            if n > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A masked client frame header.
    pub fn header(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    }

    /// 100 bytes before authentication, 400 after, 50 free per message.
    fn limits(budget: usize) -> ReadLimits {
        ReadLimits::new(100, 400, 50, budget, Duration::from_millis(200))
    }

    #[test]
    fn headers_are_parsed_and_checked() {
        assert_eq!(parse_header(&[0x81]), Ok(None));
        assert_eq!(parse_header(&header(true, 1, 300)[..5]), Ok(None));
        let h = parse_header(&header(true, 1, 300)).unwrap().unwrap();
        assert_eq!((h.len, h.size, h.fin, h.opcode), (300, 8, true, 1));
        let h = parse_header(&header(false, 2, 70_000)).unwrap().unwrap();
        assert_eq!((h.len, h.size), (70_000, 14));
        let refused = |b: &[u8]| matches!(parse_header(b), Err(Refusal::Protocol(_)));
        assert!(refused(&[0xC1, 0x80, 0, 0, 0, 0]), "rsv1");
        assert!(refused(&[0x83, 0x80, 0, 0, 0, 0]), "opcode 3");
        assert!(refused(&[0x8B, 0x80, 0, 0, 0, 0]), "opcode 11");
        assert!(refused(&[0x81, 0x05]), "unmasked");
        assert!(refused(&header(false, 9, 1)), "fragmented ping");
        assert!(refused(&header(true, 9, 126)), "long ping");
    }

    async fn read_all_available(
        io: &mut GuardedIo<tokio::io::DuplexStream>,
    ) -> io::Result<Vec<u8>> {
        let mut out = vec![];
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(Duration::from_millis(50), io.read(&mut buf)).await {
                Err(_) => return Ok(out),
                Ok(Ok(0)) => return Ok(out),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    #[tokio::test]
    async fn a_frame_above_the_limit_is_refused_at_its_header() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = GuardedIo::new(server, limits(1000));
        let small = [header(true, 1, 3), b"abc".to_vec()].concat();
        client.write_all(&small).await.unwrap();
        // before authentication the limit is 100: a 101-byte frame's header is refused
        // although none of its payload was sent
        client.write_all(&header(true, 1, 101)).await.unwrap();
        let err = read_all_available(&mut io).await;
        assert!(err.is_err());
        assert_eq!(io.refusal(), Some(Refusal::TooBig));
    }

    /// The connection swaps the WebSocket layer after authentication (conn.rs); whatever the
    /// layer had read past the first message would be lost with it.
    #[tokio::test]
    async fn before_authentication_a_read_stops_at_the_end_of_the_first_message() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = GuardedIo::new(server, limits(1000));
        let first = [header(true, 1, 20), vec![b'a'; 20]].concat();
        let pipelined = [header(true, 1, 5), b"after".to_vec()].concat();
        client
            .write_all(&[first.clone(), pipelined.clone()].concat())
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &first[..], "one read, exactly the first message");
        // The next read (after authentication here) gets what was held back.
        io.authenticated();
        assert_eq!(read_all_available(&mut io).await.unwrap(), pipelined);
    }

    #[tokio::test]
    async fn fragments_count_towards_the_message_limit() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = GuardedIo::new(server, limits(10_000));
        let part = [header(false, 1, 60), vec![b'a'; 60]].concat();
        let rest = [header(true, 0, 60), vec![b'a'; 60]].concat();
        client.write_all(&part).await.unwrap();
        client.write_all(&rest).await.unwrap();
        let got = read_all_available(&mut io).await;
        assert!(got.is_err(), "120 bytes in two fragments is above 100");
        assert_eq!(io.refusal(), Some(Refusal::TooBig));
    }

    #[tokio::test]
    async fn large_messages_wait_for_budget_and_stalled_ones_give_it_back() {
        let limits = limits(350);
        assert_eq!(limits.budget.available_permits(), 350);
        let (mut a, sa) = tokio::io::duplex(1 << 16);
        let (mut b, sb) = tokio::io::duplex(1 << 16);
        let mut ia = GuardedIo::new(sa, limits.clone());
        let mut ib = GuardedIo::new(sb, limits.clone());
        ia.authenticated();
        ib.authenticated();
        // a: 400 bytes (350 from the budget), sends half and stalls
        a.write_all(&[header(true, 1, 400), vec![b'x'; 200]].concat())
            .await
            .unwrap();
        let got = read_all_available(&mut ia).await.unwrap();
        assert_eq!(got.len(), 8 + 200);
        assert_eq!(limits.budget.available_permits(), 0);
        // b: its 400-byte frame is held back: nothing of it is passed on
        b.write_all(&[header(true, 1, 400), vec![b'y'; 400]].concat())
            .await
            .unwrap();
        assert!(read_all_available(&mut ib).await.unwrap().is_empty());
        // a's frame times out: a is refused and the budget goes to b
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(read_all_available(&mut ia).await.is_err());
        assert_eq!(ia.refusal(), Some(Refusal::Stalled));
        let got = read_all_available(&mut ib).await.unwrap();
        assert_eq!(got.len(), 8 + 400);
        // b's message is complete: its budget is back
        assert_eq!(limits.budget.available_permits(), 350);
        // small frames never need budget
        let small = [header(true, 1, 40), vec![b'z'; 40]].concat();
        b.write_all(&small).await.unwrap();
        assert_eq!(read_all_available(&mut ib).await.unwrap(), small);
    }

    #[tokio::test]
    async fn headers_split_across_reads_are_held_until_whole() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let slow = ReadLimits::new(100, 400, 50, 1000, Duration::from_secs(60));
        let mut io = GuardedIo::new(server, slow);
        io.authenticated();
        let frame = [header(true, 1, 300), vec![b'q'; 300]].concat();
        let mut got = vec![];
        for chunk in frame.chunks(3) {
            client.write_all(chunk).await.unwrap();
            got.extend(read_all_available(&mut io).await.unwrap());
        }
        assert_eq!(got, frame);
        assert_eq!(io.limits.budget.available_permits(), 1000);
        // a frame above the authenticated limit is refused too
        client.write_all(&header(true, 2, 401)).await.unwrap();
        assert!(read_all_available(&mut io).await.is_err());
        assert_eq!(io.refusal(), Some(Refusal::TooBig));
    }
}

/// The fuzz target's property (fuzz/fuzz_targets/frames.rs) on seeded random and mutated
/// frame streams, so CI covers it without a nightly toolchain.
#[cfg(test)]
mod random_streams {
    use super::*;
    use futures_util::StreamExt;
    use rand::{Rng, SeedableRng};
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

    const BUDGET: usize = 8 * 1024;

    async fn read_stream(bytes: &[u8], authenticated: bool) {
        let limits = ReadLimits::new(256, 4096, 512, BUDGET, Duration::from_millis(50));
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut io = GuardedIo::new(server, limits.clone());
        if authenticated {
            io.authenticated();
        }
        let cfg = WebSocketConfig::default()
            .read_buffer_size(512)
            .max_message_size(Some(4096))
            .max_frame_size(Some(4096));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
        client.write_all(bytes).await.unwrap();
        client.shutdown().await.unwrap();
        let read = async {
            while let Some(m) = ws.next().await {
                if m.is_err() {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(2), read)
            .await
            .expect("reading ends");
        drop(ws);
        assert_eq!(limits.budget.available_permits(), BUDGET, "budget leaked");
    }

    #[tokio::test]
    async fn random_and_mutated_frames_never_panic_nor_leak_budget() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        for i in 0..300 {
            let mut bytes = Vec::new();
            for _ in 0..rng.gen_range(1..6) {
                let len = *[0usize, 5, 125, 126, 600, 3000, 5000]
                    .get(rng.gen_range(0..7))
                    .unwrap();
                let opcode = [0u8, 1, 2, 8, 9, 10, 3][rng.gen_range(0..7)];
                let fin = rng.gen_bool(0.8);
                let mut f = tests::header(fin, opcode, len);
                let payload: Vec<u8> = if rng.gen_bool(0.5) {
                    b"{\"typ\":\"evt\",\"msg\":\"ping\"}"
                        .iter()
                        .copied()
                        .cycle()
                        .take(len)
                        .collect()
                } else {
                    (0..len).map(|_| rng.r#gen()).collect()
                };
                f.extend(payload);
                bytes.extend(f);
            }
            // mutate a few bytes, cut the stream somewhere
            for _ in 0..rng.gen_range(0..4) {
                if !bytes.is_empty() {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.r#gen();
                }
            }
            let cut = rng.gen_range(0..=bytes.len());
            bytes.truncate(cut);
            read_stream(&bytes, i % 2 == 0).await;
        }
    }
}
