//! The library document and its typed API.
//!
//! Layout of the Automerge document (schema version 1):
//!
//! ```text
//! {
//!   schema:        uint                      -- SCHEMA_VERSION
//!   subscriptions: { <feed url>: { title, html_url?, folder: [str], tags: {tag: true},
//!                                  added: int ms, settings: {key: scalar} } }
//!   plays:         { <device id>: { <episode key>: { position: f64 s, duration: f64 s,
//!                                                    completed: bool, speed: f64,
//!                                                    updated: int ms } } }
//!   queues:        { <device id>: [<episode key>] }
//!   settings:      { key: scalar }
//!   devices:       { <device id>: { name: str } }
//! }
//! ```
//!
//! Design choices that follow from Automerge resolving concurrent writes to one field
//! by op order rather than by wall clock:
//! - play records and queues are keyed by device, and only that device writes under
//!   its key, so two devices never race on the same field; "which device is newest"
//!   is decided by us from `updated`, in [`Library::continue_from`];
//! - subscriptions are keyed by normalized feed URL, so subscribing twice to the same
//!   feed from two devices merges into one entry;
//! - tags are a map used as a set, so concurrent tag additions all survive;
//! - every top-level container is created by one deterministic genesis change that
//!   every replica produces byte for byte, so two devices that start offline never
//!   create two competing `subscriptions` maps (one of which Automerge would hide).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};

use crate::error::LibraryError;

/// Current schema version of the document.
pub const SCHEMA_VERSION: u64 = 1;

pub(crate) const K_SCHEMA: &str = "schema";
pub(crate) const K_SUBS: &str = "subscriptions";
pub(crate) const K_PLAYS: &str = "plays";
pub(crate) const K_QUEUES: &str = "queues";
pub(crate) const K_SETTINGS: &str = "settings";
pub(crate) const K_DEVICES: &str = "devices";
const TOP_MAPS: [&str; 5] = [K_SUBS, K_PLAYS, K_QUEUES, K_SETTINGS, K_DEVICES];

/// The actor of the genesis change. Fixed so that every replica's genesis change has
/// the same hash and merges as one change instead of conflicting.
const GENESIS_ACTOR: [u8; 16] = *b"skypod-library\x00\x01";

/// Longest string accepted for titles, names, tags, keys (bytes). Keeps one bad
/// import from bloating every replica.
const MAX_TEXT: usize = 4096;
/// Longest folder path accepted.
const MAX_FOLDER_DEPTH: usize = 32;

/// A device id (the realm `identid` of the device).
pub type DeviceId = String;

/// A value of a global or per-feed setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    Str(String),
}

impl SettingValue {
    fn to_scalar(&self) -> ScalarValue {
        match self {
            Self::Bool(b) => ScalarValue::Boolean(*b),
            Self::Int(i) => ScalarValue::Int(*i),
            Self::Float(f) => ScalarValue::F64(*f),
            Self::Str(s) => ScalarValue::Str(s.as_str().into()),
        }
    }

    fn from_value(doc: &AutoCommit, v: &Value<'_>, id: &ObjId) -> Option<Self> {
        match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Boolean(b) => Some(Self::Bool(*b)),
                ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(Self::Int(*i)),
                ScalarValue::Uint(u) => Some(Self::Int(i64::try_from(*u).unwrap_or(i64::MAX))),
                ScalarValue::F64(f) => Some(Self::Float(*f)),
                ScalarValue::Str(s) => Some(Self::Str(s.to_string())),
                _ => None,
            },
            // JS writes plain strings as Text objects.
            Value::Object(ObjType::Text) => doc.text(id).ok().map(Self::Str),
            Value::Object(_) => None,
        }
    }
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feed {
    /// Normalized feed URL (the key).
    pub url: String,
    /// Title (from the feed or the OPML file); may be empty until fetched.
    pub title: String,
    /// Web site of the feed, if known.
    pub html_url: Option<String>,
    /// Folder path from the top, e.g. `["News", "Tech"]`; empty = top level.
    pub folder: Vec<String>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// When it was added, Unix milliseconds.
    pub added: i64,
    /// Per-feed settings (speed, skip intro, ...), free-form so that clients can add
    /// settings without a schema change.
    pub settings: BTreeMap<String, SettingValue>,
}

/// What to subscribe to.
#[derive(Debug, Clone, Default)]
pub struct NewFeed {
    /// Feed URL (normalized before use as key).
    pub url: String,
    /// Title, if known.
    pub title: Option<String>,
    /// Web site, if known.
    pub html_url: Option<String>,
    /// Folder path.
    pub folder: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
}

impl NewFeed {
    /// A feed at the top level with no title yet.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Default::default()
        }
    }
}

/// Result of [`Library::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// Added, under this normalized URL.
    Added(String),
    /// Already subscribed (nothing changed), under this normalized URL.
    Already(String),
}

