//! Sending: the relay path, and one writer task per open direct link.
//!
//! Why a writer task: a data channel pays per message (an SCTP chunk, reassembly and a
//! receive callback on each side), so a stream of small messages is limited by that cost,
//! not by bandwidth. `PeerHandle::send` only queues a message on the link's writer; the
//! writer sends a lone message at once as a `DATA` frame, and packs the messages that queued
//! up while the channel was busy into one `BATCH` frame ([`skypod_protocol::batch`]) — no
//! timer, so batching never delays a message. Batches go only to a peer whose `FEATURES`
//! frame said it reads them (`rtc::spawn_reader` records that).
//!
//! Nothing queued is dropped when the link fails: the message whose send failed and every
//! one queued after it go through the relay, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::{Bytes, BytesMut};
use skypod_protocol::IdentId;
use skypod_protocol::batch::BatchBuilder;
use skypod_protocol::fragment;
use skypod_protocol::link::{MAX_P2P_MESSAGE, MAX_RELAY_MESSAGE, RELAY_BURST, RELAY_PACE};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use webrtc::data_channel::DataChannel;

use crate::actor::Input;
use crate::api::{Command, PeerError};
use crate::rtc::{self, T_DATA};

/// Bytes the application may have queued on one link's writer (on top of the data
/// channel's own send buffer): enough for a full batch and a fragmented 1 MiB message in
/// flight, small enough that a slow link holds little memory. `send` waits beyond it.
pub(crate) const QUEUE_LIMIT: usize = 1024 * 1024;

/// The actor's command queue, the transport messages of application messages, and the relay
/// path. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbox {
    actor: UnboundedSender<Input>,
    /// Next fragmented message id (random start: peers remember delivered ids).
    frag_id: Arc<AtomicU32>,
}

impl Outbox {
    pub(crate) fn new(actor: UnboundedSender<Input>) -> Self {
        Self {
            actor,
            frag_id: Arc::new(AtomicU32::new(rand::random())),
        }
    }

    /// A command to the actor, and its reply.
    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, PeerError> {
        let (tx, rx) = oneshot::channel();
        self.actor
            .send(Input::Cmd(make(tx)))
            .map_err(|_| PeerError::Stopped)?;
        rx.await.map_err(|_| PeerError::Stopped)
    }

    /// The transport messages for `bytes` on a path carrying at most `max` bytes: itself
    /// when it fits, else fragments under a fresh message id.
    pub(crate) fn frames(&self, bytes: &Bytes, max: usize) -> Result<Vec<Bytes>, PeerError> {
        if fragment::fits_unframed(bytes, max) {
            return Ok(vec![bytes.clone()]);
        }
        let id = self.frag_id.fetch_add(1, Ordering::Relaxed);
        fragment::split(bytes, max, id)
            .map(|v| v.into_iter().map(Bytes::from).collect())
            .map_err(|e| PeerError::Other(e.to_string()))
    }

    /// Every frame of `bytes` through the server (`to`: recipients, `None` = everyone
    /// online). Returns how many members the last frame was handed to.
    pub(crate) async fn relay(
        &self,
        to: Option<Vec<IdentId>>,
        bytes: &Bytes,
    ) -> Result<usize, PeerError> {
        let mut n = 0;
        for (i, f) in self
            .frames(bytes, MAX_RELAY_MESSAGE)?
            .into_iter()
            .enumerate()
        {
            if i >= RELAY_BURST {
                tokio::time::sleep(RELAY_PACE).await;
            }
            let to = to.clone();
            n = self
                .call(|reply| Command::Relay {
                    to,
                    bytes: f,
                    reply,
                })
                .await??;
        }
        Ok(n)
    }
}

/// One application message waiting in a link's queue, holding its share of the queue limit.
struct Queued {
    bytes: Bytes,
    _room: Option<OwnedSemaphorePermit>,
}

/// Where a writer sends its data channel messages: the channel itself (a recorder in the
/// unit tests, since `webrtc`'s channel trait is sealed).
pub(crate) trait ChannelSend: Send + Sync + 'static {
    fn send(&self, msg: BytesMut) -> impl Future<Output = Result<(), String>> + Send;
}

