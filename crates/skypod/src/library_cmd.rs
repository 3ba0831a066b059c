//! The podcast manager in the terminal: subscriptions, episodes, positions, the queue, OPML,
//! and `skypod node`, the always-on peer that keeps the library for the other devices.
//!
//! The library lives in `<home>/library`. Edits are saved locally first; then (unless
//! `--offline`) the peer starts for a short sync round so that the edit reaches the devices
//! (or the `node`) online now.

use anyhow::{Context, bail};
use skypod_library::{
    Feed, Library, NewFeed, Store, StoreError, Subscribed, episode_key, normalize_feed_url,
};
use skypod_model::ParsedFeed;
use skypod_protocol::token::{self, NoClaims};
use skypod_protocol::{Purpose, unix_now};
use std::path::PathBuf;
use std::time::Duration;

use crate::device::{Device, Home, http_base};

#[derive(clap::Args, Clone, Debug)]
pub struct SyncOpts {
    /// Do not touch the network: edit (or read) the local library only.
    #[arg(long)]
    offline: bool,
    /// Longest sync round with the online devices, in seconds.
    #[arg(long, default_value_t = 10)]
    sync_timeout: u64,
}

#[derive(clap::Subcommand)]
pub enum LibraryCmd {
    /// Subscribe to a podcast feed (its title is fetched through the server's feed proxy).
    Subscribe {
        url: String,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Unsubscribe from a feed.
    Unsubscribe {
        url: String,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// The subscriptions.
    Feeds {
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// A feed's episodes (through the feed proxy) with this and the other devices' positions.
    Episodes {
        feed: String,
        /// Show at most this many (newest first as the feed lists them).
        #[arg(long, default_value_t = 30)]
        limit: usize,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Import subscriptions from an OPML file.
    Import {
        file: PathBuf,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Export the subscriptions as OPML 2.0 (to stdout, or a file).
    Export {
        file: Option<PathBuf>,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Record this device's position in an episode.
    Position {
        /// The episode: its key ("<feed url> <guid>"), or its guid with --feed.
        episode: String,
        /// 12:34, 1:02:03 or seconds.
        time: String,
        /// The episode's feed (when EPISODE is a guid).
        #[arg(long)]
        feed: Option<String>,
        /// The episode's duration (12:34 or seconds), if known.
        #[arg(long)]
        duration: Option<String>,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Mark an episode played (or, with --unplayed, not played).
    Played {
        episode: String,
        #[arg(long)]
        feed: Option<String>,
        #[arg(long)]
        unplayed: bool,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// This device's queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Sync the library with the devices online now, then exit.
    Sync {
        #[arg(long, default_value_t = 10)]
        sync_timeout: u64,
    },
    /// New episodes across the subscriptions (through the feed proxy), newest first: those
    /// published since the listener last looked on any device, and played nowhere.
    Inbox {
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Then mark them seen (the marks sync: they are no longer new on the other devices).
        #[arg(long)]
        mark_seen: bool,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Run an always-on headless peer that keeps the library and syncs every device that
    /// comes online (for a home server). Stop with Ctrl-C or SIGTERM.
    Node {
        /// Refresh every subscription through the feed proxy this often, in minutes (titles
        /// kept current, new episodes logged, the proxy's cache kept warm); 0 turns it off.
        #[arg(long, env = "SKYPOD_REFRESH_MINUTES", default_value_t = 30)]
        refresh_minutes: u64,

        /// Also serve the gpodder bridge (gpodder.net API v2 and Nextcloud gPodder Sync,
        /// plain HTTP) on this address, e.g. 0.0.0.0:8081, for AntennaPod and other apps;
        /// accounts: `skypod bridge user add NAME`. README: "Sync with AntennaPod or gPodder".
        #[arg(long, value_name = "ADDR", env = "SKYPOD_GPODDER_LISTEN")]
        gpodder_listen: Option<std::net::SocketAddr>,
    },
}

#[derive(clap::Subcommand)]
pub enum QueueAction {
    /// Append an episode.
    Add {
        episode: String,
        #[arg(long)]
        feed: Option<String>,
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// List the queue.
    List {
        #[command(flatten)]
        sync: SyncOpts,
    },
    /// Remove an episode.
    Remove {
        episode: String,
        #[arg(long)]
        feed: Option<String>,
        #[command(flatten)]
        sync: SyncOpts,
    },
}

/// The library is owned by another process (the node): edits are refused.
#[derive(Debug)]
struct Locked(String);

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.\nStop the node first, or make the change on another device: the node syncs it here.",
            self.0
        )
    }
}

impl std::error::Error for Locked {}

/// The device and its opened library.
struct Ctx {
    dev: Device,
    lib: Library,
    /// `None`: opened read-only because the running node owns the store.
    store: Option<Store>,
    /// Read-only for an edit: the heads read, after which edits are handed to the node.
    handoff: Option<Vec<skypod_library::automerge::ChangeHash>>,
}

/// An edit of one episode (`episode` resolved as the commands do): `edit` says whether it
/// changed the library and what to print; the library is saved if so, then synced.
async fn edit_episode(
    home: &Home,
    episode: &str,
    feed: Option<&str>,
    sync: &SyncOpts,
    edit: impl FnOnce(&mut Library, &str) -> anyhow::Result<(bool, String)>,
) -> anyhow::Result<()> {
    let mut c = Ctx::open_to_edit(home)?;
    let key = resolve_episode(&c.lib, episode, feed)?;
    let (changed, said) = edit(&mut c.lib, &key)?;
    if changed {
        c.save()?;
    }
    println!("{said}");
    c.sync(sync).await;
    Ok(())
}

impl Ctx {
    /// For commands that only read: while the node owns the library, read it as saved
    /// (the node keeps it in sync) instead of refusing.
    fn open_to_read(home: &Home) -> anyhow::Result<Self> {
        Self::open_or_view(home, false)
    }

    /// For commands that edit: while the node owns the library, edit a read-only view and
    /// hand the changes to the node (`Store::hand_off`), which saves and syncs them.
    fn open_to_edit(home: &Home) -> anyhow::Result<Self> {
        Self::open_or_view(home, true)
    }

    fn open_or_view(home: &Home, edit: bool) -> anyhow::Result<Self> {
        match Self::open(home) {
            Err(e) if e.downcast_ref::<Locked>().is_some() => {
                let dev = Device::open(&home.home)?;
                let id = dev.identity.identid().as_str().to_owned();
                let mut lib = Store::read_only(dev.dir.join("library"), &id)
                    .with_context(|| format!("reading the library in {}", dev.dir.display()))?;
                if !edit {
                    eprintln!(
                        "(the running node owns the library: showing it as saved, the node syncs it)"
                    );
                }
                let handoff = edit.then(|| lib.heads());
                Ok(Self {
                    dev,
                    lib,
                    store: None,
                    handoff,
                })
            }
            r => r,
        }
    }

    fn open(home: &Home) -> anyhow::Result<Self> {
        let dev = Device::open(&home.home)?;
        let id = dev.identity.identid().as_str().to_owned();
        let opened = match Store::open(dev.dir.join("library"), &id) {
            Ok(o) => o,
            // One writer per library: the node owns it while it runs.
            Err(e @ StoreError::Locked { .. }) => return Err(Locked(e.to_string()).into()),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("opening the library in {}", dev.dir.display())));
            }
        };
        if let Some(r) = &opened.recovery {
            eprintln!("warning: {r}");
        }
        let (mut library, mut store) = (opened.library, opened.store);
        // Edits handed over while another process owned the library and did not take them.
        if let Err(e) = store.take_inbox(&mut library) {
            eprintln!("warning: could not merge edits handed over earlier: {e}");
        }
        Ok(Self {
            dev,
            lib: library,
            store: Some(store),
            handoff: None,
        })
    }

    fn save(&mut self) -> anyhow::Result<()> {
        if let Some(store) = self.store.as_mut() {
            store.save(&mut self.lib)?;
            return Ok(());
        }
        let Some(since) = &self.handoff else {
            bail!("the library was opened read-only");
        };
        let dir = self.dev.dir.join("library");
        if Store::hand_off(&dir, &mut self.lib, since)
            .with_context(|| format!("handing the change to the node in {}", dir.display()))?
        {
            eprintln!("(the running node owns the library: it saves this change and syncs it)");
        }
        Ok(())
    }

    /// A short sync round with the online devices, unless offline or in no realm.
    async fn sync(&mut self, opts: &SyncOpts) {
        let Some(store) = self.store.as_mut() else {
            return; // read-only: the node syncs
        };
        if opts.offline {
            return;
        }
        if self.dev.realm.is_none() {
            eprintln!("(not in a realm: the library stays on this device)");
            return;
        }
        let t = Duration::from_secs(opts.sync_timeout.max(1));
        match crate::libsync::round(&self.dev, &mut self.lib, store, t).await {
            Ok((0, _)) => eprintln!("(no other device online: synced later)"),
            Ok((n, _)) => eprintln!("(synced with {n} device(s))"),
            Err(e) => eprintln!("(not synced: {e:#})"),
        }
    }
}

pub async fn run(home: &Home, cmd: LibraryCmd) -> anyhow::Result<()> {
    match cmd {
        LibraryCmd::Node {
            refresh_minutes,
            gpodder_listen,
        } => {
            let mut c = Ctx::open(home)?;
            c.dev.joined()?;
            let every = (refresh_minutes > 0)
                .then_some(Duration::from_secs(refresh_minutes.saturating_mul(60)));
            let bridge = match gpodder_listen {
                Some(addr) => Some(crate::bridge_cmd::serve(&c.dev, &c.lib, addr).await?),
                None => None,
            };
            let store = c.store.as_mut().context("the library is read-only")?;
            crate::libsync::node(&c.dev, &mut c.lib, store, every, bridge).await?;
            c.save()
        }
        LibraryCmd::Inbox {
            limit,
            mark_seen,
            sync,
        } => {
            let mut c = if mark_seen {
                Ctx::open_to_edit(home)?
            } else {
                Ctx::open_to_read(home)?
            };
            c.sync(&sync).await;
            let urls: Vec<String> = c.lib.feeds().into_iter().map(|f| f.url).collect();
            let proxy = ProxyTarget::of(&c.dev)?;
            let mut fresh: Vec<(i64, String, String, String)> = Vec::new();
            let mut newest: std::collections::BTreeMap<String, i64> = Default::default();
            for url in &urls {
                let feed = match proxy.feed(url).await {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("{url}: not updated: {e:#}");
                        continue;
                    }
                };
                let podcast = c
                    .lib
                    .feed(url)?
                    .map(|f| f.title)
                    .filter(|t| !t.is_empty())
                    .or(feed.channel.title.clone())
                    .unwrap_or_else(|| url.clone());
                for ep in &feed.episodes {
                    let Some(Ok(key)) = ep.library_key().map(|guid| episode_key(url, guid)) else {
                        continue;
                    };
                    let published = published_ms(ep);
                    if c.lib.is_new(url, published, &key) {
                        let p = published.unwrap_or(0);
                        let n = newest.entry(url.clone()).or_insert(p);
                        *n = (*n).max(p);
                        let title = ep.title.clone().unwrap_or_else(|| "(untitled)".into());
                        fresh.push((p, podcast.clone(), title, key));
                    }
                }
            }
            fresh.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.3.cmp(&b.3)));
            if fresh.is_empty() {
                println!("Nothing new.");
            }
            for (p, podcast, title, _) in fresh.iter().take(limit) {
                println!("{}  {podcast}: {title}", fmt_date(*p));
            }
            if fresh.len() > limit {
                println!("… and {} more", fresh.len() - limit);
            }
            if mark_seen && !newest.is_empty() {
                for (url, t) in &newest {
                    c.lib.mark_seen(url, *t)?;
                }
                c.save()?;
                println!("Marked {} episode(s) seen.", fresh.len());
                c.sync(&sync).await;
            }
            Ok(())
        }
        LibraryCmd::Sync { sync_timeout } => {
            let mut c = Ctx::open(home)?;
            c.dev.joined()?;
            let t = Duration::from_secs(sync_timeout.max(1));
            let store = c.store.as_mut().context("the library is read-only")?;
            let (n, r) = crate::libsync::round(&c.dev, &mut c.lib, store, t).await?;
            println!("synced with {n} device(s), {r} message(s) received");
            Ok(())
        }
        LibraryCmd::Subscribe { url, sync } => {
            let mut c = Ctx::open_to_edit(home)?;
            let url = normalize_feed_url(&url)?;
            let title = if sync.offline {
                Err(anyhow::anyhow!("offline"))
            } else {
                fetch_feed(&c.dev, &url).await.map(|f| f.channel.title)
            };
            let known = title.as_ref().ok().cloned().flatten();
            let r = c.lib.subscribe(NewFeed {
                url: url.clone(),
                title: known.clone(),
                ..Default::default()
            })?;
            if let (Subscribed::Already(_), Some(t)) = (&r, &known)
                && c.lib.feed(&url)?.is_some_and(|f| f.title.is_empty())
            {
                c.lib.set_title(&url, t)?;
            }
            c.save()?;
            let what = match &r {
                Subscribed::Added(_) => "Subscribed to",
                Subscribed::Already(_) => "Already subscribed to",
            };
            match (&title, known) {
                (_, Some(t)) => println!("{what} {t} ({})", r.url()),
                (Ok(_), None) => println!("{what} {} (the feed has no title)", r.url()),
                (Err(e), None) => println!("{what} {} (title unknown: {e:#})", r.url()),
            }
            c.sync(&sync).await;
            Ok(())
        }
        LibraryCmd::Unsubscribe { url, sync } => {
            let mut c = Ctx::open_to_edit(home)?;
            let url = normalize_feed_url(&url)?;
            if c.lib.unsubscribe(&url)? {
                c.save()?;
                println!("Unsubscribed from {url}");
            } else {
                println!("Not subscribed to {url}");
            }
            c.sync(&sync).await;
            Ok(())
        }
        LibraryCmd::Feeds { sync } => {
            let mut c = Ctx::open_to_read(home)?;
            c.sync(&sync).await;
            print_feeds(&c.lib.feeds());
            Ok(())
        }
        LibraryCmd::Episodes { feed, limit, sync } => {
            let mut c = Ctx::open_to_read(home)?;
            c.sync(&sync).await;
            let url = normalize_feed_url(&feed)?;
            let parsed = fetch_feed(&c.dev, &url)
                .await
                .with_context(|| format!("fetching {url} through the feed proxy"))?;
            print_episodes(&c.lib, &url, &parsed, limit)
        }
        LibraryCmd::Import { file, sync } => {
            let mut c = Ctx::open_to_edit(home)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} feeds ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message("importing");
            let report = c.lib.import_opml(&bytes, |p| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            })?;
            bar.finish_and_clear();
            c.save()?;
            println!(
                "Imported {} new feed(s), {} already subscribed, {} skipped",
                report.added,
                report.already,
                report.skipped.len()
            );
            for (what, why) in &report.skipped {
                eprintln!("  skipped {what}: {why}");
            }
            c.sync(&sync).await;
            Ok(())
        }
        LibraryCmd::Export { file, sync } => {
            let mut c = Ctx::open_to_read(home)?;
            c.sync(&sync).await;
            let text = c.lib.export_opml();
            match file {
                Some(f) => {
                    std::fs::write(&f, text.as_bytes())
                        .with_context(|| format!("writing {}", f.display()))?;
                    eprintln!("Exported {} feed(s) to {}", c.lib.feed_count(), f.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        LibraryCmd::Position {
            episode,
            time,
            feed,
            duration,
            sync,
        } => {
            edit_episode(home, &episode, feed.as_deref(), &sync, |lib, key| {
                let secs = parse_time(&time)?;
                let dur = duration.as_deref().map(parse_time).transpose()?;
                lib.set_position(key, secs, dur)?;
                Ok((true, format!("Position {} in {key}", fmt_time(secs))))
            })
            .await
        }
        LibraryCmd::Played {
            episode,
            feed,
            unplayed,
            sync,
        } => {
            edit_episode(home, &episode, feed.as_deref(), &sync, |lib, key| {
                lib.mark_played(key, !unplayed)?;
                let state = if unplayed { "unplayed" } else { "played" };
                Ok((true, format!("Marked {state} {key}")))
            })
            .await
        }
        LibraryCmd::Queue { action } => match action {
            QueueAction::Add {
                episode,
                feed,
                sync,
            } => {
                edit_episode(home, &episode, feed.as_deref(), &sync, |lib, key| {
                    Ok(match lib.queue_add(key)? {
                        true => (true, format!("Queued {key}")),
                        false => (false, format!("Already queued: {key}")),
                    })
                })
                .await
            }
            QueueAction::Remove {
                episode,
                feed,
                sync,
            } => {
                edit_episode(home, &episode, feed.as_deref(), &sync, |lib, key| {
                    Ok(match lib.queue_remove(key)? {
                        true => (true, format!("Removed {key} from the queue")),
                        false => (false, format!("Not queued: {key}")),
                    })
                })
                .await
            }
            QueueAction::List { sync } => {
                let mut c = Ctx::open_to_read(home)?;
                c.sync(&sync).await;
                let q = c.lib.queue_list();
                if q.is_empty() {
                    println!("The queue is empty.");
                }
                for (i, key) in q.iter().enumerate() {
                    let pos = c
                        .lib
                        .my_play(key)
                        .map(|r| format!("  [{}]", fmt_time(r.position)))
                        .unwrap_or_default();
                    println!("{:>3}. {key}{pos}", i + 1);
                }
                Ok(())
            }
        },
    }
}

// ----- episodes and times -----

/// An episode key from what the user typed: a full key, a guid with --feed, or a guid that
/// matches exactly one known episode (in play records or the queue).
fn resolve_episode(lib: &Library, episode: &str, feed: Option<&str>) -> anyhow::Result<String> {
    if let Some(feed) = feed {
        return Ok(episode_key(feed, episode)?);
    }
    if let Some((f, g)) = skypod_library::split_episode_key(episode)
        && normalize_feed_url(f).is_ok()
    {
        return Ok(episode_key(f, g)?);
    }
    let mut known: std::collections::BTreeSet<String> = lib.queue_list().into_iter().collect();
    for d in play_devices(lib) {
        known.extend(lib.plays_of(&d).into_keys());
    }
    let hits: Vec<&String> = known
        .iter()
        .filter(|k| skypod_library::split_episode_key(k).is_some_and(|(_, g)| g == episode))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "unknown episode {episode:?}: give its feed with --feed <url>, or the full key \"<feed url> <guid>\""
        ),
        _ => bail!("{episode:?} matches several episodes: give its feed with --feed <url>"),
    }
}

/// Every device with play records (the keys of the document's `plays` map).
fn play_devices(lib: &Library) -> Vec<String> {
    use skypod_library::automerge::{ObjType, ReadDoc, Value};
    let doc = lib.doc();
    let mut out: Vec<String> = match doc.get(skypod_library::automerge::ROOT, "plays") {
        Ok(Some((Value::Object(ObjType::Map), id))) => doc.keys(&id).collect(),
        _ => Vec::new(),
    };
    out.push(lib.device().to_owned());
    out.sort();
    out.dedup();
    out
}

/// `12:34`, `1:02:03`, `754` or `754.5` → seconds.
pub fn parse_time(s: &str) -> anyhow::Result<f64> {
    let bad = || anyhow::anyhow!("bad time {s:?}: use 12:34, 1:02:03 or seconds");
    let mut total = 0.0;
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    for (i, p) in parts.iter().enumerate() {
        let v: f64 = p.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 || (i > 0 && v >= 60.0) {
            return Err(bad());
        }
        total = total * 60.0 + v;
    }
    Ok(total)
}

pub fn fmt_time(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

// ----- the feed proxy -----

/// Publish time in ms since the epoch.
fn published_ms(e: &skypod_model::Episode) -> Option<i64> {
    e.published.map(|d| d.timestamp_millis())
}

fn fmt_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "          ".into())
}