impl Subscribed {
    /// The normalized URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Added(u) | Self::Already(u) => u,
        }
    }
}

/// One device's play record for one episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayRecord {
    /// Position in seconds.
    pub position: f64,
    /// Duration in seconds, if known.
    pub duration: Option<f64>,
    /// Played to the end / marked played.
    pub completed: bool,
    /// Playback speed.
    pub speed: f64,
    /// Last change, Unix milliseconds (the writing device's clock).
    pub updated: i64,
}

/// "Continue from <device> at 12:34": one device's record for an episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// Device id.
    pub device: DeviceId,
    /// Device name, if it set one.
    pub device_name: Option<String>,
    /// Its record.
    pub record: PlayRecord,
}

/// A device known to the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Device id.
    pub id: DeviceId,
    /// Name, if set.
    pub name: Option<String>,
}

/// Build an episode key from a feed URL and the episode's guid (or enclosure URL when
/// the feed has no guid). The feed URL comes first so that all episodes of one feed
/// share a prefix; the separator is a space, which a normalized URL never contains.
pub fn episode_key(feed_url: &str, guid: &str) -> Result<String, LibraryError> {
    let feed = normalize_feed_url(feed_url)?;
    check_text("episode guid", guid)?;
    Ok(format!("{feed} {guid}"))
}

/// Split an episode key into (feed URL, guid), if it was built by [`episode_key`].
pub fn split_episode_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(' ')
}

/// Normalize a feed URL so that one feed has one key: parse, require http(s), drop
/// the fragment, lowercase scheme and host (done by the `url` crate).
pub fn normalize_feed_url(input: &str) -> Result<String, LibraryError> {
    let bad = |why: String| LibraryError::Invalid {
        what: "feed URL",
        why,
    };
    let trimmed = input.trim();
    if trimmed.len() > MAX_TEXT {
        return Err(bad(format!("longer than {MAX_TEXT} bytes")));
    }
    let mut url = url::Url::parse(trimmed).map_err(|e| bad(format!("{trimmed:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "{trimmed:?}: only http and https feeds are supported"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{trimmed:?}: no host")));
    }
    url.set_fragment(None);
    Ok(url.into())
}

pub(crate) fn check_text(what: &'static str, s: &str) -> Result<(), LibraryError> {
    if s.len() > MAX_TEXT {
        return Err(LibraryError::Invalid {
            what,
            why: format!("longer than {MAX_TEXT} bytes"),
        });
    }
    if s.is_empty() {
        return Err(LibraryError::Invalid {
            what,
            why: "empty".into(),
        });
    }
    Ok(())
}

fn check_seconds(what: &'static str, v: f64) -> Result<(), LibraryError> {
    if !v.is_finite() || v < 0.0 {
        return Err(LibraryError::Invalid {
            what,
            why: format!("{v} is not a finite, non-negative number of seconds"),
        });
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The deterministic genesis document: schema version and empty top-level maps, in one
/// change by [`GENESIS_ACTOR`] at time 0, so that its hash is the same everywhere.
pub(crate) fn genesis_doc() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
    // These cannot fail on a fresh document with ROOT as the target.
    // An Int, not a Uint: JS reads Int as a plain number.
    let _ = doc.put(ROOT, K_SCHEMA, SCHEMA_VERSION as i64);
    for k in TOP_MAPS {
        let _ = doc.put_object(ROOT, k, ObjType::Map);
    }
    doc.commit_with(
        CommitOptions::default()
            .with_time(0)
            .with_message("skypod library genesis"),
    );
    doc
}

/// Hash of the genesis change (hex). Every replica's history starts with it; the web app
/// can check `A.getHeads(A.load(genesisBytes))` against it.
pub const GENESIS_HASH: &str = "fe8b1a9a0c76d921e920905c8e22e9d0cb22290a95bf76ce37fc283b14b96d12";

/// The genesis document as saved bytes, for clients (the web app) that must start
/// from the exact same first change.
pub fn genesis_bytes() -> Vec<u8> {
    genesis_doc().save()
}

pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The synced library of one device.
///
/// Edits accumulate in one open Automerge transaction and become one change when
/// [`Library::commit`] is called, or implicitly when the document is saved or a sync
/// message is generated: a CLI command or an OPML import of 500 feeds is one change,
/// which keeps sync traffic and history small.
pub struct Library {
    pub(crate) doc: AutoCommit,
    pub(crate) device: DeviceId,
    /// Set when the document's schema is newer than this build: writes are refused.
    too_new: Option<u64>,
    pub(crate) clock: Clock,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("device", &self.device)
            .field("too_new", &self.too_new)
            .finish_non_exhaustive()
    }
}

impl Library {
    /// A new, empty library for `device`.
    pub fn new(device: impl Into<DeviceId>) -> Result<Self, LibraryError> {
        Self::from_doc(genesis_doc(), device)
    }