impl ChannelSend for Arc<dyn DataChannel> {
    async fn send(&self, msg: BytesMut) -> Result<(), String> {
        DataChannel::send(self.as_ref(), msg)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The sending side of one direct link: its channel (for control frames, which skip the
/// queue) and its writer's queue. Cheap to clone; the writer stops when the last clone is
/// dropped and its queue is drained.
#[derive(Clone)]
pub(crate) struct LinkTx {
    dc: Arc<dyn DataChannel>,
    queue: UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

impl LinkTx {
    /// Start the writer of a link to `peer`. `batches`: set once the peer said it reads
    /// batch frames.
    pub(crate) fn spawn(
        dc: Arc<dyn DataChannel>,
        peer: IdentId,
        batches: Arc<AtomicBool>,
        outbox: Outbox,
    ) -> Self {
        let (queue, rx) = unbounded_channel();
        let writer = Writer {
            ch: dc.clone(),
            peer,
            batches,
            outbox,
            failed: false,
        };
        tokio::spawn(writer.run(rx));
        Self {
            dc,
            queue,
            room: Arc::new(Semaphore::new(QUEUE_LIMIT)),
        }
    }

    /// Wait until the writer has handed everything queued so far to the channel.
    pub(crate) async fn drained(&self) {
        let _ = self.room.acquire_many(QUEUE_LIMIT as u32).await;
    }

    pub(crate) fn channel(&self) -> &Arc<dyn DataChannel> {
        &self.dc
    }

    /// Queue one application message (any size `send` accepts), waiting while the queue is
    /// full. An error only when the writer has stopped (the caller relays the message).
    pub(crate) async fn send(&self, bytes: Bytes) -> Result<(), PeerError> {
        // A message above the limit takes the whole limit: it waits for an empty queue.
        let want = bytes.len().clamp(1, QUEUE_LIMIT) as u32;
        let room = self
            .room
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| PeerError::Stopped)?;
        self.queue
            .send(Queued {
                bytes,
                _room: Some(room),
            })
            .map_err(|_| PeerError::Stopped)
    }
}

struct Writer<C> {
    ch: C,
    peer: IdentId,
    batches: Arc<AtomicBool>,
    outbox: Outbox,
    /// A send on the channel failed: everything from then on goes through the relay.
    failed: bool,
}

impl<C: ChannelSend> Writer<C> {
    async fn run(mut self, mut rx: UnboundedReceiver<Queued>) {
        let mut next: Option<Queued> = None;
        loop {
            let first = match next.take() {
                Some(q) => q,
                None => match rx.recv().await {
                    Some(q) => q,
                    None => return,
                },
            };
            if self.failed {
                self.relay(&first.bytes).await;
                continue;
            }
            let frames = match self.outbox.frames(&first.bytes, MAX_P2P_MESSAGE) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "message not sent");
                    continue;
                }
            };
            // A lone message leaves as it is. One that fits a batch, to a peer that reads
            // them, takes along whatever queued up behind it while the channel was busy.
            let batchable = frames.len() == 1
                && self.batches.load(Ordering::Relaxed)
                && BatchBuilder::default().fits(frames[0].len());
            let second = if batchable { rx.try_recv().ok() } else { None };
            let Some(second) = second else {
                self.send_frames(first, frames).await;
                continue;
            };
            let mut batch = BatchBuilder::default();
            batch.push(&frames[0]);
            let mut packed = vec![first];
            let mut candidate = Some(second);
            while let Some(q) = candidate.take() {
                if fragment::fits_unframed(&q.bytes, MAX_P2P_MESSAGE) && batch.push(&q.bytes) {
                    packed.push(q);
                    candidate = rx.try_recv().ok();
                } else {
                    next = Some(q);
                }
            }
            if packed.len() == 1 {
                let first = packed.pop().expect("one message");
                self.send_frames(first, frames).await;
                continue;
            }
            // The builder's buffer becomes the message as it is (no copy).
            let msg = BytesMut::from(Bytes::from(batch.take()));
            if let Err(e) = self.ch.send(msg).await {
                self.fail(&e);
                for q in packed {
                    self.relay(&q.bytes).await;
                }
            }
        }
    }

    /// One message's frames as `DATA` frames; on a failure, the whole message again by the
    /// relay (under a new fragment id; the receiver drops the partial one when it expires).
    async fn send_frames(&mut self, q: Queued, frames: Vec<Bytes>) {
        for f in frames {
            if let Err(e) = self.ch.send(rtc::frame(T_DATA, &f)).await {
                self.fail(&e);
                self.relay(&q.bytes).await;
                return;
            }
        }
    }

    fn fail(&mut self, error: &str) {
        tracing::debug!(peer = %self.peer, error, "direct send failed; relaying from now on");
        self.failed = true;
    }

