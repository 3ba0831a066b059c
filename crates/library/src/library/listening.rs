//! The listening rules (what happens when an episode ends, downloads per device, per-podcast
//! playback settings, time saved), kept apart from the document basics in `library.rs`.
//! `web/src/library/doc.ts` has the same rules, one function each; both are checked against
//! `testdata/listening-rules.json`.
//!
//! Schema (additions inside the schema-1 maps, so no migration):
//! ```text
//! subscriptions.<feed>.settings: { speed: 0.5..=3, trim: "off"|"mild"|"medium"|"strong", boost: bool }
//! settings: { continuous_playback: bool (default true), speed, trim, boost (global defaults) }
//! devices.<device>: { downloads: { <episode>: bytes }, time_saved: { <feed>: seconds } }
//! ```
//! Only a device writes under `devices.<its id>`, so the per-device numbers need no CRDT
//! counter: a read-modify-write by the one writer cannot race.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use super::{
    K_DEVICES, K_SETTINGS, Library, LibraryError, SettingValue, check_text, normalize_feed_url,
};

/// Global setting: start the next queued episode when one ends (default on).
pub const CONTINUOUS_PLAYBACK: &str = "continuous_playback";
/// Lowest and highest per-podcast speed (the players offer 0.5–3×).
pub const SPEED_RANGE: (f64, f64) = (0.5, 3.0);
/// Largest saving accepted in one report (s): a day, far above any episode's silences.
pub const MAX_SAVED_PER_REPORT: f64 = 86_400.0;
/// Largest download size accepted (bytes): 2^53, the largest integer JS holds exactly.
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 53;

const K_DOWNLOADS: &str = "downloads";
const K_TIME_SAVED: &str = "time_saved";

/// How hard silences are trimmed. The player turns a level into a (minimum silence, padding)
/// pair; the library only stores the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrimLevel {
    /// Silences are played.
    Off,
    /// Long pauses only, generous padding.
    Mild,
    /// Shorter pauses, less padding.
    Medium,
    /// Nearly every gap.
    Strong,
}

impl TrimLevel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Mild => "mild",
            Self::Medium => "medium",
            Self::Strong => "strong",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Result<Self, LibraryError> {
        match s {
            "off" => Ok(Self::Off),
            "mild" => Ok(Self::Mild),
            "medium" => Ok(Self::Medium),
            "strong" => Ok(Self::Strong),
            _ => Err(LibraryError::Invalid {
                what: "trim level",
                why: format!("{s:?} is not one of off, mild, medium, strong"),
            }),
        }
    }
}

/// One value of a per-podcast settings patch: keep, clear (inherit the global value) or set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Patch<T> {
    /// Leave as it is.
    #[default]
    Keep,
    /// Remove: the global setting applies.
    Clear,
    /// Set.
    Set(T),
}

/// Per-podcast playback settings as stored (unset values inherit the global ones).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PodcastSettings {
    /// Playback rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Trim level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trim: Option<TrimLevel>,
    /// Volume boost (loudness normalisation plus light compression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boost: Option<bool>,
}

/// A change to a podcast's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodcastSettingsPatch {
    /// Speed.
    pub speed: Patch<f64>,
    /// Trim level.
    pub trim: Patch<TrimLevel>,
    /// Volume boost.
    pub boost: Patch<bool>,
}

/// The settings a player uses for a podcast: its own, else the global ones, else the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EffectiveSettings {
    /// Playback rate (default 1).
    pub speed: f64,
    /// Trim level (default off).
    pub trim: TrimLevel,
    /// Volume boost (default off).
    pub boost: bool,
}

fn check_speed(speed: f64) -> Result<(), LibraryError> {
    if !speed.is_finite() || speed < SPEED_RANGE.0 || speed > SPEED_RANGE.1 {
        return Err(LibraryError::Invalid {
            what: "speed",
            why: format!("{speed} is outside {}–{}", SPEED_RANGE.0, SPEED_RANGE.1),
        });
    }
    Ok(())
}

/// What follows `current` in `queue`: the episode after it when it is queued (none after the
/// last), else the head of the queue. Pure, so the CLI and the web app agree.
pub fn next_in_queue(queue: &[String], current: Option<&str>) -> Option<String> {
    match current.and_then(|c| queue.iter().position(|e| e == c)) {
        Some(i) => queue.get(i + 1).cloned(),
        None => queue.iter().find(|e| Some(e.as_str()) != current).cloned(),
    }
}