    /// Load a library from bytes made by [`Library::save`] (or by the JS package).
    pub fn load(bytes: &[u8], device: impl Into<DeviceId>) -> Result<Self, LibraryError> {
        let doc = AutoCommit::load(bytes)?;
        Self::from_doc(doc, device)
    }

    pub(crate) fn from_doc(
        mut doc: AutoCommit,
        device: impl Into<DeviceId>,
    ) -> Result<Self, LibraryError> {
        let device = device.into();
        check_text("device id", &device)?;
        // A fresh actor per session: two processes of one device (CLI + node) must never
        // reuse an actor, or their changes would collide on sequence numbers.
        doc.set_actor(ActorId::random());
        let mut lib = Self {
            doc,
            device,
            too_new: None,
            clock: Arc::new(now_ms),
        };
        lib.migrate()?;
        Ok(lib)
    }

    /// Bring an older document up to [`SCHEMA_VERSION`].
    ///
    /// Migration path: each step is idempotent and only adds what is missing, so two
    /// devices migrating the same old document concurrently produce compatible changes.
    /// - 0 → 1: documents written before the schema key existed (pre-release builds,
    ///   or a bare document from another tool) get the missing top-level maps.
    fn migrate(&mut self) -> Result<(), LibraryError> {
        let found = match self.doc.get(ROOT, K_SCHEMA)? {
            None => 0,
            Some((v, _)) => v.as_u64().ok_or_else(|| {
                LibraryError::NotALibrary(format!("schema version is not a number: {v}"))
            })?,
        };
        if found > SCHEMA_VERSION {
            self.too_new = Some(found);
            return Ok(());
        }
        if found < 1 {
            if self.doc.is_empty() {
                // An empty document: adopt genesis rather than creating maps with a
                // random actor, so it stays mergeable with every other replica.
                let mut g = genesis_doc();
                self.doc.merge(&mut g)?;
            } else {
                for k in TOP_MAPS {
                    if self.doc.get(ROOT, k)?.is_none() {
                        self.doc.put_object(ROOT, k, ObjType::Map)?;
                    }
                }
                self.doc.put(ROOT, K_SCHEMA, 1i64)?;
                self.commit_msg("migrate schema 0 -> 1");
            }
        }
        // Future: `if found < 2 { ... }` steps go here, each ending at its version.
        for k in TOP_MAPS {
            match self.doc.get(ROOT, k)? {
                Some((Value::Object(ObjType::Map), _)) => {}
                Some((v, _)) => {
                    return Err(LibraryError::NotALibrary(format!("{k} is {v}, not a map")));
                }
                None => return Err(LibraryError::NotALibrary(format!("{k} is missing"))),
            }
        }
        Ok(())
    }

    /// Schema version stored in the document.
    pub fn schema_version(&self) -> u64 {
        self.doc
            .get(ROOT, K_SCHEMA)
            .ok()
            .flatten()
            .and_then(|(v, _)| v.as_u64())
            .unwrap_or(0)
    }

    /// This device's id.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Replace the clock used for `added`/`updated` stamps (tests, simulations).
    pub fn set_clock(&mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) {
        self.clock = Arc::new(clock);
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn writable(&self) -> Result<(), LibraryError> {
        match self.too_new {
            Some(found) => Err(LibraryError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            }),
            None => Ok(()),
        }
    }

    /// Close the open transaction as one change. Returns its hash, or `None` when
    /// nothing was edited since the last commit.
    pub fn commit(&mut self) -> Option<ChangeHash> {
        self.commit_msg("")
    }

    fn commit_msg(&mut self, msg: &str) -> Option<ChangeHash> {
        let mut opts = CommitOptions::default().with_time(self.now() / 1000);
        if !msg.is_empty() {
            opts = opts.with_message(msg);
        }
        if self.doc.pending_ops() == 0 {
            return None;
        }
        self.doc.commit_with(opts)
    }

