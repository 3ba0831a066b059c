//! One `write` per flush: what a WebSocket writes between two flushes leaves in one syscall.
//!
//! Why: sockets have `TCP_NODELAY` (an answer of several frames must not wait on Nagle's
//! algorithm), so every `write` becomes a TCP segment at once. The WebSocket layer writes
//! whenever its small buffer (`ws_write_buffer`, kept small so idle sockets stay cheap) fills,
//! so a batch of deliveries went out as one segment per KiB or so; at high fan-out that
//! halved the broadcast throughput (docs/benchmarks.md). [`WriteCoalescer`] gathers the
//! writes of a batch and hands them to the socket on flush, so each batch costs one segment
//! train and one syscall, with or without Nagle.
//!
//! Memory: the buffer exists only between a write and the next flush, up to `cap` bytes
//! (beyond that it is written out first), and is freed after the flush: an idle socket holds
//! nothing here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest batch gathered before it is written out (each active socket at most).
pub const DEFAULT_CAP: usize = 16 * 1024;

pub struct WriteCoalescer<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already written (a write can be partial).
    written: usize,
    cap: usize,
}

impl<S> WriteCoalescer<S> {
    pub fn new(inner: S, cap: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            written: 0,
            cap: cap.max(1),
        }
    }

    #[cfg(test)]
    fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes held for the next flush.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.buf.len() - self.written
    }
}

impl<S: AsyncWrite + Unpin> WriteCoalescer<S> {
    /// Write out everything gathered, then free the buffer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteCoalescer<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteCoalescer<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() + data.len() > this.cap && !this.buf.is_empty() {
            ready!(this.poll_drain(cx))?;
        }
        if this.buf.is_empty() && data.len() >= this.cap {
            // Nothing gathered and too big to gather: straight through.
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Records every write it is given; takes at most `max_per_write` bytes at a time and
    /// answers every other call with `Pending` when `stutter` is set.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        max_per_write: Option<usize>,
        stutter: bool,
        turn: bool,
        flushes: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.stutter {
                self.turn = !self.turn;
                if self.turn {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            let n = self.max_per_write.map_or(data.len(), |m| m.min(data.len()));
            self.writes.push(data[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn all(r: &Recorder) -> Vec<u8> {
        r.writes.concat()
    }

    #[tokio::test]
    async fn a_batch_leaves_in_one_write_on_flush_and_the_buffer_is_freed() {
        let mut w = WriteCoalescer::new(Recorder::default(), 1024);
        for i in 0..10u8 {
            w.write_all(&[i; 50]).await.unwrap();
        }
        assert!(
            w.get_ref().writes.is_empty(),
            "nothing written before the flush"
        );
        assert_eq!(w.pending(), 500);
        w.flush().await.unwrap();
        assert_eq!(w.get_ref().writes.len(), 1);
        assert_eq!(w.get_ref().flushes, 1);
        assert_eq!(w.buf.capacity(), 0, "an idle socket holds no buffer");
        let expected: Vec<u8> = (0..10u8).flat_map(|i| [i; 50]).collect();
        assert_eq!(all(w.get_ref()), expected);
    }

    #[tokio::test]
    async fn more_than_the_cap_is_written_out_in_order() {
        let mut w = WriteCoalescer::new(Recorder::default(), 100);
        let mut expected = vec![];
        for i in 0..7u8 {
            let chunk = vec![i; 30];
            expected.extend_from_slice(&chunk);
            w.write_all(&chunk).await.unwrap();
            assert!(w.pending() <= 100);
        }
        w.write_all(&[9; 250]).await.unwrap(); // larger than the cap
        expected.extend_from_slice(&[9; 250]);
        w.flush().await.unwrap();
        assert_eq!(all(w.get_ref()), expected);
        assert!(w.get_ref().writes.iter().all(|x| x.len() <= 250));
        assert_eq!(w.pending(), 0);
    }

    #[tokio::test]
    async fn partial_and_pending_writes_lose_nothing() {
        let rec = Recorder {
            max_per_write: Some(7),
            stutter: true,
            ..Default::default()
        };
        let mut w = WriteCoalescer::new(rec, 64);
        let mut expected = vec![];
        for i in 0..40u8 {
            let chunk = vec![i; usize::from(i % 13) + 1];
            expected.extend_from_slice(&chunk);
            w.write_all(&chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
        assert_eq!(all(w.get_ref()), expected);
    }
}
