//! Three replicas partitioned, each edits, reconnected through an in-memory transport
//! running the real Automerge sync protocol.

use crate::common::{Net, Node};
use skypod_library::automerge::{self, ReadDoc};
use skypod_library::{Library, NewFeed, SyncPeer, episode_key};

fn clock(lib: &mut Library, t: i64) {
    lib.set_clock(move || t);
}

#[test]
fn three_replicas_partitioned_then_merge_identically() {
    let mut nodes = vec![Node::new("phone"), Node::new("laptop"), Node::new("server")];
    let mut net = Net::default();
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        net.connect(&mut nodes, a, b);
    }
    // Shared starting point: a few subscriptions everybody has.
    clock(&mut nodes[0].lib, 1_000);
    for i in 0..3 {
        nodes[0]
            .lib
            .subscribe(NewFeed::url(format!("https://shared.example/{i}.xml")))
            .expect("subscribe");
    }
    nodes[0].lib.set_device_name("Phone").expect("name");
    net.run(&mut nodes);
    let h0 = nodes[0].lib.heads();
    assert!(nodes.iter_mut().all(|n| n.lib.heads() == h0));
    assert_eq!(nodes[2].lib.feed_count(), 3);

    // Partition.
    net.disconnect_all(&mut nodes);
    let ep = episode_key("https://shared.example/0.xml", "ep-1").expect("key");
    let ep2 = episode_key("https://shared.example/1.xml", "ep-7").expect("key");

    // phone: new subscription, position on ep at t=2000, queue ep.
    let phone = &mut nodes[0].lib;
    clock(phone, 2_000);
    phone
        .subscribe(NewFeed {
            url: "https://phone.example/feed.xml".into(),
            title: Some("Phone only".into()),
            folder: vec!["News".into()],
            tags: vec!["daily".into()],
            ..Default::default()
        })
        .expect("subscribe");
    phone.set_position(&ep, 754.0, Some(3600.0)).expect("pos");
    phone.queue_add(&ep).expect("queue");
    phone
        .add_tag("https://shared.example/0.xml", "fav")
        .expect("tag");

    // laptop: another subscription, a later position on the same episode, its name.
    let laptop = &mut nodes[1].lib;
    clock(laptop, 3_000);
    laptop
        .subscribe(NewFeed::url("https://laptop.example/feed.xml"))
        .expect("subscribe");
    laptop.set_position(&ep, 1200.5, Some(3600.0)).expect("pos");
    laptop.set_device_name("Laptop").expect("name");
    laptop
        .add_tag("https://shared.example/0.xml", "tech")
        .expect("tag");

    // server: a third subscription, an unsubscribe, a queue change.
    let server = &mut nodes[2].lib;
    clock(server, 2_500);
    server
        .subscribe(NewFeed::url("https://server.example/feed.xml"))
        .expect("subscribe");
    assert!(
        server
            .unsubscribe("https://shared.example/2.xml")
            .expect("unsub")
    );
    server.queue_add(&ep2).expect("queue");
    server.queue_add(&ep).expect("queue");
    assert!(server.queue_remove(&ep2).expect("queue remove"));
    server.mark_played(&ep2, true).expect("played");

    // Heads differ while partitioned.
    assert_ne!(nodes[0].lib.heads(), nodes[1].lib.heads());

    // Reconnect with the saved per-peer states.
    net.bytes = 0;
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        net.connect(&mut nodes, a, b);
    }
    net.run(&mut nodes);
    let reconnect_bytes = net.bytes;

    let heads = nodes[0].lib.heads();
    for n in nodes.iter_mut() {
        assert_eq!(n.lib.heads(), heads, "{} did not converge", n.id);
    }
    // Same heads means same history; check the materialized content too.
    let states: Vec<_> = nodes
        .iter()
        .map(|n| n.lib.doc().hydrate(automerge::ROOT, None).expect("hydrate"))
        .collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]), "documents differ");

    for n in &nodes {
        let lib = &n.lib;
        let urls: Vec<String> = lib.feeds().into_iter().map(|f| f.url).collect();
        assert_eq!(
            urls,
            vec![
                "https://laptop.example/feed.xml",
                "https://phone.example/feed.xml",
                "https://server.example/feed.xml",
                "https://shared.example/0.xml",
                "https://shared.example/1.xml",
            ],
            "on {}",
            n.id
        );
        let f = lib
            .feed("https://phone.example/feed.xml")
            .expect("ok")
            .expect("feed");
        assert_eq!(f.folder, vec!["News"]);
        assert_eq!(f.title, "Phone only");
        let shared = lib
            .feed("https://shared.example/0.xml")
            .expect("ok")
            .expect("feed");
        // Concurrent tag additions both survive (tags are a set).
        assert_eq!(
            shared.tags.into_iter().collect::<Vec<_>>(),
            vec!["fav", "tech"]
        );

        // Per-device positions intact; the newest wins "continue from".
        assert_eq!(lib.play("phone", &ep).expect("phone rec").position, 754.0);
        assert_eq!(
            lib.play("laptop", &ep).expect("laptop rec").position,
            1200.5
        );
        let cont = lib.continue_from(&ep);
        assert_eq!(cont.len(), 2);
        assert_eq!(cont[0].device, "laptop");
        assert_eq!(cont[0].device_name.as_deref(), Some("Laptop"));
        assert_eq!(cont[0].record.position, 1200.5);
        assert_eq!(cont[0].record.updated, 3_000);
        assert_eq!(cont[1].device, "phone");
        assert!(lib.play("server", &ep2).expect("server rec").completed);

        // Per-device queues intact.
        assert_eq!(lib.queue_of("phone"), vec![ep.clone()]);
        assert_eq!(lib.queue_of("server"), vec![ep.clone()]);
        assert!(lib.queue_of("laptop").is_empty());
    }
    // The phone is offered to continue from the laptop.
    let offer = nodes[0].lib.resume_offer(&ep).expect("offer");
    assert_eq!(
        (offer.device.as_str(), offer.record.position),
        ("laptop", 1200.5)
    );
    assert!(nodes[1].lib.resume_offer(&ep).is_none());

    // A new peer can still sync the converged document from scratch. (For a library
    // this small, reconnect traffic between three peers that each hold different
    // changes is larger than one fresh sync; the benchmark shows the saved-state gain
    // on a real-sized library: ~500 B instead of 0.63 MiB.)
    let mut fresh = Library::new("fresh").expect("lib");
    let mut a = SyncPeer::new();
    let mut b = SyncPeer::new();
    let mut full = 0u64;
    loop {
        let m1 = nodes[0].lib.generate_sync_message(&mut a);
        if let Some(m) = &m1 {
            full += m.len() as u64;
            fresh.receive_sync_message(&mut b, m).expect("recv");
        }
        let m2 = fresh.generate_sync_message(&mut b);
        if let Some(m) = &m2 {
            full += m.len() as u64;
            nodes[0].lib.receive_sync_message(&mut a, m).expect("recv");
        }
        if m1.is_none() && m2.is_none() {
            break;
        }
    }
    assert_eq!(fresh.heads(), heads);
    eprintln!("reconnect traffic {reconnect_bytes} B (3 links), full sync to a new peer {full} B");
}