    /// Current heads (commits pending edits first).
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.commit();
        self.doc.get_heads()
    }

    /// Number of changes in the history (commits pending edits first).
    pub fn change_count(&mut self) -> usize {
        self.commit();
        self.doc.get_changes(&[]).len()
    }

    /// Full compact save (Automerge document format, loadable by the JS package).
    pub fn save(&mut self) -> Vec<u8> {
        self.commit();
        self.doc.save()
    }

    /// Merge a document saved by another replica (e.g. the JS package).
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), LibraryError> {
        self.commit();
        let mut other = AutoCommit::load(bytes)?;
        self.doc.merge(&mut other)?;
        Ok(())
    }

    /// Merge another in-memory library.
    pub fn merge(&mut self, other: &mut Library) -> Result<(), LibraryError> {
        self.commit();
        other.commit();
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Read access to the Automerge document (for diagnostics and tests).
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    // ----- helpers -----

    pub(crate) fn top(&self, key: &str) -> Result<ObjId, LibraryError> {
        match self.doc.get(ROOT, key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(LibraryError::NotALibrary(format!("{key} is missing"))),
        }
    }

    pub(crate) fn child(
        &self,
        parent: &ObjId,
        key: &str,
        ty: ObjType,
    ) -> Result<Option<ObjId>, LibraryError> {
        match self.doc.get(parent, key)? {
            Some((Value::Object(t), id)) if t == ty => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    pub(crate) fn child_or_create(
        &mut self,
        parent: &ObjId,
        key: &str,
        ty: ObjType,
    ) -> Result<ObjId, LibraryError> {
        match self.child(parent, key, ty)? {
            Some(id) => Ok(id),
            None => Ok(self.doc.put_object(parent, key, ty)?),
        }
    }

    pub(crate) fn get_str(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.doc.get(obj, key).ok().flatten()? {
            (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
            (Value::Object(ObjType::Text), id) => self.doc.text(&id).ok(),
            _ => None,
        }
    }

    fn get_f64(&self, obj: &ObjId, key: &str) -> Option<f64> {
        self.doc.get(obj, key).ok().flatten()?.0.as_f64()
    }

    fn get_i64(&self, obj: &ObjId, key: &str) -> Option<i64> {
        match self.doc.get(obj, key).ok().flatten()?.0 {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                // JS numbers that are not integers arrive as F64.
                ScalarValue::F64(f) if f.is_finite() => Some(*f as i64),
                _ => None,
            },
            _ => None,
        }
    }

    fn get_bool(&self, obj: &ObjId, key: &str) -> Option<bool> {
        self.doc.get(obj, key).ok().flatten()?.0.as_bool()
    }

    pub(crate) fn map_keys(&self, obj: &ObjId) -> Vec<String> {
        self.doc.keys(obj).collect()
    }

    fn str_list(&self, list: &ObjId) -> Vec<String> {
        let len = self.doc.length(list);
        (0..len)
            .filter_map(|i| match self.doc.get(list, i).ok().flatten()? {
                (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
                (Value::Object(ObjType::Text), id) => self.doc.text(&id).ok(),
                _ => None,
            })
            .collect()
    }

    fn put_str_list(
        &mut self,
        parent: &ObjId,
        key: &str,
        items: &[String],
    ) -> Result<(), LibraryError> {
        // A new list object each time: a folder move is one atomic value, so two
        // concurrent moves give one winner instead of an interleaved path.
        let list = self.doc.put_object(parent, key, ObjType::List)?;
        for (i, s) in items.iter().enumerate() {
            self.doc.insert(&list, i, s.as_str())?;
        }
        Ok(())
    }

    // ----- subscriptions -----

    /// Subscribe to a feed. Subscribing to a feed already in the library changes nothing.
    pub fn subscribe(&mut self, feed: NewFeed) -> Result<Subscribed, LibraryError> {
        self.writable()?;
        let url = normalize_feed_url(&feed.url)?;
        if let Some(t) = &feed.title
            && t.len() > MAX_TEXT
        {
            return Err(LibraryError::Invalid {
                what: "title",
                why: format!("longer than {MAX_TEXT} bytes"),
            });
        }
        check_folder(&feed.folder)?;
        for t in &feed.tags {
            check_text("tag", t)?;
        }
        let subs = self.top(K_SUBS)?;
        if self.child(&subs, &url, ObjType::Map)?.is_some() {
            return Ok(Subscribed::Already(url));
        }
        let now = self.now();
        let s = self.doc.put_object(&subs, url.as_str(), ObjType::Map)?;
        self.doc
            .put(&s, "title", feed.title.as_deref().unwrap_or_default())?;
        if let Some(h) = feed
            .html_url
            .as_deref()
            .filter(|h| !h.is_empty() && h.len() <= MAX_TEXT)
        {
            self.doc.put(&s, "html_url", h)?;
        }
        self.put_str_list(&s, "folder", &feed.folder)?;
        let tags = self.doc.put_object(&s, "tags", ObjType::Map)?;
        for t in &feed.tags {
            self.doc.put(&tags, t.as_str(), true)?;
        }
        self.doc.put(&s, "added", now)?;
        self.doc.put_object(&s, "settings", ObjType::Map)?;
        Ok(Subscribed::Added(url))
    }

    /// Remove a subscription. Returns whether it existed. Play records are kept (they
    /// are per device and cheap), so re-subscribing restores positions.
    pub fn unsubscribe(&mut self, url: &str) -> Result<bool, LibraryError> {
        self.writable()?;
        let url = normalize_feed_url(url)?;
        let subs = self.top(K_SUBS)?;
        if self.doc.get(&subs, url.as_str())?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&subs, url.as_str())?;
        Ok(true)
    }

    fn sub_obj(&self, url: &str) -> Result<(String, ObjId), LibraryError> {
        let url = normalize_feed_url(url)?;
        let subs = self.top(K_SUBS)?;
        match self.child(&subs, &url, ObjType::Map)? {
            Some(id) => Ok((url, id)),
            None => Err(LibraryError::NotSubscribed(url)),
        }
    }

    /// Set a feed's title (e.g. once the proxy fetched it).
    pub fn set_title(&mut self, url: &str, title: &str) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("title", title)?;
        let (_, s) = self.sub_obj(url)?;
        self.doc.put(&s, "title", title)?;
        Ok(())
    }

    /// Move a feed to a folder path (empty = top level).
    pub fn set_folder(&mut self, url: &str, folder: &[String]) -> Result<(), LibraryError> {
        self.writable()?;
        check_folder(folder)?;
        let (_, s) = self.sub_obj(url)?;
        self.put_str_list(&s, "folder", folder)
    }

    /// Add a tag to a feed.
    pub fn add_tag(&mut self, url: &str, tag: &str) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("tag", tag)?;
        let (_, s) = self.sub_obj(url)?;
        let tags = self.child_or_create(&s, "tags", ObjType::Map)?;
        self.doc.put(&tags, tag, true)?;
        Ok(())
    }

    /// Remove a tag from a feed.
    pub fn remove_tag(&mut self, url: &str, tag: &str) -> Result<(), LibraryError> {
        self.writable()?;
        let (_, s) = self.sub_obj(url)?;
        if let Some(tags) = self.child(&s, "tags", ObjType::Map)?
            && self.doc.get(&tags, tag)?.is_some()
        {
            self.doc.delete(&tags, tag)?;
        }
        Ok(())
    }

    /// Set one per-feed setting.
    pub fn set_feed_setting(
        &mut self,
        url: &str,
        key: &str,
        value: SettingValue,
    ) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("setting name", key)?;
        let (_, s) = self.sub_obj(url)?;
        let settings = self.child_or_create(&s, "settings", ObjType::Map)?;
        self.doc.put(&settings, key, value.to_scalar())?;
        Ok(())
    }

    /// One subscription.
    pub fn feed(&self, url: &str) -> Result<Option<Feed>, LibraryError> {
        let url = normalize_feed_url(url)?;
        let subs = self.top(K_SUBS)?;
        Ok(self
            .child(&subs, &url, ObjType::Map)?
            .map(|obj| self.read_feed(url, &obj)))
    }

    /// Whether a feed is subscribed.
    pub fn is_subscribed(&self, url: &str) -> bool {
        matches!(self.feed(url), Ok(Some(_)))
    }

    /// Number of subscriptions.
    pub fn feed_count(&self) -> usize {
        self.top(K_SUBS).map(|s| self.doc.length(&s)).unwrap_or(0)
    }

    /// All subscriptions, sorted by URL.
    pub fn feeds(&self) -> Vec<Feed> {
        let Ok(subs) = self.top(K_SUBS) else {
            return Vec::new();
        };
        self.map_keys(&subs)
            .into_iter()
            .filter_map(|url| {
                let obj = self.child(&subs, &url, ObjType::Map).ok().flatten()?;
                Some(self.read_feed(url, &obj))
            })
            .collect()
    }

    fn read_feed(&self, url: String, obj: &ObjId) -> Feed {
        let folder = self
            .child(obj, "folder", ObjType::List)
            .ok()
            .flatten()
            .map(|l| self.str_list(&l))
            .unwrap_or_default();
        let tags = self
            .child(obj, "tags", ObjType::Map)
            .ok()
            .flatten()
            .map(|t| self.map_keys(&t).into_iter().collect())
            .unwrap_or_default();
        let settings = self
            .child(obj, "settings", ObjType::Map)
            .ok()
            .flatten()
            .map(|m| self.settings_in(&m))
            .unwrap_or_default();
        Feed {
            title: self.get_str(obj, "title").unwrap_or_default(),
            html_url: self.get_str(obj, "html_url"),
            folder,
            tags,
            added: self.get_i64(obj, "added").unwrap_or(0),
            settings,
            url,
        }
    }

    // ----- play records -----

    /// Records that this device changed its play record `rec` now.
    fn stamp_updated(&mut self, rec: &ObjId) -> Result<(), LibraryError> {
        let now = self.now();
        self.doc.put(rec, "updated", now)?;
        Ok(())
    }

    fn my_record(&mut self, episode: &str) -> Result<ObjId, LibraryError> {
        check_text("episode key", episode)?;
        let plays = self.top(K_PLAYS)?;
        let device = self.device.clone();
        let mine = self.child_or_create(&plays, &device, ObjType::Map)?;
        match self.child(&mine, episode, ObjType::Map)? {
            Some(id) => Ok(id),
            None => {
                let rec = self.doc.put_object(&mine, episode, ObjType::Map)?;
                self.doc.put(&rec, "position", 0.0)?;
                self.doc.put(&rec, "completed", false)?;
                self.doc.put(&rec, "speed", 1.0)?;
                Ok(rec)
            }
        }
    }

    /// Record this device's position in an episode (seconds), and its duration if known.
    /// Only the fields that changed are written, so a position update is a few bytes.
    pub fn set_position(
        &mut self,
        episode: &str,
        position: f64,
        duration: Option<f64>,
    ) -> Result<(), LibraryError> {
        self.writable()?;
        check_seconds("position", position)?;
        if let Some(d) = duration {
            check_seconds("duration", d)?;
        }
        let rec = self.my_record(episode)?;
        self.doc.put(&rec, "position", position)?;
        if let Some(d) = duration
            && self.get_f64(&rec, "duration") != Some(d)
        {
            self.doc.put(&rec, "duration", d)?;
        }
        self.stamp_updated(&rec)
    }

    /// Set this device's playback speed for an episode.
    pub fn set_speed(&mut self, episode: &str, speed: f64) -> Result<(), LibraryError> {
        self.writable()?;
        if !speed.is_finite() || speed <= 0.0 || speed > 16.0 {
            return Err(LibraryError::Invalid {
                what: "speed",
                why: format!("{speed} is outside (0, 16]"),
            });
        }
        let rec = self.my_record(episode)?;
        self.doc.put(&rec, "speed", speed)?;
        self.stamp_updated(&rec)
    }

    /// Mark an episode played (or unplayed) on this device.
    pub fn mark_played(&mut self, episode: &str, completed: bool) -> Result<(), LibraryError> {
        self.writable()?;
        let rec = self.my_record(episode)?;
        self.doc.put(&rec, "completed", completed)?;
        if !completed {
            self.doc.put(&rec, "position", 0.0)?;
        }
        self.stamp_updated(&rec)
    }

    /// Mark many episodes played in one go (one change, e.g. "mark feed played").
    pub fn mark_all_played<'a>(
        &mut self,
        episodes: impl IntoIterator<Item = &'a str>,
    ) -> Result<usize, LibraryError> {
        let mut n = 0;
        for e in episodes {
            self.mark_played(e, true)?;
            n += 1;
        }
        Ok(n)
    }

    fn read_record(&self, rec: &ObjId) -> PlayRecord {
        PlayRecord {
            position: self.get_f64(rec, "position").unwrap_or(0.0),
            duration: self.get_f64(rec, "duration"),
            completed: self.get_bool(rec, "completed").unwrap_or(false),
            speed: self.get_f64(rec, "speed").unwrap_or(1.0),
            updated: self.get_i64(rec, "updated").unwrap_or(0),
        }
    }

    /// A device's record for an episode.
    pub fn play(&self, device: &str, episode: &str) -> Option<PlayRecord> {
        let plays = self.top(K_PLAYS).ok()?;
        let dev = self.child(&plays, device, ObjType::Map).ok()??;
        let rec = self.child(&dev, episode, ObjType::Map).ok()??;
        Some(self.read_record(&rec))
    }

    /// This device's record for an episode.
    pub fn my_play(&self, episode: &str) -> Option<PlayRecord> {
        self.play(&self.device, episode)
    }

    /// All of one device's records, by episode key.
    pub fn plays_of(&self, device: &str) -> BTreeMap<String, PlayRecord> {
        let Some(dev) = self
            .top(K_PLAYS)
            .ok()
            .and_then(|p| self.child(&p, device, ObjType::Map).ok().flatten())
        else {
            return BTreeMap::new();
        };
        self.map_keys(&dev)
            .into_iter()
            .filter_map(|k| {
                let rec = self.child(&dev, &k, ObjType::Map).ok().flatten()?;
                Some((k, self.read_record(&rec)))
            })
            .collect()
    }

    /// Number of play records across all devices.
    pub fn play_count(&self) -> usize {
        let Ok(plays) = self.top(K_PLAYS) else {
            return 0;
        };
        self.map_keys(&plays)
            .iter()
            .filter_map(|d| self.child(&plays, d, ObjType::Map).ok().flatten())
            .map(|d| self.doc.length(&d))
            .sum()
    }

    /// "Continue from <device> at 12:34": every device's record for this episode, newest
    /// `updated` first (ties broken by device id so all replicas show the same order).
    /// Automerge cannot answer this by itself: it orders concurrent writes by op order,
    /// not by time, which is why each device writes only under its own key.
    pub fn continue_from(&self, episode: &str) -> Vec<Resume> {
        let Ok(plays) = self.top(K_PLAYS) else {
            return Vec::new();
        };
        let names = self.device_names();
        let mut out: Vec<Resume> = self
            .map_keys(&plays)
            .into_iter()
            .filter_map(|device| {
                let dev = self.child(&plays, &device, ObjType::Map).ok().flatten()?;
                let rec = self.child(&dev, episode, ObjType::Map).ok().flatten()?;
                Some(Resume {
                    device_name: names.get(&device).cloned(),
                    record: self.read_record(&rec),
                    device,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.record
                .updated
                .cmp(&a.record.updated)
                .then_with(|| a.device.cmp(&b.device))
        });
        out
    }

    /// The newest record for an episode on a device other than this one, if it is newer
    /// than this device's own: what a player offers as "continue from <device>".
    pub fn resume_offer(&self, episode: &str) -> Option<Resume> {
        let mine = self.my_play(episode).map(|r| r.updated).unwrap_or(i64::MIN);
        self.continue_from(episode)
            .into_iter()
            .find(|r| r.device != self.device && r.record.updated > mine)
    }

    // ----- queue -----

    fn my_queue(&mut self) -> Result<ObjId, LibraryError> {
        let queues = self.top(K_QUEUES)?;
        let device = self.device.clone();
        self.child_or_create(&queues, &device, ObjType::List)
    }

    /// Append an episode to this device's queue (no-op if already queued). Returns
    /// whether it was added.
    pub fn queue_add(&mut self, episode: &str) -> Result<bool, LibraryError> {
        self.writable()?;
        check_text("episode key", episode)?;
        let q = self.my_queue()?;
        let items = self.str_list(&q);
        if items.iter().any(|e| e == episode) {
            return Ok(false);
        }
        self.doc.insert(&q, items.len(), episode)?;
        Ok(true)
    }

    /// Insert an episode at a position in this device's queue (moves it if queued).
    pub fn queue_insert(&mut self, index: usize, episode: &str) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("episode key", episode)?;
        self.queue_remove(episode)?;
        let q = self.my_queue()?;
        let len = self.doc.length(&q);
        self.doc.insert(&q, index.min(len), episode)?;
        Ok(())
    }

    /// Remove an episode from this device's queue. Returns whether it was queued.
    pub fn queue_remove(&mut self, episode: &str) -> Result<bool, LibraryError> {
        self.writable()?;
        let q = self.my_queue()?;
        let items = self.str_list(&q);
        let mut removed = false;
        // Back to front so indices stay valid.
        for (i, e) in items.iter().enumerate().rev() {
            if e == episode {
                self.doc.delete(&q, i)?;
                removed = true;
            }
        }
        Ok(removed)
    }

    /// This device's queue.
    pub fn queue_list(&self) -> Vec<String> {
        self.queue_of(&self.device)
    }

    /// Another device's queue.
    pub fn queue_of(&self, device: &str) -> Vec<String> {
        self.top(K_QUEUES)
            .ok()
            .and_then(|q| self.child(&q, device, ObjType::List).ok().flatten())
            .map(|l| self.str_list(&l))
            .unwrap_or_default()
    }

    // ----- settings and devices -----

    /// Set a global setting.
    pub fn set_setting(&mut self, key: &str, value: SettingValue) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("setting name", key)?;
        let s = self.top(K_SETTINGS)?;
        self.doc.put(&s, key, value.to_scalar())?;
        Ok(())
    }

    /// A global setting.
    pub fn setting(&self, key: &str) -> Option<SettingValue> {
        let s = self.top(K_SETTINGS).ok()?;
        let (v, id) = self.doc.get(&s, key).ok()??;
        SettingValue::from_value(&self.doc, &v, &id)
    }

    /// All global settings.
    pub fn settings(&self) -> BTreeMap<String, SettingValue> {
        let Ok(s) = self.top(K_SETTINGS) else {
            return BTreeMap::new();
        };
        self.settings_in(&s)
    }

    /// The settings in the map `m` (global or a feed's); values of unknown kinds are skipped.
    fn settings_in(&self, m: &ObjId) -> BTreeMap<String, SettingValue> {
        self.map_keys(m)
            .into_iter()
            .filter_map(|k| {
                let (v, id) = self.doc.get(m, k.as_str()).ok().flatten()?;
                Some((k, SettingValue::from_value(&self.doc, &v, &id)?))
            })
            .collect()
    }

    /// Name this device (shown as "continue from <name>").
    pub fn set_device_name(&mut self, name: &str) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("device name", name)?;
        let devices = self.top(K_DEVICES)?;
        let device = self.device.clone();
        let me = self.child_or_create(&devices, &device, ObjType::Map)?;
        self.doc.put(&me, "name", name)?;
        Ok(())
    }

    fn device_names(&self) -> BTreeMap<String, String> {
        self.devices()
            .into_iter()
            .filter_map(|d| Some((d.id, d.name?)))
            .collect()
    }

    /// Devices that named themselves or have play records or a queue.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for k in [K_DEVICES, K_PLAYS, K_QUEUES] {
            if let Ok(m) = self.top(k) {
                ids.extend(self.map_keys(&m));
            }
        }
        let devices = self.top(K_DEVICES).ok();
        ids.into_iter()
            .map(|id| {
                let name = devices
                    .as_ref()
                    .and_then(|d| self.child(d, &id, ObjType::Map).ok().flatten())
                    .and_then(|m| self.get_str(&m, "name"));
                DeviceInfo { id, name }
            })
            .collect()
    }
}

