//! What the endpoints do, independent of which API (gpodder.net v2 or Nextcloud) asked.
//!
//! Conflict rules (README "Sync with AntennaPod or gPodder", tested in tests/it/rules.rs):
//! 1. Every device keeps its own record. An action uploaded by a gpodder device is written
//!    under that device's bridged id, stamped with the action's own time; it never touches
//!    another device's record.
//! 2. Within one device, the newest action time wins: an action older than the device's
//!    record (a late upload of an earlier pause) is kept in the journal but does not move
//!    the record back.
//! 3. What a gpodder client is given back for an episode is the newest record across all
//!    devices of the realm (by the time it was made, ties by device id — the same order as
//!    "continue from"), with its device named in the action's `device` field.
//! 4. Subscriptions are the realm's: an add or remove from any device (gpodder or not) is
//!    one change of the one list, reported to every gpodder device by `since`.
//! 5. A replayed upload (an action identical to one already received) changes nothing.
//! 6. An action whose episode cannot be matched to the feed is kept, returned to gpodder
//!    clients as it was uploaded, listed by `skypod bridge unmatched`, and matched later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skypod_library::{
    Library, NewFeed, PlayRecord, bridged_device_id, episode_key, normalize_feed_url,
    split_episode_key,
};

use crate::error::{ApiError, BridgeError};
use crate::feeds::{CachedFeeds, FeedLookup, match_episode};
use crate::owner::LibraryHandle;
use crate::store::{BridgeStore, GpodderDevice, StoredAction, check_name};
use crate::time::{format_iso, now_ms, parse_iso};

/// The `kind` of devices this bridge registers in the library.
pub const KIND: &str = "gpodder";
/// Device id used for the Nextcloud API, which has no devices.
pub const NEXTCLOUD_DEVICE: &str = "nextcloud";

/// Limits and names.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The library device id of the member running the bridge (the node).
    pub member: String,
    /// Shown after "via" in bridged device names ("AntennaPod (mobile) via node").
    pub node_label: String,
    /// How far in the future an action's timestamp may be (phone clocks drift).
    pub max_future: Duration,
    /// Most actions in one upload.
    pub max_actions: usize,
    /// Most subscription changes in one upload.
    pub max_subscription_changes: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
}

impl BridgeConfig {
    /// Defaults for a member.
    pub fn new(member: impl Into<String>) -> Self {
        Self {
            member: member.into(),
            node_label: "node".into(),
            max_future: Duration::from_secs(600),
            max_actions: 2000,
            max_subscription_changes: 5000,
            max_body: 1024 * 1024,
        }
    }
}

/// An episode action on the wire (both APIs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireAction {
    /// Feed URL.
    pub podcast: String,
    /// Enclosure URL (or guid).
    pub episode: String,
    /// play, download, delete, new (flattr is accepted and kept).
    pub action: String,
    /// gpodder device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// ISO 8601, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Play: start (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    /// Play: position (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// Play: length (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Episode guid (AntennaPod sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
}

const ACTIONS: [&str; 5] = ["play", "download", "delete", "new", "flattr"];
/// Longest plausible episode (s): 100 days.
const MAX_SECONDS: i64 = 100 * 24 * 3600;
/// Longest URL or guid accepted (the library's own text limit).
const MAX_TEXT: usize = 4096;
/// A play this close to the end counts as played (s).
const END_SLACK: i64 = 5;
/// Feeds looked up per episode-actions answer to find enclosure URLs; beyond that the guid
/// stands in (AntennaPod matches by guid first).
const MAX_LOOKUPS: usize = 50;
const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_SESSIONS: usize = 1024;
const AUTH_CACHE_TTL: Duration = Duration::from_secs(600);

/// (sha256 of the password last verified, the second field of the login, when).
type VerifiedLogin = ([u8; 32], String, Instant);