impl Library {
    // ----- the queue plays on -----

    /// What follows `current` in this device's queue (see [`next_in_queue`]).
    pub fn next_in_queue(&self, current: Option<&str>) -> Option<String> {
        next_in_queue(&self.queue_list(), current)
    }

    /// An episode ended on this device: it is marked played (at its duration, when known) and
    /// leaves this device's queue. Returns the episode to start next, or `None` when the
    /// queue has nothing after it or the global setting `continuous_playback` is off.
    /// Refuses bad input before changing anything.
    pub fn episode_ended(
        &mut self,
        episode: &str,
        duration: Option<f64>,
    ) -> Result<Option<String>, LibraryError> {
        self.writable()?;
        check_text("episode key", episode)?;
        if let Some(d) = duration {
            super::check_seconds("duration", d)?;
        }
        let queue = self.queue_list();
        let next = next_in_queue(&queue, Some(episode));
        let rec = self.my_record(episode)?;
        self.doc.put(&rec, "completed", true)?;
        if let Some(d) = duration {
            self.doc.put(&rec, "position", d)?;
            if self.get_f64(&rec, "duration") != Some(d) {
                self.doc.put(&rec, "duration", d)?;
            }
        }
        self.stamp_updated(&rec)?;
        self.queue_remove(episode)?;
        let continuous = !matches!(
            self.setting(CONTINUOUS_PLAYBACK),
            Some(SettingValue::Bool(false))
        );
        Ok(next.filter(|_| continuous))
    }

    // ----- downloads per device -----

    fn my_device_map(&mut self, key: &str) -> Result<automerge::ObjId, LibraryError> {
        let devices = self.top(K_DEVICES)?;
        let device = self.device.clone();
        let me = self.child_or_create(&devices, &device, ObjType::Map)?;
        self.child_or_create(&me, key, ObjType::Map)
    }

    fn device_map(&self, device: &str, key: &str) -> Option<automerge::ObjId> {
        let devices = self.top(K_DEVICES).ok()?;
        let dev = self.child(&devices, device, ObjType::Map).ok()??;
        self.child(&dev, key, ObjType::Map).ok()?
    }