/// Where and as whom to ask the realm server's feed proxy (cheap to clone into a task).
#[derive(Clone)]
pub struct ProxyTarget {
    base: String,
    realm: skypod_protocol::RealmId,
    identity: skypod_protocol::IdentityKey,
    client: reqwest::Client,
}

impl ProxyTarget {
    pub fn of(dev: &Device) -> anyhow::Result<Self> {
        let state = dev.joined()?;
        Ok(Self {
            base: http_base(&state.server),
            realm: state.realm.clone(),
            identity: dev.identity.clone(),
            client: skypod_feeds::fetch::http_client()
                .timeout(Duration::from_secs(20))
                .build()?,
        })
    }

    async fn feed(&self, url: &str) -> anyhow::Result<ParsedFeed> {
        let token = token::sign(
            &self.identity,
            Purpose::Proxy,
            &self.realm,
            unix_now(),
            60,
            NoClaims {},
        )
        .map_err(|e| anyhow::anyhow!("signing the proxy token: {e}"))?;
        let target =
            reqwest::Url::parse_with_params(&format!("{}/proxy/feed", self.base), &[("url", url)])?;
        let resp = self
            .client
            .get(target)
            .bearer_auth(token)
            .send()
            .await
            .context("the feed proxy is unreachable")?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into());
            bail!("the feed proxy answered {status}: {msg}");
        }
        serde_json::from_slice(&body).context("the feed proxy sent an unexpected answer")
    }
}

