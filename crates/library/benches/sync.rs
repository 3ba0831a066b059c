//! Sync benchmark: initial sync of a library with 1,000 subscriptions and 100,000 play
//! records between two peers (time, bytes on the wire, memory), then one position
//! update (bytes on the wire). Figures go to docs/benchmarks-library.md.
//!
//! cargo bench -p skypod-library --no-default-features --bench sync
//! Options (env): LIB_FEEDS (1000), LIB_PLAYS (100000), LIB_DEVICES (4), LIB_RUNS (3).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use skypod_library::{Library, NewFeed, SyncPeer, episode_key};

/// Counts live heap bytes and the peak, so memory is measured without OS noise.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The feed URL of the `i`th podcast of the benchmark library.
fn feed_url(i: usize) -> String {
    format!("https://feeds.example.com/podcast/{i}/feed.xml")
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Build the source library the way it grows in real life: several devices, each
/// recording positions in many separate commits, merged together.
fn build(feeds: usize, plays: usize, devices: usize) -> Library {
    let mut main = Library::new("device-0").expect("lib");
    for i in 0..feeds {
        main.subscribe(NewFeed {
            url: feed_url(i),
            title: Some(format!("Podcast number {i}")),
            folder: vec![format!("Folder {}", i % 10)],
            tags: vec![format!("tag{}", i % 7)],
            ..Default::default()
        })
        .expect("sub");
    }
    main.commit();
    let per_device = plays / devices;
    let genesis = main.save();
    for d in 0..devices {
        let mut lib = Library::load(&genesis, format!("device-{d}")).expect("load");
        lib.set_clock(move || 1_700_000_000_000 + d as i64);
        for j in 0..per_device {
            let ep = episode_key(&feed_url(j % feeds), &format!("episode-guid-{}", j / feeds))
                .expect("key");
            lib.set_position(&ep, (j % 3600) as f64 + 0.5, Some(3600.0))
                .expect("pos");
            if j % 500 == 499 {
                lib.commit(); // a listening session
            }
        }
        main.merge(&mut lib).expect("merge");
    }
    main
}

struct SyncStats {
    time: Duration,
    bytes: usize,
    messages: usize,
    largest: usize,
}

/// Run the sync protocol between two libraries until both are quiet.
fn sync(a: &mut Library, pa: &mut SyncPeer, b: &mut Library, pb: &mut SyncPeer) -> SyncStats {
    let start = Instant::now();
    let (mut bytes, mut messages, mut largest) = (0, 0, 0);
    let detail = std::env::var_os("LIB_DETAIL").is_some();
    let step = |what: &str, t: Instant, len: usize| {
        if detail {
            println!("    {what}: {:.2?} ({len} B)", t.elapsed());
        }
    };
    let anatomy = |m: &[u8]| {
        if detail && let Ok(d) = skypod_library::automerge::sync::Message::decode(m) {
            println!(
                "      heads {} need {} have {:?} changes {:?}",
                d.heads.len(),
                d.need.len(),
                d.have
                    .iter()
                    .map(|h| (h.last_sync.len(), h.bloom.to_bytes().len()))
                    .collect::<Vec<_>>(),
                d.changes.iter().map(<[u8]>::len).collect::<Vec<_>>()
            );
        }
    };
    // One direction of a round: `from` generates a message and `to` receives it. Whether
    // there was one; `said` names both steps.
    let mut send = |from: &mut Library,
                    pf: &mut SyncPeer,
                    to: &mut Library,
                    pt: &mut SyncPeer,
                    said: (&str, &str)| {
        let t = Instant::now();
        let m = from.generate_sync_message(pf);
        step(said.0, t, m.as_ref().map_or(0, Vec::len));
        let Some(m) = m else {
            return false;
        };
        anatomy(&m);
        bytes += m.len();
        messages += 1;
        largest = largest.max(m.len());
        let t = Instant::now();
        to.receive_sync_message(pt, &m).expect(said.1);
        step(said.1, t, m.len());
        true
    };
    loop {
        let a_said = send(a, pa, b, pb, ("a generates", "b receives"));
        let b_said = send(b, pb, a, pa, ("b generates", "a receives"));
        if !a_said && !b_said {
            break;
        }
    }
    SyncStats {
        time: start.elapsed(),
        bytes,
        messages,
        largest,
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let feeds = env("LIB_FEEDS", 1000);
    let plays = env("LIB_PLAYS", 100_000);
    let devices = env("LIB_DEVICES", 4).max(1);
    let runs = env("LIB_RUNS", 3).max(1);

    let t = Instant::now();
    let mut a = build(feeds, plays, devices);
    let build_time = t.elapsed();
    let heads = a.heads();
    let changes = a.change_count();
    let save = a.save();
    println!(
        "fixture: {feeds} subscriptions, {} play records on {devices} devices, {changes} changes, built in {:.2?}, saved size {:.2} MiB",
        a.play_count(),
        build_time,
        mib(save.len())
    );
    let t = Instant::now();
    let loaded = Library::load(&save, "x").expect("load");
    println!("load from saved file: {:.2?}", t.elapsed());
    drop(loaded);

    let mut times = Vec::new();
    let mut last = None;
    for run in 0..runs {
        let mut b = Library::new("fresh-device").expect("lib");
        let mut pa = SyncPeer::new();
        let mut pb = SyncPeer::new();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let s = sync(&mut a, &mut pa, &mut b, &mut pb);
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let retained = LIVE.load(Ordering::Relaxed).saturating_sub(base);
        assert_eq!(b.heads(), heads, "did not converge");
        assert_eq!(b.play_count(), a.play_count());
        println!(
            "initial sync run {run}: {:.3?}, {} messages, {:.2} MiB on the wire (largest message {:.2} MiB), peak extra heap {:.1} MiB, receiver retains {:.1} MiB",
            s.time,
            s.messages,
            mib(s.bytes),
            mib(s.largest),
            mib(peak),
            mib(retained)
        );
        times.push(s.time);
        last = Some((b, pa, pb));
    }
    times.sort();
    println!(
        "initial sync median: {:.3?} (target < 2 s)",
        times[times.len() / 2]
    );

    // One position update on an existing record, synced to the up-to-date peer.
    let (mut b, mut pa, mut pb) = last.expect("one run");
    let ep = episode_key(&feed_url(1), "episode-guid-0").expect("key");
    a.set_position(&ep, 1234.5, Some(3600.0)).expect("pos");
    let s = sync(&mut a, &mut pa, &mut b, &mut pb);
    assert_eq!(b.play("device-0", &ep).expect("rec").position, 1234.5);
    println!(
        "one position update, first after merging 4 devices' histories (4 heads): {} bytes on the wire in {} messages (update message {} B), {:.2?} (target < 512 bytes)",
        s.bytes, s.messages, s.largest, s.time
    );
    a.set_position(&ep, 1240.0, None).expect("pos");
    let s = sync(&mut a, &mut pa, &mut b, &mut pb);
    assert_eq!(b.play("device-0", &ep).expect("rec").position, 1240.0);
    println!(
        "one position update, steady state (1 head): {} bytes on the wire in {} messages (update message {} B), {:.2?} (target < 512 bytes)",
        s.bytes, s.messages, s.largest, s.time
    );
    // A first position in a new episode (creates the record).
    let ep2 = episode_key(&feed_url(2), "brand-new-episode").expect("key");
    a.set_position(&ep2, 10.0, Some(1800.0)).expect("pos");
    let s = sync(&mut a, &mut pa, &mut b, &mut pb);
    println!(
        "one position update (new record): {} bytes on the wire in {} messages (largest {} B)",
        s.bytes, s.messages, s.largest
    );
    // Reconnect with persisted sync state after one offline update.
    let mut pa2 = SyncPeer::restore(&pa.save()).expect("restore");
    let mut pb2 = SyncPeer::restore(&pb.save()).expect("restore");
    a.set_position(&ep, 1300.0, None).expect("pos");
    let s = sync(&mut a, &mut pa2, &mut b, &mut pb2);
    println!(
        "reconnect with saved sync state + one update: {} bytes in {} messages, {:.2?}",
        s.bytes, s.messages, s.time
    );
}