    /// Record that this device holds a downloaded copy of `episode` (`bytes` long).
    pub fn set_download(&mut self, episode: &str, bytes: u64) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("episode key", episode)?;
        if bytes > MAX_DOWNLOAD_BYTES {
            return Err(LibraryError::Invalid {
                what: "download size",
                why: format!("{bytes} bytes is more than {MAX_DOWNLOAD_BYTES}"),
            });
        }
        let m = self.my_device_map(K_DOWNLOADS)?;
        // An Int: JS reads it as a plain number (checked above to fit exactly).
        self.doc.put(
            &m,
            episode,
            ScalarValue::Int(i64::try_from(bytes).unwrap_or(i64::MAX)),
        )?;
        Ok(())
    }

    /// This device no longer holds `episode`. Returns whether it was recorded.
    pub fn remove_download(&mut self, episode: &str) -> Result<bool, LibraryError> {
        self.writable()?;
        let Some(m) = self.device_map(&self.device.clone(), K_DOWNLOADS) else {
            return Ok(false);
        };
        if self.doc.get(&m, episode)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&m, episode)?;
        Ok(true)
    }

    /// A device's downloads: episode key → bytes.
    pub fn downloads_of(&self, device: &str) -> BTreeMap<String, u64> {
        let Some(m) = self.device_map(device, K_DOWNLOADS) else {
            return BTreeMap::new();
        };
        self.map_keys(&m)
            .into_iter()
            .filter_map(|k| {
                let b = self.get_i64(&m, &k)?;
                Some((k, u64::try_from(b).ok()?))
            })
            .collect()
    }

    /// The devices holding a downloaded copy of `episode`, sorted by id.
    pub fn download_holders(&self, episode: &str) -> Vec<String> {
        let Ok(devices) = self.top(K_DEVICES) else {
            return Vec::new();
        };
        self.map_keys(&devices)
            .into_iter()
            .filter(|d| {
                self.device_map(d, K_DOWNLOADS)
                    .is_some_and(|m| matches!(self.doc.get(&m, episode), Ok(Some(_))))
            })
            .collect()
    }

    // ----- per-podcast settings -----

    /// A podcast's own playback settings (unset values inherit the global ones).
    pub fn podcast_settings(&self, feed_url: &str) -> Result<PodcastSettings, LibraryError> {
        let (_, s) = self.sub_obj(feed_url)?;
        let Some(settings) = self.child(&s, "settings", ObjType::Map)? else {
            return Ok(PodcastSettings::default());
        };
        Ok(self.read_playback_settings(&settings))
    }

    fn read_playback_settings(&self, obj: &automerge::ObjId) -> PodcastSettings {
        PodcastSettings {
            speed: self
                .get_f64(obj, "speed")
                .filter(|s| check_speed(*s).is_ok()),
            trim: self
                .get_str(obj, "trim")
                .and_then(|t| TrimLevel::parse(&t).ok()),
            boost: self.get_bool(obj, "boost"),
        }
    }

    /// Change a podcast's playback settings; every value is checked before anything changes.
    pub fn set_podcast_settings(
        &mut self,
        feed_url: &str,
        patch: &PodcastSettingsPatch,
    ) -> Result<(), LibraryError> {
        self.writable()?;
        if let Patch::Set(s) = patch.speed {
            check_speed(s)?;
        }
        let (_, s) = self.sub_obj(feed_url)?;
        let settings = self.child_or_create(&s, "settings", ObjType::Map)?;
        let values: [(&str, Patch<ScalarValue>); 3] = [
            ("speed", map_patch(patch.speed, ScalarValue::F64)),
            (
                "trim",
                map_patch(patch.trim, |t| ScalarValue::Str(t.as_str().into())),
            ),
            ("boost", map_patch(patch.boost, ScalarValue::Boolean)),
        ];
        for (key, p) in values {
            match p {
                Patch::Keep => {}
                Patch::Clear => {
                    if self.doc.get(&settings, key)?.is_some() {
                        self.doc.delete(&settings, key)?;
                    }
                }
                Patch::Set(v) => self.doc.put(&settings, key, v)?,
            }
        }
        Ok(())
    }

    /// The settings to play a podcast with: its own, else the global ones, else 1×, off, off.
    pub fn effective_settings(&self, feed_url: &str) -> Result<EffectiveSettings, LibraryError> {
        let own = self.podcast_settings(feed_url)?;
        let global = self
            .top(K_SETTINGS)
            .map(|s| self.read_playback_settings(&s))
            .unwrap_or_default();
        Ok(EffectiveSettings {
            speed: own.speed.or(global.speed).unwrap_or(1.0),
            trim: own.trim.or(global.trim).unwrap_or(TrimLevel::Off),
            boost: own.boost.or(global.boost).unwrap_or(false),
        })
    }

    // ----- time saved -----

    /// Add `seconds` of the listener's time saved (by trimming silences) on this device for
    /// a podcast.
    pub fn add_time_saved(&mut self, feed_url: &str, seconds: f64) -> Result<(), LibraryError> {
        self.writable()?;
        let feed = normalize_feed_url(feed_url)?;
        if !seconds.is_finite() || !(0.0..=MAX_SAVED_PER_REPORT).contains(&seconds) {
            return Err(LibraryError::Invalid {
                what: "time saved",
                why: format!("{seconds} is not between 0 and {MAX_SAVED_PER_REPORT} seconds"),
            });
        }
        if seconds == 0.0 {
            return Ok(());
        }
        let m = self.my_device_map(K_TIME_SAVED)?;
        let before = self.get_f64(&m, &feed).unwrap_or(0.0);
        self.doc.put(&m, feed.as_str(), before + seconds)?;
        Ok(())
    }

    /// Time saved per podcast, summed over every device of the realm (feed URL → seconds).
    pub fn time_saved(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        let Ok(devices) = self.top(K_DEVICES) else {
            return out;
        };
        for d in self.map_keys(&devices) {
            let Some(m) = self.device_map(&d, K_TIME_SAVED) else {
                continue;
            };
            for feed in self.map_keys(&m) {
                if let Some(s) = self
                    .get_f64(&m, &feed)
                    .filter(|s| s.is_finite() && *s > 0.0)
                {
                    *out.entry(feed).or_default() += s;
                }
            }
        }
        out
    }

    /// Total time saved over every podcast and device (s).
    pub fn time_saved_total(&self) -> f64 {
        self.time_saved().values().sum()
    }
}

fn map_patch<T: Copy>(p: Patch<T>, f: impl Fn(T) -> ScalarValue) -> Patch<ScalarValue> {
    match p {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(v) => Patch::Set(f(v)),
    }
}