#[test]
fn offline_edits_merge_when_devices_meet() {
    let mut nodes = vec![Node::new("a"), Node::new("b")];
    let mut net = Net::default();
    // Both devices start offline with their own library: the deterministic genesis
    // makes their top-level maps the same objects, so nothing is hidden on merge.
    nodes[0]
        .lib
        .subscribe(NewFeed::url("https://a.example/x.xml"))
        .expect("sub");
    nodes[1]
        .lib
        .subscribe(NewFeed::url("https://b.example/y.xml"))
        .expect("sub");
    // Both subscribe to the same feed concurrently: one entry.
    nodes[0]
        .lib
        .subscribe(NewFeed::url("https://both.example/z.xml"))
        .expect("sub");
    nodes[1]
        .lib
        .subscribe(NewFeed::url("https://BOTH.example/z.xml#frag"))
        .expect("sub");
    let ep = episode_key("https://both.example/z.xml", "g").expect("key");
    nodes[0].lib.set_position(&ep, 10.0, None).expect("pos");
    nodes[1].lib.set_position(&ep, 20.0, None).expect("pos");
    net.connect(&mut nodes, 0, 1);
    net.run(&mut nodes);
    let h = nodes[0].lib.heads();
    assert_eq!(nodes[1].lib.heads(), h);
    for n in &nodes {
        assert_eq!(n.lib.feed_count(), 3);
        assert_eq!(n.lib.play("a", &ep).expect("a").position, 10.0);
        assert_eq!(n.lib.play("b", &ep).expect("b").position, 20.0);
    }
    // A later edit on one side syncs as a small message.
    net.bytes = 0;
    nodes[0].lib.set_position(&ep, 11.0, None).expect("pos");
    net.run(&mut nodes);
    assert_eq!(nodes[1].lib.play("a", &ep).expect("a").position, 11.0);
    assert!(net.bytes < 2048, "one update cost {} bytes", net.bytes);
}

#[test]
fn malformed_sync_messages_are_errors_not_panics() {
    let mut lib = Library::new("x").expect("lib");
    let mut peer = SyncPeer::new();
    for bad in [
        &b""[..],
        b"\x42",
        b"\x43\xff\xff\xff\xff",
        b"hello",
        &[0x42; 64],
    ] {
        assert!(lib.receive_sync_message(&mut peer, bad).is_err());
    }
    assert!(SyncPeer::restore(b"garbage").is_err());
    // The document is unchanged and still usable.
    lib.subscribe(NewFeed::url("https://ok.example/f"))
        .expect("sub");
    assert_eq!(lib.feed_count(), 1);
}

