//! Persistence: incremental saves, compaction, atomic files, damaged-file recovery.

use std::fs;
use std::path::Path;

use skypod_library::{Library, NewFeed, Store, StoreError, SyncPeer, episode_key};

fn feed(i: usize) -> NewFeed {
    NewFeed {
        url: format!("https://feeds.example/{i}.xml"),
        title: Some(format!("Show {i}")),
        folder: vec!["Folder".into()],
        ..Default::default()
    }
}

/// Every file of a store directory with its bytes, to show that something changed nothing.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fs::read_dir(dir)
        .expect("ls")
        .map(|e| {
            let p = e.expect("entry").path();
            (p.clone(), fs::read(&p).expect("read"))
        })
        .collect()
}

fn urls(lib: &Library) -> Vec<String> {
    lib.feeds().into_iter().map(|f| f.url).collect()
}

#[test]
fn incremental_saves_reopen_and_compact() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = Store::open(dir.path(), "dev").expect("open");
    assert!(o.recovery.is_none());
    o.store.set_compact_threshold(8 * 1024);
    let ep = episode_key("https://feeds.example/0.xml", "e1").expect("key");
    for i in 0..10 {
        o.library.subscribe(feed(i)).expect("sub");
        let n = o.store.save(&mut o.library).expect("save");
        assert!(n > 0, "each save appends a record");
    }
    assert_eq!(
        o.store.save(&mut o.library).expect("save"),
        0,
        "nothing new"
    );
    o.library.set_position(&ep, 42.0, Some(100.0)).expect("pos");
    let small = o.store.save(&mut o.library).expect("save");
    assert!(small < 512, "a position update appends {small} bytes");
    let before_heads = o.library.heads();
    drop(o);

    let mut o = Store::open(dir.path(), "dev").expect("reopen");
    assert!(o.recovery.is_none());
    assert_eq!(o.library.heads(), before_heads);
    assert_eq!(o.library.feed_count(), 10);
    assert_eq!(o.library.my_play(&ep).expect("rec").position, 42.0);

    // Grow the log past the threshold: compaction rewrites the snapshot and empties the log.
    o.store.set_compact_threshold(8 * 1024);
    let mut compacted = false;
    for i in 10..400 {
        o.library.subscribe(feed(i)).expect("sub");
        if i % 10 == 0 {
            o.store.save(&mut o.library).expect("save");
            if o.store.log_len() == 0 {
                compacted = true;
            }
        }
    }
    o.store.save(&mut o.library).expect("save");
    assert!(compacted, "log never compacted");
    assert!(dir.path().join("library.snap").exists());
    assert!(dir.path().join("library.snap.prev").exists());
    let heads = o.library.heads();
    drop(o);
    let mut o = Store::open(dir.path(), "dev").expect("reopen");
    assert!(o.recovery.is_none());
    assert_eq!(o.library.heads(), heads);
    assert_eq!(o.library.feed_count(), 400);
    // No temp files left behind by atomic writes.
    for e in fs::read_dir(dir.path()).expect("ls") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "leftover {name}");
    }
}

fn setup_with_log(dir: &Path) -> (Vec<String>, Vec<String>) {
    // 5 feeds in the snapshot, then 3 saves of one feed each in the log.
    let mut o = Store::open(dir, "dev").expect("open");
    for i in 0..5 {
        o.library.subscribe(feed(i)).expect("sub");
    }
    o.store.compact(&mut o.library).expect("compact");
    let snap_urls = urls(&o.library);
    for i in 5..8 {
        o.library.subscribe(feed(i)).expect("sub");
        o.store.save(&mut o.library).expect("save");
    }
    (snap_urls, urls(&o.library))
}