async fn fetch_feed(dev: &Device, url: &str) -> anyhow::Result<ParsedFeed> {
    ProxyTarget::of(dev)?.feed(url).await
}

/// One feed as a scheduled refresh saw it.
pub struct Refreshed {
    url: String,
    title: Option<String>,
    /// (episode key, publish time in ms) of every episode.
    episodes: Vec<(String, Option<i64>)>,
}

/// The node's scheduled refresh: every subscription through the proxy (which revalidates
/// with the host), two at a time; the results go back to the node loop in one batch. A feed
/// that fails is logged and skipped (its last copy stays wherever it was).
pub async fn refresh_feeds(
    proxy: ProxyTarget,
    urls: Vec<String>,
    done: tokio::sync::mpsc::Sender<Vec<Refreshed>>,
) {
    use futures_util::StreamExt;
    let started = std::time::Instant::now();
    let total = urls.len();
    let batch: Vec<Refreshed> = futures_util::stream::iter(urls)
        .map(|url| {
            let proxy = proxy.clone();
            async move {
                match proxy.feed(&url).await {
                    Ok(f) => Some(Refreshed {
                        title: f.channel.title.clone(),
                        episodes: f
                            .episodes
                            .iter()
                            .filter_map(|e| Some((episode_key(&url, e.library_key()?).ok()?, published_ms(e))))
                            .collect(),
                        url,
                    }),
                    Err(e) => {
                        tracing::warn!(feed = %url, error = %format!("{e:#}"), "refresh: feed not updated");
                        None
                    }
                }
            }
        })
        .buffer_unordered(2)
        .filter_map(std::future::ready)
        .collect()
        .await;
    tracing::info!(
        feeds = total,
        updated = batch.len(),
        ms = started.elapsed().as_millis() as u64,
        "refresh: subscriptions fetched"
    );
    let _ = done.send(batch).await;
}

