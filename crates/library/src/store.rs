//! On-disk persistence of the library: a compacted snapshot plus an append-only log of
//! incremental saves, in one data directory.
//!
//! Files:
//! - `library.snap`: full Automerge save behind a header (magic, length, SHA-256), written
//!   to a temp file, fsynced, then renamed over the old one (atomic on POSIX).
//! - `library.snap.prev`: the snapshot before the last compaction (a hard link kept at
//!   compaction), the fallback when `library.snap` is damaged.
//! - `library.log`: records `"SKLR" | u32 LE length | 8-byte SHA-256 prefix | payload`,
//!   each payload the Automerge changes since the previous record. Appended and fsynced
//!   on every [`Store::save`]; rewritten empty at compaction, which happens when the log
//!   outgrows the snapshot (or [`COMPACT_MIN_LOG`]).
//! - `peers/<hex peer id>.sync`: per-peer sync state, so a reconnect is not a full sync.
//!
//! Damage is never silent and never destroys data: a torn or corrupted log tail, or a
//! damaged snapshot, is reported in [`Opened::recovery`] with the reason, the damaged
//! file is kept as `<name>.damaged-<unix ms>`, and the library opens at the last good
//! state (good snapshot + every intact log record before the damage). Only when no
//! snapshot at all can be read is the open refused ([`StoreError::Unrecoverable`]),
//! with the files left untouched.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use automerge::{AutoCommit, ChangeHash};
use sha2::{Digest, Sha256};

use crate::error::{LibraryError, StoreError};
use crate::library::Library;
use crate::sync::SyncPeer;

const SNAP: &str = "library.snap";
const SNAP_PREV: &str = "library.snap.prev";
const LOG: &str = "library.log";
const PEERS: &str = "peers";
const SNAP_MAGIC: &[u8; 8] = b"SKYLIB01";
const SNAP_HEADER: usize = 8 + 8 + 32;
const REC_MAGIC: &[u8; 4] = b"SKLR";
const REC_HEADER: usize = 4 + 4 + 8;

/// The log is compacted into a new snapshot once it is larger than the snapshot and at
/// least this big: small logs are cheap to replay, large ones slow every start.
pub const COMPACT_MIN_LOG: u64 = 256 * 1024;

/// What was wrong when opening, and what was done about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// One line per problem, naming the file and the damage.
    pub problems: Vec<String>,
    /// Copies of the damaged files, kept for inspection or manual recovery.
    pub kept: Vec<PathBuf>,
    /// Log records that were intact and applied.
    pub records_applied: usize,
    /// Bytes of log that were skipped.
    pub bytes_skipped: u64,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "library store was damaged; opened at the last good state ({} log records applied, {} bytes skipped):",
            self.records_applied, self.bytes_skipped
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        for k in &self.kept {
            writeln!(f, "  damaged copy kept at {}", k.display())?;
        }
        Ok(())
    }
}

/// An opened store with its library.
#[derive(Debug)]
pub struct Opened {
    /// The library at the last good state.
    pub library: Library,
    /// The store, to save further edits.
    pub store: Store,
    /// `Some` when damage was found and repaired; show it to the user.
    pub recovery: Option<Recovery>,
}

/// The on-disk store of one library.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Heads covered by snapshot + log; the next save appends what is after them.
    saved_heads: Vec<ChangeHash>,
    log_len: u64,
    snap_len: u64,
    /// A failed append may have left a partial record: compact before appending again.
    dirty_tail: bool,
    compact_min: u64,
    /// The open `lock` file, exclusively locked (advisory, released on drop or exit): one
    /// writer per store.
    _lock: fs::File,
}

/// The lock file in a store's directory.
pub const LOCK: &str = "lock";
/// Changes handed to the owning process ([`Store::hand_off`]).
pub const INBOX: &str = "inbox";

/// Take the store's exclusive advisory lock without waiting.
fn lock_dir(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join(LOCK);
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            dir: dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// fsync a directory so that renames and new files in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    // Opening a directory for sync is POSIX-only; elsewhere renames are durable enough.
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Write `data` to `path` atomically: temp file in the same directory, fsync, rename,
/// fsync the directory. A crash leaves either the old or the new file, never a mix.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(path, e));
    }
    sync_dir(dir)
}

fn encode_snapshot(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAP_HEADER + body.len());
    out.extend_from_slice(SNAP_MAGIC);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&sha(body));
    out.extend_from_slice(body);
    out
}