fn check_folder(folder: &[String]) -> Result<(), LibraryError> {
    if folder.len() > MAX_FOLDER_DEPTH {
        return Err(LibraryError::Invalid {
            what: "folder",
            why: format!("deeper than {MAX_FOLDER_DEPTH} levels"),
        });
    }
    for f in folder {
        check_text("folder name", f)?;
    }
    Ok(())
}

// ===== "seen" marks and new episodes (the app views; same rule as web/src/library/doc.ts) =====
//
// `devices[<device>].seen[<feed url>]` is the publish time (ms since the epoch) of the newest
// episode of that feed the device has shown its listener. Only the device writes its own map,
// like its play records, so concurrent marks never conflict, and a mark only rises. A feed's
// watermark is the largest mark over every device and the subscription's `added` time
// (episodes published before subscribing are not news): an episode seen on the phone is not
// new again on the laptop. An episode is new when it was published after the watermark and no
// device has played it.

const K_SEEN: &str = "seen";

impl Library {
    /// Mark `feed_url` seen by this device up to publish time `up_to_ms`. Returns whether
    /// anything was written (nothing when the feed's watermark is already there).
    pub fn mark_seen(&mut self, feed_url: &str, up_to_ms: i64) -> Result<bool, LibraryError> {
        self.writable()?;
        let url = normalize_feed_url(feed_url)?;
        if up_to_ms <= 0 {
            return Err(LibraryError::Invalid {
                what: "seen time",
                why: "must be a positive time in milliseconds".into(),
            });
        }
        if up_to_ms <= self.seen_watermark(&url) {
            return Ok(false);
        }
        let devices = self.top(K_DEVICES)?;
        let device = self.device.clone();
        let me = self.child_or_create(&devices, &device, ObjType::Map)?;
        let seen = self.child_or_create(&me, K_SEEN, ObjType::Map)?;
        self.doc.put(&seen, url.as_str(), up_to_ms)?;
        Ok(true)
    }