/// Apply a refresh to the library: titles that changed at the source, and a log line per
/// feed with new episodes. Returns whether the library changed.
pub fn apply_refresh(lib: &mut Library, batch: &[Refreshed]) -> bool {
    let mut changed = false;
    for r in batch {
        let Ok(Some(feed)) = lib.feed(&r.url) else {
            continue; // unsubscribed meanwhile
        };
        if let Some(t) = r.title.as_deref().map(str::trim).filter(|t| !t.is_empty())
            && t != feed.title
        {
            match lib.set_title(&r.url, t) {
                Ok(()) => changed = true,
                Err(e) => tracing::warn!(feed = %r.url, error = %e, "refresh: title not kept"),
            }
        }
        let fresh = r
            .episodes
            .iter()
            .filter(|(k, p)| lib.is_new(&r.url, *p, k))
            .count();
        if fresh > 0 {
            tracing::info!(feed = %r.url, new = fresh, "refresh: new episodes");
        }
    }
    changed
}

// ----- output -----

fn print_feeds(feeds: &[Feed]) {
    if feeds.is_empty() {
        println!(
            "No subscriptions. Add one with `skypod subscribe <url>` or `skypod import <opml>`."
        );
        return;
    }
    for f in feeds {
        let folder = if f.folder.is_empty() {
            String::new()
        } else {
            format!("[{}] ", f.folder.join("/"))
        };
        let title = if f.title.is_empty() {
            "(untitled)"
        } else {
            &f.title
        };
        println!("{folder}{title}  {}", f.url);
    }
    println!("{} feed(s)", feeds.len());
}