/// A library whose saved form is well above the 64 KiB full-document fast path:
/// titles from a cheap PRNG compress poorly.
fn big_library(device: &str) -> Library {
    let mut lib = Library::new(device).expect("lib");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2000 {
        let title: String = (0..60)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        lib.subscribe(NewFeed {
            url: format!("https://big.example/{i}.xml"),
            title: Some(title),
            ..Default::default()
        })
        .expect("sub");
    }
    lib
}

fn pump(a: &mut Library, pa: &mut SyncPeer, b: &mut Library, pb: &mut SyncPeer) -> (u64, usize) {
    let (mut bytes, mut largest) = (0u64, 0usize);
    for _ in 0..100 {
        let m1 = a.generate_sync_message(pa);
        if let Some(m) = &m1 {
            bytes += m.len() as u64;
            largest = largest.max(m.len());
            b.receive_sync_message(pb, m).expect("recv");
        }
        let m2 = b.generate_sync_message(pb);
        if let Some(m) = &m2 {
            bytes += m.len() as u64;
            largest = largest.max(m.len());
            a.receive_sync_message(pa, m).expect("recv");
        }
        if m1.is_none() && m2.is_none() {
            return (bytes, largest);
        }
    }
    panic!("no convergence");
}

#[test]
fn initial_sync_of_a_large_library_to_a_new_device() {
    let mut a = big_library("old");
    let mut b = Library::new("new").expect("lib");
    let (mut pa, mut pb) = (SyncPeer::new(), SyncPeer::new());
    let (_, largest) = pump(&mut a, &mut pa, &mut b, &mut pb);
    assert!(largest > 64 * 1024, "fast path not exercised ({largest} B)");
    assert_eq!(a.heads(), b.heads());
    assert_eq!(b.feed_count(), 2000);
    // The new device keeps its own identity and can edit; the sender learned our heads,
    // so a later update is small (no bloom filter over the whole history).
    let ep = episode_key("https://big.example/1.xml", "e").expect("key");
    b.set_position(&ep, 5.0, None).expect("pos");
    a.set_position(&ep, 7.0, None).expect("pos");
    let (bytes, _) = pump(&mut a, &mut pa, &mut b, &mut pb);
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.play("new", &ep).expect("rec").position, 5.0);
    assert_eq!(b.play("old", &ep).expect("rec").position, 7.0);
    assert!(bytes < 2048, "two concurrent updates cost {bytes} B");
}

#[test]
fn large_sync_to_a_device_with_its_own_edits_merges_both() {
    let mut a = big_library("old");
    let mut b = Library::new("new").expect("lib");
    b.subscribe(NewFeed::url("https://mine.example/only.xml"))
        .expect("sub");
    let (mut pa, mut pb) = (SyncPeer::new(), SyncPeer::new());
    pump(&mut a, &mut pa, &mut b, &mut pb);
    assert_eq!(a.heads(), b.heads());
    assert_eq!(b.feed_count(), 2001);
    assert!(a.is_subscribed("https://mine.example/only.xml"));
}

#[test]
fn mutated_sync_messages_never_panic() {
    // Capture real messages of a sync, then replay bit-flipped, truncated and spliced
    // copies of them into fresh receivers: every one must be Ok or Err, never a panic.
    let mut a = Library::new("a").expect("lib");
    for i in 0..20 {
        a.subscribe(NewFeed::url(format!("https://m.example/{i}")))
            .expect("sub");
        let ep = episode_key(&format!("https://m.example/{i}"), "e").expect("key");
        a.set_position(&ep, i as f64, Some(100.0)).expect("pos");
        a.commit();
    }
    let mut b = Library::new("b").expect("lib");
    let (mut pa, mut pb) = (SyncPeer::new(), SyncPeer::new());
    let mut msgs = Vec::new();
    for _ in 0..10 {
        if let Some(m) = a.generate_sync_message(&mut pa) {
            b.receive_sync_message(&mut pb, &m).expect("recv");
            msgs.push(m);
        }
        if let Some(m) = b.generate_sync_message(&mut pb) {
            a.receive_sync_message(&mut pa, &m).expect("recv");
            msgs.push(m);
        }
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut errors = 0;
    for i in 0..1500 {
        let base = &msgs[i % msgs.len()];
        let mut m = base.clone();
        match rnd() % 3 {
            0 => {
                for _ in 0..1 + rnd() % 4 {
                    let at = (rnd() as usize) % m.len();
                    m[at] ^= 1 << (rnd() % 8);
                }
            }
            1 => m.truncate((rnd() as usize) % m.len()),
            _ => {
                let other = &msgs[(rnd() as usize) % msgs.len()];
                let cut = (rnd() as usize) % m.len().min(other.len()).max(1);
                m.truncate(cut);
                m.extend_from_slice(&other[cut.min(other.len())..]);
            }
        }
        let mut r = Library::new("r").expect("lib");
        let mut pr = SyncPeer::new();
        if r.receive_sync_message(&mut pr, &m).is_err() {
            errors += 1;
        }
        // The receiver stays usable and can answer.
        let _ = r.generate_sync_message(&mut pr);
        r.subscribe(NewFeed::url("https://after.example/f"))
            .expect("still writable");
    }
    assert!(errors > 0);
}