/// Decode and load a snapshot file. `Ok(None)` when the file does not exist.
fn read_snapshot(path: &Path) -> Result<Option<(AutoCommit, u64)>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if bytes.len() < SNAP_HEADER || &bytes[..8] != SNAP_MAGIC {
        return Err(format!(
            "not a Skypod library snapshot (bad header, {} bytes)",
            bytes.len()
        ));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[8..16]);
    let len = u64::from_le_bytes(len);
    let body = &bytes[SNAP_HEADER..];
    if body.len() as u64 != len {
        return Err(format!(
            "truncated or padded: header says {len} bytes, file has {}",
            body.len()
        ));
    }
    if sha(body)[..] != bytes[16..48] {
        return Err("checksum mismatch (corrupted)".into());
    }
    let doc = AutoCommit::load(body).map_err(|e| format!("cannot load document: {e}"))?;
    Ok(Some((doc, bytes.len() as u64)))
}

/// Result of scanning the log.
struct LogScan {
    applied: usize,
    good_len: u64,
    total_len: u64,
    problem: Option<String>,
}

/// Apply every intact record of the log to `doc`, stopping at the first damaged one
/// (a torn tail from a crash mid-append, or corruption). Records after a damaged one
/// are not trusted: they could depend on the lost record.
fn replay_log(path: &Path, doc: &mut AutoCommit) -> Result<LogScan, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let mut pos = 0usize;
    let mut applied = 0;
    let mut problem = None;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < REC_HEADER {
            problem = Some(format!(
                "torn record at byte {pos}: {} bytes, shorter than a record header",
                rest.len()
            ));
            break;
        }
        if &rest[..4] != REC_MAGIC {
            problem = Some(format!("bad record marker at byte {pos}"));
            break;
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&rest[4..8]);
        let len = u32::from_le_bytes(len) as usize;
        let Some(payload) = rest.get(REC_HEADER..REC_HEADER + len) else {
            problem = Some(format!(
                "torn record at byte {pos}: header says {len} bytes, only {} left",
                rest.len() - REC_HEADER
            ));
            break;
        };
        if sha(payload)[..8] != rest[8..16] {
            problem = Some(format!("checksum mismatch in record at byte {pos}"));
            break;
        }
        if let Err(e) = doc.load_incremental(payload) {
            problem = Some(format!("record at byte {pos} does not load: {e}"));
            break;
        }
        applied += 1;
        pos += REC_HEADER + len;
    }
    Ok(LogScan {
        applied,
        good_len: pos as u64,
        total_len: bytes.len() as u64,
        problem,
    })
}

fn keep_damaged(path: &Path, stamp: u128) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest = path.with_file_name(format!("{name}.damaged-{stamp}"));
    fs::copy(path, &dest).map_err(|e| StoreError::io(&dest, e))?;
    Ok(Some(dest))
}

impl Store {
    /// Open (or create) the library in `dir` for `device`.
    pub fn open(dir: impl AsRef<Path>, device: &str) -> Result<Opened, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        // Before reading anything: a writer elsewhere could be mid-compaction.
        let lock = lock_dir(&dir)?;
        let snap = dir.join(SNAP);
        let prev = dir.join(SNAP_PREV);
        let log = dir.join(LOG);