/// The bridge: its store, the library's owner, the feeds, sessions.
pub struct Bridge {
    pub(crate) store: BridgeStore,
    lib: LibraryHandle,
    feeds: CachedFeeds,
    pub(crate) cfg: BridgeConfig,
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    /// user → (sha256 of the password last verified, when): argon2 once per 10 minutes,
    /// not on every Nextcloud request (each carries Basic credentials).
    verified: Mutex<HashMap<String, VerifiedLogin>>,
    /// Failed logins per name: guessing waits, argon2 does not run for a throttled name.
    throttle: Mutex<crate::throttle::LoginThrottle>,
    /// Nextcloud Login Flow v2 logins in progress.
    pub(crate) flows: crate::loginflow::Flows,
    /// (highest `timestamp` answered, s; latest event stamp, ms): see [`Bridge::stamp`].
    clock: Mutex<(i64, i64)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Bridge {
    /// A bridge over an opened store, a library owner and a feed source.
    pub fn new(
        store: BridgeStore,
        lib: LibraryHandle,
        feeds: Arc<dyn FeedLookup>,
        cfg: BridgeConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            lib,
            feeds: CachedFeeds::new(feeds),
            cfg,
            sessions: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            throttle: Default::default(),
            flows: Default::default(),
            clock: Mutex::new((0, 0)),
        })
    }

    /// The time an event (a subscription change, an action received, a record noticed)
    /// is journaled at, ms. Never before a `timestamp` already answered: so `since=T`
    /// with an answered T misses nothing that happened after the answer.
    fn stamp(&self) -> i64 {
        let mut c = lock(&self.clock);
        let s = now_ms().max(c.0.saturating_mul(1000));
        c.1 = c.1.max(s);
        s
    }

    /// The `timestamp` to answer, s: after every event journaled so far (so `since=T`
    /// does not repeat them) and never going back.
    fn answer(&self) -> i64 {
        let mut c = lock(&self.clock);
        let t = (now_ms() / 1000 + 1).max(c.1 / 1000 + 1).max(c.0);
        c.0 = t;
        t
    }

    /// The bridge database.
    pub fn store(&self) -> &BridgeStore {
        &self.store
    }

    // ----- authentication -----

    /// Check Basic credentials. A success is remembered (password digest and the stored
    /// hash it matched) so that argon2 runs once per 10 minutes, not on every Nextcloud
    /// request; a changed or removed account no longer matches the remembered hash.
    /// After repeated failures a name is throttled (429, [`crate::throttle`]).
    pub async fn check_password(&self, user: &str, password: &str) -> Result<bool, ApiError> {
        if let Err(wait) = lock(&self.throttle).check(user, Instant::now()) {
            tracing::info!(%user, ?wait, "gpodder bridge: login throttled");
            return Err(ApiError::too_many(
                format!(
                    "too many failed logins for this name; try again in {} s",
                    wait.as_secs_f64().ceil()
                ),
                wait,
            ));
        }
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let stored = self.store.user_hash(user).await?;
        if let (Some(hash), Some((d, h, at))) = (&stored, lock(&self.verified).get(user))
            && *d == digest
            && h == hash
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return Ok(true);
        }
        let ok = self.store.verify(user, password).await?;
        match (ok, stored) {
            (true, Some(hash)) => {
                lock(&self.throttle).succeeded(user);
                lock(&self.verified).insert(user.to_owned(), (digest, hash, Instant::now()));
            }
            _ => {
                lock(&self.throttle).failed(user, Instant::now());
                lock(&self.verified).remove(user);
            }
        }
        Ok(ok)
    }

    /// A new session for a logged-in user (the `sessionid` cookie).
    pub fn new_session(&self, user: &str) -> String {
        use rand::RngCore;
        let mut b = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let mut s = lock(&self.sessions);
        s.retain(|_, (_, t)| t.elapsed() < SESSION_TTL);
        if s.len() >= MAX_SESSIONS
            && let Some(k) = s
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
        {
            s.remove(&k);
        }
        s.insert(id.clone(), (user.to_owned(), Instant::now()));
        id
    }

    /// The user of a session, if it is live.
    pub fn session_user(&self, id: &str) -> Option<String> {
        lock(&self.sessions)
            .get(id)
            .filter(|(_, t)| t.elapsed() < SESSION_TTL)
            .map(|(u, _)| u.clone())
    }

    /// End a session.
    pub fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    // ----- devices -----

    fn library_id(&self, user: &str, device: &str) -> String {
        bridged_device_id(&self.cfg.member, KIND, user, device)
    }

    fn library_name(&self, d: &GpodderDevice) -> String {
        format!("{} ({}) via {}", d.caption, d.kind, self.cfg.node_label)
    }

    /// Create or update a device, and its bridged device in the library.
    pub async fn update_device(
        &self,
        user: &str,
        id: &str,
        caption: Option<&str>,
        kind: Option<&str>,
    ) -> Result<GpodderDevice, ApiError> {
        check_name("device id", id)?;
        if let Some(c) = caption
            && (c.len() > 200 || c.chars().any(char::is_control))
        {
            return Err(ApiError::bad(
                "caption: at most 200 characters, no control characters",
            ));
        }
        if let Some(k) = kind
            && !["desktop", "laptop", "mobile", "server", "other"].contains(&k)
        {
            return Err(ApiError::bad(format!(
                "type {k:?}: use desktop, laptop, mobile, server or other"
            )));
        }
        let dev = self.store.upsert_device(user, id, caption, kind).await?;
        let (lib_id, name) = (self.library_id(user, id), self.library_name(&dev));
        self.lib
            .run(move |l| l.register_bridged(&lib_id, &name, KIND))
            .await?
            .map_err(BridgeError::from)?;
        Ok(dev)
    }

    /// A registered device, or 404 saying how to register it.
    pub async fn require_device(&self, user: &str, id: &str) -> Result<GpodderDevice, ApiError> {
        self.store.device(user, id).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown device {id:?}: register it first (POST /api/2/devices/{user}/{id}.json)"
            ))
        })
    }

    /// The Nextcloud API has no devices: one per account, named after the app.
    pub async fn nextcloud_device(
        &self,
        user: &str,
        user_agent: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.store.device(user, NEXTCLOUD_DEVICE).await?.is_some() {
            return Ok(());
        }
        let app = user_agent
            .and_then(|ua| ua.split(['/', ' ']).next())
            .filter(|a| {
                !a.is_empty()
                    && a.len() <= 40
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .unwrap_or("Nextcloud sync app");
        self.update_device(user, NEXTCLOUD_DEVICE, Some(app), Some("mobile"))
            .await
            .map(|_| ())
    }

    /// An account's devices with the realm's subscription count.
    pub async fn devices(&self, user: &str) -> Result<(Vec<GpodderDevice>, usize), ApiError> {
        let devs = self.store.devices(user).await?;
        let n = self.lib.run(|l| l.feed_count()).await?;
        Ok((devs, n))
    }

    // ----- subscriptions -----

    async fn note_subscriptions(&self) -> Result<Vec<String>, ApiError> {
        let urls: Vec<String> = self
            .lib
            .run(|l| l.feeds().into_iter().map(|f| f.url).collect())
            .await?;
        self.store.note_subscriptions(&urls, self.stamp()).await?;
        Ok(urls)
    }

    /// The realm's subscriptions.
    pub async fn subscriptions(&self) -> Result<Vec<String>, ApiError> {
        self.note_subscriptions().await
    }

    /// Changes since `since` (Unix s; 0 = everything now subscribed): (add, remove, now).
    pub async fn subscription_changes(
        &self,
        since: i64,
    ) -> Result<(Vec<String>, Vec<String>, i64), ApiError> {
        let current = self.note_subscriptions().await?;
        if since <= 0 {
            return Ok((current, vec![], self.answer()));
        }
        let (add, remove) = self
            .store
            .subscription_changes(since.saturating_mul(1000))
            .await?;
        Ok((add, remove, self.answer()))
    }

    /// Apply adds and removes (validated all first: one bad URL changes nothing). Returns
    /// `update_urls` (sent → normalized, where they differ) and the timestamp.
    pub async fn change_subscriptions(
        &self,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<(Vec<(String, String)>, i64), ApiError> {
        if add.len() + remove.len() > self.cfg.max_subscription_changes {
            return Err(ApiError::bad(format!(
                "too many changes in one request ({}; at most {})",
                add.len() + remove.len(),
                self.cfg.max_subscription_changes
            )));
        }
        let norm = |u: &String| {
            normalize_feed_url(u).map_err(|e| ApiError::bad(format!("podcast URL {u:?}: {e}")))
        };
        let add_n: Vec<String> = add.iter().map(norm).collect::<Result<_, _>>()?;
        let remove_n: Vec<String> = remove.iter().map(norm).collect::<Result<_, _>>()?;
        let a: BTreeSet<&String> = add_n.iter().collect();
        if let Some(both) = remove_n.iter().find(|u| a.contains(u)) {
            return Err(ApiError::bad(format!(
                "{both} is both added and removed in one request"
            )));
        }
        let update_urls: Vec<(String, String)> = add
            .iter()
            .zip(&add_n)
            .chain(remove.iter().zip(&remove_n))
            .filter(|(s, n)| s != n)
            .map(|(s, n)| (s.clone(), n.clone()))
            .collect();
        // Note what others changed before, so their changes are not stamped as ours.
        self.note_subscriptions().await?;
        self.lib
            .run(move |l| -> Result<(), skypod_library::LibraryError> {
                for u in add_n {
                    l.subscribe(NewFeed::url(u))?;
                }
                for u in remove_n {
                    l.unsubscribe(&u)?;
                }
                Ok(())
            })
            .await?
            .map_err(BridgeError::from)?;
        self.note_subscriptions().await?;
        Ok((update_urls, self.answer()))
    }

    /// Replace the realm's subscriptions by `urls` (the Simple API's PUT).
    pub async fn replace_subscriptions(&self, urls: Vec<String>) -> Result<(), ApiError> {
        let current: BTreeSet<String> = self.note_subscriptions().await?.into_iter().collect();
        let wanted: BTreeSet<String> = urls
            .iter()
            .map(|u| {
                normalize_feed_url(u).map_err(|e| ApiError::bad(format!("podcast URL {u:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let add = wanted.difference(&current).cloned().collect();
        let remove = current.difference(&wanted).cloned().collect();
        self.change_subscriptions(add, remove).await.map(|_| ())
    }

    // ----- episode actions: upload -----

    /// Validate and store uploaded actions, then write the matched ones into the library
    /// under their devices. All or nothing: one invalid action refuses the whole upload.
    /// `default_device`: the Nextcloud API's implicit device. Returns (update_urls, timestamp).
    pub async fn upload_actions(
        &self,
        user: &str,
        actions: Vec<WireAction>,
        default_device: Option<&str>,
    ) -> Result<(Vec<(String, String)>, i64), ApiError> {
        if actions.len() > self.cfg.max_actions {
            return Err(ApiError::bad(format!(
                "too many actions in one upload ({}; at most {})",
                actions.len(),
                self.cfg.max_actions
            )));
        }
        let now = now_ms();
        let latest_ok = now + i64::try_from(self.cfg.max_future.as_millis()).unwrap_or(0);
        let mut known_devices: BTreeMap<String, bool> = BTreeMap::new();
        let mut stored = Vec::with_capacity(actions.len());
        let mut update_urls = vec![];
        for (i, a) in actions.iter().enumerate() {
            let at = |what: String| ApiError::bad(format!("action {i}: {what}"));
            let podcast = normalize_feed_url(&a.podcast)
                .map_err(|e| at(format!("podcast {:?}: {e}", a.podcast)))?;
            if podcast != a.podcast {
                update_urls.push((a.podcast.clone(), podcast.clone()));
            }
            if a.episode.is_empty() || a.episode.len() > MAX_TEXT {
                return Err(at("episode: empty or longer than 4096 bytes".into()));
            }
            if a.guid
                .as_ref()
                .is_some_and(|g| g.is_empty() || g.len() > MAX_TEXT)
            {
                return Err(at("guid: empty or longer than 4096 bytes".into()));
            }
            let action = a.action.to_ascii_lowercase();
            if !ACTIONS.contains(&action.as_str()) {
                return Err(at(format!(
                    "unknown action {:?} (play, download, delete, new)",
                    a.action
                )));
            }
            let device = a
                .device
                .as_deref()
                .or(default_device)
                .ok_or_else(
                    || at("no device: every action names the device it happened on".into()),
                )?
                .to_owned();
            if !*known_devices
                .entry(device.clone())
                .or_insert(self.store.device(user, &device).await?.is_some())
            {
                return Err(at(format!(
                    "unknown device {device:?}: register it first (POST /api/2/devices/{user}/{device}.json)"
                )));
            }
            let ts_ms = match &a.timestamp {
                None => now,
                Some(t) => parse_iso(t).ok_or_else(|| {
                    at(format!(
                        "timestamp {t:?} is not ISO 8601 (2024-01-31T12:34:56)"
                    ))
                })?,
            };
            if ts_ms > latest_ok {
                return Err(at(format!(
                    "timestamp {} is in the future (the bridge's clock says {}): check the device's clock",
                    format_iso(ts_ms),
                    format_iso(now)
                )));
            }
            if ts_ms < 0 {
                return Err(at("timestamp before 1970".into()));
            }
            let secs = |v: Option<i64>, what: &str| -> Result<i64, ApiError> {
                match v {
                    None | Some(-1) => Ok(-1),
                    Some(x) if (0..=MAX_SECONDS).contains(&x) => Ok(x),
                    Some(x) => Err(at(format!(
                        "{what} {x} is not a number of seconds in 0..={MAX_SECONDS}"
                    ))),
                }
            };
            let (started, position, total) = (
                secs(a.started, "started")?,
                secs(a.position, "position")?,
                secs(a.total, "total")?,
            );
            if action != "play" && (started >= 0 || position >= 0 || total >= 0) {
                return Err(at(format!(
                    "started/position/total are only valid for play, not {action}"
                )));
            }
            stored.push(StoredAction {
                user: user.to_owned(),
                device,
                podcast,
                episode: a.episode.clone(),
                guid: a.guid.clone(),
                action,
                ts_ms,
                started,
                position,
                total,
                episode_key: None,
            });
        }
        // Match before storing, so the journal says what matched.
        for a in &mut stored {
            a.episode_key = self
                .match_action(&a.podcast, &a.episode, a.guid.as_deref())
                .await;
        }
        let fresh = self.store.insert_actions(&stored, self.stamp()).await?;
        let to_apply: Vec<StoredAction> = stored
            .into_iter()
            .zip(fresh)
            .filter(|(a, fresh)| *fresh && a.episode_key.is_some())
            .map(|(a, _)| a)
            .collect();
        let podcasts: BTreeSet<String> = to_apply.iter().map(|a| a.podcast.clone()).collect();
        let replays = actions.len() - to_apply.len();
        tracing::debug!(
            user,
            actions = actions.len(),
            replays,
            "gpodder bridge: upload"
        );
        if !to_apply.is_empty() {
            let ids: Vec<String> = to_apply
                .iter()
                .map(|a| self.library_id(&a.user, &a.device))
                .collect();
            self.lib
                .run(move |l| apply_actions(l, &ids, &to_apply))
                .await?
                .map_err(BridgeError::from)?;
        }
        // Earlier actions of these podcasts that matched nothing may match now.
        if !podcasts.is_empty() {
            self.rematch(Some(&podcasts)).await?;
        }
        // Journal the records this upload changed before answering, so that `since` =
        // this answer does not hand the device its own upload back.
        self.note_records().await?;
        Ok((update_urls, self.answer()))
    }

    /// The library episode an action means, through the parsed feed.
    async fn match_action(
        &self,
        podcast: &str,
        episode: &str,
        guid: Option<&str>,
    ) -> Option<String> {
        let eps = self.feeds.episodes(podcast).await.ok()?;
        let ep = match_episode(&eps, episode, guid)?;
        let key = episode_key(podcast, &ep.guid).ok()?;
        if let Some(enc) = &ep.enclosure {
            let _ = self.store.remember_episode(&key, podcast, enc).await;
        }
        Some(key)
    }

    /// Try again to match the actions that matched nothing (the feed was down, or did not
    /// list the episode yet); matched ones are written to the library. Returns how many matched.
    /// `only`: podcasts to retry (those of an upload), or all.
    pub async fn rematch(&self, only: Option<&BTreeSet<String>>) -> Result<usize, ApiError> {
        let unmatched = self.store.unmatched().await?;
        let mut done: BTreeSet<(String, String)> = BTreeSet::new();
        let mut applied = vec![];
        // Newest first: per episode the newest action is the one the library needs.
        for a in unmatched.into_iter().rev() {
            if only.is_some_and(|o| !o.contains(&a.podcast))
                || !done.insert((a.podcast.clone(), a.episode.clone()))
            {
                continue;
            }
            if let Some(key) = self
                .match_action(&a.podcast, &a.episode, a.guid.as_deref())
                .await
            {
                self.store.set_match(&a.podcast, &a.episode, &key).await?;
                applied.push((a, key));
            }
        }
        let n = applied.len();
        if n > 0 {
            let list: Vec<StoredAction> = applied
                .into_iter()
                .map(|(mut a, k)| {
                    a.episode_key = Some(k);
                    a
                })
                .collect();
            let ids: Vec<String> = list
                .iter()
                .map(|a| self.library_id(&a.user, &a.device))
                .collect();
            self.lib
                .run(move |l| apply_actions(l, &ids, &list))
                .await?
                .map_err(BridgeError::from)?;
        }
        Ok(n)
    }

    // ----- episode actions: download -----

    /// Actions for a gpodder client since `since` (Unix s): per episode whose records
    /// changed, the newest record across devices (rule 3), then the actions the library
    /// has no place for. Optional filters: podcast URL, device id. Returns (actions, now).
    pub async fn actions_since(
        &self,
        user: &str,
        since: i64,
        podcast: Option<&str>,
        device: Option<&str>,
    ) -> Result<(Vec<WireAction>, i64), ApiError> {
        let since_ms = since.max(0).saturating_mul(1000);
        let podcast = podcast
            .map(|p| {
                normalize_feed_url(p).map_err(|e| ApiError::bad(format!("podcast {p:?}: {e}")))
            })
            .transpose()?;
        self.note_records().await?;
        let keys: Vec<String> = self
            .store
            .records_changed_since(since_ms)
            .await?
            .into_iter()
            .filter(|k| {
                podcast
                    .as_deref()
                    .is_none_or(|p| split_episode_key(k).is_some_and(|(f, _)| f == p))
            })
            .collect();
        let prefix = format!("{}/{KIND}/{user}/", self.cfg.member);
        let latest: Vec<(String, String, PlayRecord)> = self
            .lib
            .run(move |l| {
                let names: HashMap<String, String> = l
                    .devices()
                    .into_iter()
                    .filter_map(|d| Some((d.id, d.name?)))
                    .collect();
                keys.into_iter()
                    .filter_map(|k| {
                        let top = l.continue_from(&k).into_iter().next()?;
                        let label = match top.device.strip_prefix(&prefix) {
                            Some(own) => own.to_owned(),
                            None => names
                                .get(&top.device)
                                .cloned()
                                .unwrap_or_else(|| top.device.chars().take(12).collect()),
                        };
                        Some((k, label, top.record))
                    })
                    .collect()
            })
            .await?;
        let mut lookups = 0usize;
        let mut out = Vec::with_capacity(latest.len());
        for (key, label, rec) in latest {
            if device.is_some_and(|d| d != label) {
                continue;
            }
            let Some((feed, guid)) = split_episode_key(&key) else {
                continue;
            };
            let enclosure = match self.store.enclosure(&key).await? {
                Some(e) => Some(e),
                None if lookups < MAX_LOOKUPS => {
                    lookups += 1;
                    match self.feeds.episodes(feed).await {
                        Ok(eps) => {
                            let e = eps
                                .iter()
                                .find(|e| e.guid == guid)
                                .and_then(|e| e.enclosure.clone());
                            if let Some(e) = &e {
                                let _ = self.store.remember_episode(&key, feed, e).await;
                            }
                            e
                        }
                        Err(_) => None,
                    }
                }
                None => None,
            };
            out.push(record_action(feed, guid, enclosure, label, &rec));
        }
        for a in self.store.raw_actions_since(since_ms).await? {
            if podcast.as_deref().is_some_and(|p| p != a.podcast)
                || device.is_some_and(|d| d != a.device)
            {
                continue;
            }
            let play = a.action == "play";
            let opt = |v: i64| (play && v >= 0).then_some(v);
            out.push(WireAction {
                podcast: a.podcast,
                episode: a.episode,
                action: a.action,
                device: Some(a.device),
                timestamp: Some(format_iso(a.ts_ms)),
                started: opt(a.started),
                position: opt(a.position),
                total: opt(a.total),
                guid: a.guid,
            });
        }
        Ok((out, self.answer()))
    }

    /// Journal every play record's `updated`, so that `since` means "reached the bridge
    /// since" whichever device made the record.
    async fn note_records(&self) -> Result<(), ApiError> {
        let records = self
            .lib
            .run(|l| {
                let mut out = vec![];
                for d in l.devices() {
                    for (k, r) in l.plays_of(&d.id) {
                        out.push((d.id.clone(), k, r.updated));
                    }
                }
                out
            })
            .await?;
        self.store.note_records(&records, self.stamp()).await?;
        Ok(())
    }
}

/// A library record as a gpodder action.
fn record_action(
    feed: &str,
    guid: &str,
    enclosure: Option<String>,
    device: String,
    rec: &PlayRecord,
) -> WireAction {
    let total = rec.duration.map(|d| d.round() as i64).filter(|d| *d > 0);
    let position = if rec.completed {
        total.unwrap_or(rec.position.round() as i64)
    } else {
        rec.position.round() as i64
    };
    let fresh = !rec.completed && position == 0;
    WireAction {
        podcast: feed.to_owned(),
        episode: enclosure.unwrap_or_else(|| guid.to_owned()),
        action: if fresh { "new" } else { "play" }.to_owned(),
        device: Some(device),
        timestamp: Some(format_iso(rec.updated)),
        started: (!fresh).then_some(0),
        position: (!fresh).then_some(position),
        total: if fresh { None } else { total },
        guid: Some(guid.to_owned()),
    }
}

/// Write matched, new actions into the library, each under its device (rules 1 and 2).
fn apply_actions(
    l: &mut Library,
    ids: &[String],
    actions: &[StoredAction],
) -> Result<(), skypod_library::LibraryError> {
    for (a, dev) in actions.iter().zip(ids) {
        let Some(key) = &a.episode_key else { continue };
        if let Some(rec) = l.play(dev, key)
            && rec.updated > a.ts_ms
        {
            continue;
        }
        match a.action.as_str() {
            "play" if a.position >= 0 => {
                let total = (a.total > 0).then_some(a.total as f64);
                let done = a.total > 0 && a.position > 0 && a.position >= a.total - END_SLACK;
                let was_done = l.play(dev, key).is_some_and(|r| r.completed);
                l.as_bridged(dev, Some(a.ts_ms), |l| {
                    if was_done && !done {
                        l.mark_played(key, false)?;
                    }
                    l.set_position(key, a.position as f64, total)?;
                    if done {
                        l.mark_played(key, true)?;
                    }
                    Ok(())
                })?;
            }
            "new" => l.as_bridged(dev, Some(a.ts_ms), |l| l.mark_played(key, false))?,
            _ => {}
        }
    }
    Ok(())
}