fn print_episodes(lib: &Library, url: &str, feed: &ParsedFeed, limit: usize) -> anyhow::Result<()> {
    println!(
        "{}  ({} episode(s))",
        feed.channel.title.as_deref().unwrap_or(url),
        feed.episodes.len()
    );
    let names: std::collections::BTreeMap<String, String> = lib
        .devices()
        .into_iter()
        .filter_map(|d| d.name.map(|n| (d.id, n)))
        .collect();
    for ep in feed.episodes.iter().take(limit) {
        let date = ep
            .published
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| " ".repeat(10));
        let dur = ep
            .duration_seconds
            .map(|d| fmt_time(d as f64))
            .unwrap_or_else(|| "-".into());
        println!(
            "{date}  {dur:>8}  {}",
            ep.title.as_deref().unwrap_or("(untitled)")
        );
        let Some(Ok(key)) = ep.library_key().map(|guid| episode_key(url, guid)) else {
            continue;
        };
        for r in lib.continue_from(&key) {
            let who = if r.device == lib.device() {
                "this device".to_owned()
            } else {
                names
                    .get(&r.device)
                    .cloned()
                    .unwrap_or_else(|| r.device.chars().take(12).collect())
            };
            let state = if r.record.completed {
                "played".to_owned()
            } else {
                format!("at {}", fmt_time(r.record.position))
            };
            println!("{:22}{who}: {state}", "");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("12:34").unwrap(), 754.0);
        assert_eq!(parse_time("1:02:03").unwrap(), 3723.0);
        assert_eq!(parse_time("90").unwrap(), 90.0);
        assert!(parse_time("1:60").is_err());
        assert!(parse_time("x").is_err());
        assert_eq!(fmt_time(754.0), "12:34");
        assert_eq!(fmt_time(3723.0), "1:02:03");
    }
}