        let mut problems = Vec::new();
        let mut damaged_files: Vec<PathBuf> = Vec::new();
        let mut loaded = None;
        for path in [&snap, &prev] {
            match read_snapshot(path) {
                Ok(Some(d)) => {
                    loaded = Some(d);
                    break;
                }
                Ok(None) => {}
                Err(why) => {
                    problems.push(format!("{}: {why}", path.display()));
                    damaged_files.push(path.clone());
                }
            }
        }
        let (mut doc, snap_len) = match loaded {
            Some(d) => d,
            None if problems.is_empty() => {
                // No snapshot at all: a new library, or one that crashed before its
                // first compaction; the log (if any) holds its whole history.
                (crate::library::genesis_doc(), 0)
            }
            None => {
                return Err(StoreError::Unrecoverable {
                    dir,
                    detail: problems.join("; "),
                });
            }
        };
        let scan = replay_log(&log, &mut doc)?;
        if let Some(p) = &scan.problem {
            problems.push(format!(
                "{}: {p}; {} of {} bytes skipped",
                log.display(),
                scan.total_len - scan.good_len,
                scan.total_len
            ));
            damaged_files.push(log.clone());
        }
        let missing = doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            problems.push(format!(
                "{} change(s) depend on history lost with a damaged file; they are kept only in the damaged copy",
                missing.len()
            ));
        }

        let library = Library::from_doc(doc, device.to_owned())?;
        let mut store = Store {
            dir,
            saved_heads: Vec::new(),
            log_len: scan.good_len,
            snap_len,
            dirty_tail: false,
            compact_min: COMPACT_MIN_LOG,
            _lock: lock,
        };
        let mut library = library;
        let recovery = if problems.is_empty() {
            store.saved_heads = library.heads();
            // Migration or genesis may have produced changes not yet on disk.
            store.save(&mut library)?;
            None
        } else {
            let stamp = now_ms();
            let mut kept = Vec::new();
            damaged_files.dedup();
            for f in &damaged_files {
                if let Some(k) = keep_damaged(f, stamp)? {
                    kept.push(k);
                }
            }
            // Rewrite a clean snapshot of the recovered state and an empty log, so
            // later appends do not follow garbage. The damaged bytes live on in `kept`.
            // The previous snapshot is only replaced when it was the damaged one.
            store.compact_inner(
                &mut library,
                damaged_files.contains(&prev) || !prev.exists(),
            )?;
            Some(Recovery {
                problems,
                kept,
                records_applied: scan.applied,
                bytes_skipped: scan.total_len - scan.good_len,
            })
        };
        Ok(Opened {
            library,
            store,
            recovery,
        })
    }

    /// Read the library without taking the lock or writing anything, for reading while
    /// another process owns the store (`skypod node`). A view as of the moment of reading: a
    /// compaction running at the same time can make it miss the newest edits (they are in
    /// the new snapshot), never corrupt it; damage is skipped as [`Store::open`] would, but
    /// not repaired.
    pub fn read_only(dir: impl AsRef<Path>, device: &str) -> Result<Library, StoreError> {
        let dir = dir.as_ref();
        let mut problems = Vec::new();
        let mut loaded = None;
        for path in [dir.join(SNAP), dir.join(SNAP_PREV)] {
            match read_snapshot(&path) {
                Ok(Some((d, _))) => {
                    loaded = Some(d);
                    break;
                }
                Ok(None) => {}
                Err(why) => problems.push(format!("{}: {why}", path.display())),
            }
        }
        let mut doc = match loaded {
            Some(d) => d,
            None if problems.is_empty() => crate::library::genesis_doc(),
            None => {
                return Err(StoreError::Unrecoverable {
                    dir: dir.to_owned(),
                    detail: problems.join("; "),
                });
            }
        };
        replay_log(&dir.join(LOG), &mut doc)?;
        Ok(Library::from_doc(doc, device.to_owned())?)
    }

    /// Hand edits made on a [`Store::read_only`] view to the process that owns the store:
    /// the changes after `since` (the view's heads when it was read) go to
    /// `<dir>/inbox/*.chg` (written atomically), which the owner merges with
    /// [`Store::take_inbox`]. Returns false when there was nothing to hand over.
    pub fn hand_off(
        dir: impl AsRef<Path>,
        lib: &mut Library,
        since: &[ChangeHash],
    ) -> Result<bool, StoreError> {
        lib.commit();
        let payload = lib.doc.save_after(since);
        if payload.is_empty() {
            return Ok(false);
        }
        let inbox = dir.as_ref().join(INBOX);
        fs::create_dir_all(&inbox).map_err(|e| StoreError::io(&inbox, e))?;
        let tag: String = sha(&payload)[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = format!("{}-{tag}.chg", now_ms());
        write_atomic(&inbox.join(name), &payload)?;
        Ok(true)
    }

    /// Merge and save what other processes handed over ([`Store::hand_off`]), oldest first;
    /// each file is removed once its changes are saved. A file that does not decode is
    /// renamed `*.bad` (kept for inspection, never retried). Returns how many were merged.
    pub fn take_inbox(&mut self, lib: &mut Library) -> Result<usize, StoreError> {
        let inbox = self.dir.join(INBOX);
        let mut files: Vec<PathBuf> = match fs::read_dir(&inbox) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "chg"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&inbox, e)),
        };
        files.sort();
        let mut merged = Vec::new();
        for f in files {
            let bytes = fs::read(&f).map_err(|e| StoreError::io(&f, e))?;
            lib.commit();
            // Automerge's incremental load skips what it cannot parse; insist on its chunk
            // magic so that a stray file is set aside rather than silently dropped.
            const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
            if !bytes.starts_with(&CHUNK_MAGIC) || lib.doc.load_incremental(&bytes).is_err() {
                let bad = f.with_extension("bad");
                fs::rename(&f, &bad).map_err(|e| StoreError::io(&bad, e))?;
                continue;
            }
            merged.push(f);
        }
        if merged.is_empty() {
            return Ok(0);
        }
        self.save(lib)?;
        for f in &merged {
            fs::remove_file(f).map_err(|e| StoreError::io(f, e))?;
        }
        Ok(merged.len())
    }

    /// Data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Change the minimum log size before compaction (default [`COMPACT_MIN_LOG`]).
    pub fn set_compact_threshold(&mut self, bytes: u64) {
        self.compact_min = bytes;
    }

    /// Bytes currently in the snapshot file.
    pub fn snapshot_len(&self) -> u64 {
        self.snap_len
    }

    /// Bytes currently in the log.
    pub fn log_len(&self) -> u64 {
        self.log_len
    }

    /// Persist everything not yet on disk (commits pending edits first): appends one
    /// fsynced log record, and compacts when the log has outgrown the snapshot.
    /// Returns the number of bytes appended (0 when there was nothing new).
    pub fn save(&mut self, lib: &mut Library) -> Result<u64, StoreError> {
        if self.dirty_tail {
            self.compact(lib)?;
            return Ok(0);
        }
        lib.commit();
        let payload = lib.doc.save_after(&self.saved_heads);
        if payload.is_empty() {
            return Ok(0);
        }
        let path = self.dir.join(LOG);
        let mut rec = Vec::with_capacity(REC_HEADER + payload.len());
        rec.extend_from_slice(REC_MAGIC);
        let len = u32::try_from(payload.len()).map_err(|_| {
            StoreError::Library(LibraryError::Invalid {
                what: "log record",
                why: "larger than 4 GiB".into(),
            })
        })?;
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&sha(&payload)[..8]);
        rec.extend_from_slice(&payload);
        let res = (|| {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(&rec)?;
            f.sync_data()
        })();
        if let Err(e) = res {
            self.dirty_tail = true;
            return Err(StoreError::io(&path, e));
        }
        if self.log_len == 0 {
            // The log file may be new: make its directory entry durable.
            sync_dir(&self.dir)?;
        }
        self.log_len += rec.len() as u64;
        self.saved_heads = lib.doc.get_heads();
        if self.log_len >= self.compact_min && self.log_len > self.snap_len {
            self.compact(lib)?;
        }
        Ok(rec.len() as u64)
    }

    /// Write a full snapshot and start an empty log.
    pub fn compact(&mut self, lib: &mut Library) -> Result<(), StoreError> {
        self.compact_inner(lib, true)
    }

    fn compact_inner(&mut self, lib: &mut Library, rotate_prev: bool) -> Result<(), StoreError> {
        lib.commit();
        let body = lib.doc.save();
        let snap = self.dir.join(SNAP);
        let prev = self.dir.join(SNAP_PREV);
        if rotate_prev && snap.exists() {
            // Keep the current snapshot as the fallback before replacing it. A hard link
            // costs nothing; copy where links are unsupported.
            let _ = fs::remove_file(&prev);
            if fs::hard_link(&snap, &prev).is_err() {
                fs::copy(&snap, &prev).map_err(|e| StoreError::io(&prev, e))?;
            }
        }
        let data = encode_snapshot(&body);
        write_atomic(&snap, &data)?;
        // Order matters: the new snapshot is durable before the log is emptied, so a
        // crash in between only replays changes the snapshot already has (harmless).
        write_atomic(&self.dir.join(LOG), &[])?;
        self.snap_len = data.len() as u64;
        self.log_len = 0;
        self.dirty_tail = false;
        self.saved_heads = lib.doc.get_heads();
        Ok(())
    }

    fn peer_path(&self, peer: &str) -> PathBuf {
        // Hex keeps any peer id a safe file name.
        let hex: String = peer.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(PEERS).join(format!("{hex}.sync"))
    }

    /// Persist the sync state with `peer`.
    pub fn save_peer_state(&self, peer: &str, state: &SyncPeer) -> Result<(), StoreError> {
        let path = self.peer_path(peer);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
        }
        write_atomic(&path, &state.save())
    }

    /// The saved sync state with `peer`. `None` if there is none, or if it is damaged:
    /// a lost sync state only costs a larger first sync, never data.
    pub fn load_peer_state(&self, peer: &str) -> Option<SyncPeer> {
        let bytes = fs::read(self.peer_path(peer)).ok()?;
        SyncPeer::restore(&bytes).ok()
    }
}