    async fn relay(&self, bytes: &Bytes) {
        if let Err(e) = self
            .outbox
            .relay(Some(vec![self.peer.clone()]), bytes)
            .await
        {
            tracing::warn!(peer = %self.peer, error = %e, "message lost: link failed and relay refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::T_BATCH;
    use skypod_protocol::IdentityKey;
    use skypod_protocol::batch;
    use skypod_protocol::fragment::{Reassembler, ReassemblyLimits};
    use std::sync::Mutex;
    use std::time::Instant;

    /// A channel that records what it is sent, and fails every send from the `fail_from`-th.
    #[derive(Clone, Default)]
    struct Recorder {
        sent: Arc<Mutex<Vec<BytesMut>>>,
        fail_from: Option<usize>,
    }

    impl ChannelSend for Recorder {
        async fn send(&self, msg: BytesMut) -> Result<(), String> {
            let mut sent = self.sent.lock().unwrap();
            if self.fail_from.is_some_and(|n| sent.len() + 1 >= n) {
                return Err("channel closed".into());
            }
            sent.push(msg);
            Ok(())
        }
    }

    impl Recorder {
        /// The application frames sent, batches unpacked, fragments reassembled.
        fn messages(&self) -> Vec<Vec<u8>> {
            let mut r = Reassembler::new(ReassemblyLimits::default());
            let mut out = vec![];
            for m in self.sent.lock().unwrap().iter() {
                let frames = match m[0] {
                    T_DATA => vec![&m[1..]],
                    T_BATCH => batch::items(&m[1..]).unwrap(),
                    t => panic!("tag {t}"),
                };
                for f in frames {
                    if fragment::is_fragment(f) {
                        out.extend(r.push(Instant::now(), f).unwrap());
                    } else {
                        out.push(f.to_vec());
                    }
                }
            }
            out
        }

        fn tags(&self) -> Vec<u8> {
            self.sent.lock().unwrap().iter().map(|m| m[0]).collect()
        }
    }

    /// Runs a writer over `ch` on `msgs` (all queued before it starts) to the end; returns
    /// what it relayed.
    async fn write(ch: Recorder, batches: bool, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let (actor, mut commands) = unbounded_channel();
        let relayed = tokio::spawn(async move {
            let mut got = vec![];
            while let Some(Input::Cmd(Command::Relay { bytes, reply, .. })) = commands.recv().await
            {
                got.push(bytes.to_vec());
                let _ = reply.send(Ok(1));
            }
            got
        });
        let (queue, rx) = unbounded_channel();
        for m in msgs {
            let bytes = Bytes::from(m.clone());
            queue.send(Queued { bytes, _room: None }).unwrap();
        }
        drop(queue);
        let writer = Writer {
            ch,
            peer: IdentityKey::ed25519_from_secret(&[1; 32]).identid().clone(),
            batches: Arc::new(AtomicBool::new(batches)),
            outbox: Outbox::new(actor),
            failed: false,
        };
        writer.run(rx).await;
        relayed.await.unwrap()
    }

    fn sized(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_add(seed)).collect()
    }

    #[tokio::test]
    async fn queued_messages_leave_as_one_batch_in_order() {
        let msgs = vec![b"a".to_vec(), vec![], sized(300, 3), b"\0Lsync".to_vec()];
        let ch = Recorder::default();
        assert!(write(ch.clone(), true, &msgs).await.is_empty());
        assert_eq!(ch.tags(), [T_BATCH]);
        assert_eq!(ch.messages(), msgs);
    }

    #[tokio::test]
    async fn a_lone_message_or_a_peer_without_batches_gets_data_frames() {
        let ch = Recorder::default();
        write(ch.clone(), true, &[b"alone".to_vec()]).await;
        assert_eq!(ch.tags(), [T_DATA]);

        let msgs = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let ch = Recorder::default();
        write(ch.clone(), false, &msgs).await;
        assert_eq!(ch.tags(), [T_DATA; 3]);
        assert_eq!(ch.messages(), msgs);
    }

    #[tokio::test]
    async fn a_full_batch_starts_the_next() {
        let msgs: Vec<_> = (0..100).map(|i| sized(1024, i)).collect();
        let ch = Recorder::default();
        write(ch.clone(), true, &msgs).await;
        assert_eq!(ch.tags(), [T_BATCH; 2]);
        let sizes: Vec<_> = ch.sent.lock().unwrap().iter().map(|m| m.len()).collect();
        assert!(sizes.iter().all(|&n| n <= MAX_P2P_MESSAGE + 1), "{sizes:?}");
        assert_eq!(ch.messages(), msgs);
    }

    #[tokio::test]
    async fn large_and_fragment_lookalike_messages_keep_their_place() {
        let msgs = vec![
            sized(10, 1),
            sized(100_000, 2),
            sized(20, 3),
            b"\0F looks like a fragment".to_vec(),
            sized(30, 4),
            sized(MAX_P2P_MESSAGE, 5),
            sized(40, 6),
        ];
        let ch = Recorder::default();
        write(ch.clone(), true, &msgs).await;
        assert_eq!(ch.messages(), msgs);
        assert!(ch.tags().contains(&T_BATCH), "{:?}", ch.tags());
    }

    #[tokio::test]
    async fn after_a_failed_send_the_rest_goes_by_relay_in_order() {
        let msgs: Vec<_> = (0..5).map(|i| sized(100, i)).collect();
        // Without batches: the first goes direct, the second's send fails.
        let ch = Recorder {
            fail_from: Some(2),
            ..Default::default()
        };
        let relayed = write(ch.clone(), false, &msgs).await;
        assert_eq!(ch.messages(), msgs[..1]);
        assert_eq!(relayed, msgs[1..]);

        // A failed batch: all of its messages are relayed.
        let ch = Recorder {
            fail_from: Some(1),
            ..Default::default()
        };
        let relayed = write(ch.clone(), true, &msgs).await;
        assert!(ch.messages().is_empty());
        assert_eq!(relayed, msgs);
    }
}