#[test]
fn truncated_log_tail_opens_last_good_state_with_clear_report() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, all) = setup_with_log(dir.path());
    let log = dir.path().join("library.log");
    let len = fs::metadata(&log).expect("meta").len();
    // A crash mid-append: the last record is cut short.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open log");
    f.set_len(len - 5).expect("truncate");
    drop(f);

    let o = Store::open(dir.path(), "dev").expect("open recovers");
    let rec = o.recovery.clone().expect("damage reported");
    let text = rec.to_string();
    assert!(text.contains("torn record"), "{text}");
    assert_eq!(rec.records_applied, 2);
    assert!(rec.bytes_skipped > 0);
    assert_eq!(rec.kept.len(), 1);
    assert!(rec.kept[0].exists(), "damaged copy kept");
    assert_eq!(fs::metadata(&rec.kept[0]).expect("meta").len(), len - 5);
    // Last good state: everything but the torn record.
    assert_eq!(urls(&o.library), all[..7].to_vec());
    drop(o);
    // The store was repaired: a second open is clean and has the same state.
    let o = Store::open(dir.path(), "dev").expect("open");
    assert!(o.recovery.is_none());
    assert_eq!(urls(&o.library), all[..7].to_vec());
}

#[test]
fn corrupted_log_record_stops_there() {
    let dir = tempfile::tempdir().expect("tmp");
    let (snap, all) = setup_with_log(dir.path());
    let log = dir.path().join("library.log");
    let mut bytes = fs::read(&log).expect("read");
    // Flip a byte inside the first record's payload.
    bytes[20] ^= 0xff;
    fs::write(&log, &bytes).expect("write");
    let o = Store::open(dir.path(), "dev").expect("open recovers");
    let rec = o.recovery.expect("damage reported");
    assert!(rec.to_string().contains("checksum mismatch"), "{rec}");
    assert_eq!(rec.records_applied, 0);
    assert_eq!(urls(&o.library), snap);
    assert_ne!(snap, all);
}

#[test]
fn corrupted_snapshot_falls_back_to_previous_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = Store::open(dir.path(), "dev").expect("open");
    for i in 0..3 {
        o.library.subscribe(feed(i)).expect("sub");
    }
    o.store.compact(&mut o.library).expect("compact 1");
    let first = urls(&o.library);
    for i in 3..6 {
        o.library.subscribe(feed(i)).expect("sub");
    }
    o.store.compact(&mut o.library).expect("compact 2");
    drop(o);
    let snap = dir.path().join("library.snap");
    let mut bytes = fs::read(&snap).expect("read");
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    fs::write(&snap, &bytes).expect("write");

    let o = Store::open(dir.path(), "dev").expect("open recovers");
    let rec = o.recovery.expect("damage reported");
    let text = rec.to_string();
    assert!(text.contains("library.snap: checksum mismatch"), "{text}");
    assert_eq!(urls(&o.library), first, "previous snapshot's state");
    assert!(
        rec.kept
            .iter()
            .any(|k| k.to_string_lossy().contains("library.snap.damaged-"))
    );
}

#[test]
fn truncated_only_snapshot_is_a_clear_error_and_files_are_untouched() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = Store::open(dir.path(), "dev").expect("open");
    o.library.subscribe(feed(1)).expect("sub");
    o.store.compact(&mut o.library).expect("compact");
    drop(o);
    let _ = fs::remove_file(dir.path().join("library.snap.prev"));
    let snap = dir.path().join("library.snap");
    let bytes = fs::read(&snap).expect("read");
    fs::write(&snap, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = Store::open(dir.path(), "dev").expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Unrecoverable { .. }));
    assert!(msg.contains("truncated"), "{msg}");
    assert_eq!(
        fs::read(&snap).expect("read").len(),
        bytes.len() / 2,
        "left untouched"
    );
}