    /// The time after which the feed's episodes count as new (ms since the epoch).
    pub fn seen_watermark(&self, feed_url: &str) -> i64 {
        let Ok(url) = normalize_feed_url(feed_url) else {
            return i64::MAX;
        };
        let mut mark = self
            .top(K_SUBS)
            .ok()
            .and_then(|s| self.child(&s, &url, ObjType::Map).ok().flatten())
            .and_then(|s| self.get_i64(&s, "added"))
            .unwrap_or(0);
        if let Ok(devices) = self.top(K_DEVICES) {
            for d in self.map_keys(&devices) {
                let seen = self
                    .child(&devices, &d, ObjType::Map)
                    .ok()
                    .flatten()
                    .and_then(|m| self.child(&m, K_SEEN, ObjType::Map).ok().flatten());
                if let Some(v) = seen.and_then(|s| self.get_i64(&s, &url)) {
                    mark = mark.max(v);
                }
            }
        }
        mark
    }

    /// Whether any device has played the episode to the end.
    pub fn played_anywhere(&self, episode: &str) -> bool {
        let Ok(plays) = self.top(K_PLAYS) else {
            return false;
        };
        self.map_keys(&plays).iter().any(|d| {
            self.child(&plays, d, ObjType::Map)
                .ok()
                .flatten()
                .and_then(|dev| self.child(&dev, episode, ObjType::Map).ok().flatten())
                .and_then(|rec| self.get_bool(&rec, "completed"))
                == Some(true)
        })
    }

    /// Whether an episode of `feed_url` published at `published_ms` (none: never new) with
    /// key `episode` is new to the listener, by the rule above.
    pub fn is_new(&self, feed_url: &str, published_ms: Option<i64>, episode: &str) -> bool {
        published_ms.is_some_and(|p| p > self.seen_watermark(feed_url))
            && !self.played_anywhere(episode)
    }
}
// ===== end of the app-views block =====
// ----- listening rules (issue 11): queue plays on, downloads per device, per-podcast
// settings, time saved; in their own module, shared vectors in testdata/listening-rules.json -----
mod listening;
pub use listening::{
    CONTINUOUS_PLAYBACK, EffectiveSettings, Patch, PodcastSettings, PodcastSettingsPatch,
    TrimLevel, next_in_queue,
};