#[test]
fn peer_sync_state_persists() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = Store::open(dir.path(), "dev").expect("open");
    assert!(o.store.load_peer_state("peer/../x").is_none());
    let mut other = Library::new("other").expect("lib");
    other.subscribe(feed(1)).expect("sub");
    let mut a = SyncPeer::new();
    let mut b = SyncPeer::new();
    for _ in 0..10 {
        if let Some(m) = o.library.generate_sync_message(&mut a) {
            other.receive_sync_message(&mut b, &m).expect("recv");
        }
        if let Some(m) = other.generate_sync_message(&mut b) {
            o.library.receive_sync_message(&mut a, &m).expect("recv");
        }
    }
    assert_eq!(o.library.feed_count(), 1);
    o.store
        .save_peer_state("peer/../x", &a)
        .expect("save state");
    let restored = o.store.load_peer_state("peer/../x").expect("restored");
    assert_eq!(restored.save(), a.save());
    // Garbage state file: treated as no state (a full sync), not an error.
    let p = fs::read_dir(dir.path().join("peers"))
        .expect("ls")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    fs::write(&p, b"junk").expect("write");
    assert!(o.store.load_peer_state("peer/../x").is_none());
}

#[test]
fn a_second_open_store_is_refused_until_the_first_is_closed() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut first = Store::open(dir.path(), "dev").expect("open");
    first.library.subscribe(feed(1)).expect("sub");
    first.store.save(&mut first.library).expect("save");
    let before: Vec<_> = files(dir.path());
    match Store::open(dir.path(), "dev") {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(e.to_string().contains("in use"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second writer was let in"),
    }
    // The refused open changed nothing on disk.
    for (p, bytes) in &before {
        assert_eq!(&fs::read(p).expect("read"), bytes, "{}", p.display());
    }
    drop(first);
    let again = Store::open(dir.path(), "dev").expect("open after close");
    assert_eq!(urls(&again.library), vec!["https://feeds.example/1.xml"]);
}

#[test]
fn a_read_only_view_needs_no_lock_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut owner = Store::open(dir.path(), "dev").expect("open");
    owner.library.subscribe(feed(1)).expect("sub");
    owner.store.save(&mut owner.library).expect("save");
    owner.library.subscribe(feed(2)).expect("sub");
    owner.store.save(&mut owner.library).expect("save");
    let before: Vec<_> = files(dir.path());
    // While the owner holds the lock: snapshot + log, both edits.
    let view = Store::read_only(dir.path(), "dev").expect("read-only");
    assert_eq!(urls(&view), urls(&owner.library));
    assert_eq!(urls(&view).len(), 2);
    let after: Vec<_> = files(dir.path());
    assert_eq!(before, after, "a read-only view changed the store");
}

#[test]
fn edits_on_a_read_only_view_are_handed_to_the_owner() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut owner = Store::open(dir.path(), "dev").expect("open");
    owner.library.subscribe(feed(1)).expect("sub");
    owner.store.save(&mut owner.library).expect("save");
    let mut view = Store::read_only(dir.path(), "dev").expect("view");
    let since = view.heads();
    assert!(!Store::hand_off(dir.path(), &mut view, &since).expect("nothing"));
    view.subscribe(feed(2)).expect("sub");
    assert!(Store::hand_off(dir.path(), &mut view, &since).expect("hand off"));
    // A file that is not a change is set aside, not retried and not fatal.
    let inbox = dir.path().join("inbox");
    fs::write(inbox.join("0-garbage.chg"), b"not automerge").expect("write");
    // The owner edits concurrently; both survive the merge.
    owner.library.subscribe(feed(3)).expect("sub");
    assert_eq!(owner.store.take_inbox(&mut owner.library).expect("take"), 1);
    let mut want = vec![
        "https://feeds.example/1.xml",
        "https://feeds.example/2.xml",
        "https://feeds.example/3.xml",
    ];
    want.sort();
    let mut have = urls(&owner.library);
    have.sort();
    assert_eq!(have, want);
    let left: Vec<_> = fs::read_dir(&inbox)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["0-garbage.bad"]);
    assert_eq!(
        owner.store.take_inbox(&mut owner.library).expect("again"),
        0
    );
    // Saved: a reopen has all three.
    drop(owner);
    let again = Store::open(dir.path(), "dev").expect("reopen");
    assert_eq!(urls(&again.library).len(), 3);
}
