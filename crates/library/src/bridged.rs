//! Bridged devices: devices that are not realm members (a phone running AntennaPod that
//! syncs through the gpodder bridge of a `skypod node`) but have their own play records and
//! queue in the library, written by the member that bridges them.
//!
//! Document: a bridged device is an ordinary entry of `devices` with two more fields,
//! `devices.<id> = { name, bridged_by: <member device id>, kind: "gpodder" }`, and its
//! records live under its own id in `plays` / `queues` like any device's. The invariant
//! "only one writer per device key" still holds: only the bridging member writes under a
//! bridged device's id ([`Library::as_bridged`] refuses anything else), so positions from
//! the phone never overwrite the laptop's, and "continue from" ([`Library::continue_from`])
//! lists the phone like any other device.

use std::sync::Arc;

use automerge::ObjType;
use automerge::transaction::Transactable;
use serde::{Deserialize, Serialize};

use crate::error::LibraryError;
use crate::library::{K_DEVICES, Library, check_text};

/// A device whose records a realm member writes on its behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgedDevice {
    /// Its key in `plays` / `queues` / `devices` (see [`bridged_device_id`]).
    pub id: String,
    /// Name shown as "continue from <name>", e.g. "AntennaPod (mobile) via node".
    pub name: String,
    /// The member that bridges it (the only writer of its records).
    pub bridged_by: String,
    /// Which bridge made it, e.g. "gpodder".
    pub kind: String,
}

/// The library key of a bridged device: `<member>/<kind>/<account>/<device>`. Unique per
/// bridging member, and never a realm identity (those have no `/`).
pub fn bridged_device_id(member: &str, kind: &str, account: &str, device: &str) -> String {
    format!("{member}/{kind}/{account}/{device}")
}

impl Library {
    /// Register (or rename) a device bridged by this member. Registering under an id that
    /// another member already bridges, or that is not in this member's bridged namespace,
    /// is refused: it would make two writers for one device key.
    pub fn register_bridged(
        &mut self,
        id: &str,
        name: &str,
        kind: &str,
    ) -> Result<(), LibraryError> {
        self.writable()?;
        check_text("bridged device id", id)?;
        check_text("device name", name)?;
        check_text("bridge kind", kind)?;
        if !id.starts_with(&format!("{}/", self.device)) {
            return Err(LibraryError::Invalid {
                what: "bridged device id",
                why: format!("{id:?} is not bridged by this device ({})", self.device),
            });
        }
        let devices = self.top(K_DEVICES)?;
        let entry = self.child_or_create(&devices, id, ObjType::Map)?;
        if self.get_str(&entry, "name").as_deref() != Some(name) {
            self.doc.put(&entry, "name", name)?;
        }
        if self.get_str(&entry, "bridged_by").as_deref() != Some(self.device.as_str()) {
            let me = self.device.clone();
            self.doc.put(&entry, "bridged_by", me)?;
        }
        if self.get_str(&entry, "kind").as_deref() != Some(kind) {
            self.doc.put(&entry, "kind", kind)?;
        }
        Ok(())
    }

    /// Every bridged device in the realm (whichever member bridges it), sorted by id.
    pub fn bridged_devices(&self) -> Vec<BridgedDevice> {
        let Ok(devices) = self.top(K_DEVICES) else {
            return Vec::new();
        };
        self.map_keys(&devices)
            .into_iter()
            .filter_map(|id| {
                let m = self.child(&devices, &id, ObjType::Map).ok().flatten()?;
                Some(BridgedDevice {
                    name: self.get_str(&m, "name").unwrap_or_else(|| id.clone()),
                    bridged_by: self.get_str(&m, "bridged_by")?,
                    kind: self.get_str(&m, "kind").unwrap_or_default(),
                    id,
                })
            })
            .collect()
    }

    /// Whether `device` is a bridged device (of any member).
    pub fn is_bridged(&self, device: &str) -> bool {
        self.bridged_devices().iter().any(|d| d.id == device)
    }

    /// Run `edit` as the bridged device `device`: the play-record and queue methods
    /// (`set_position`, `mark_played`, `queue_add`, ...) write under its id instead of this
    /// member's, and, when `at` is given (Unix ms), stamp `updated` with that time — the
    /// time the action happened on the bridged device, not when it reached the bridge, so
    /// that "newest across devices" compares what the listener did when.
    ///
    /// Refused unless this member registered `device` ([`Library::register_bridged`]).
    pub fn as_bridged<R>(
        &mut self,
        device: &str,
        at: Option<i64>,
        edit: impl FnOnce(&mut Library) -> Result<R, LibraryError>,
    ) -> Result<R, LibraryError> {
        self.writable()?;
        let mine = self
            .bridged_devices()
            .into_iter()
            .any(|d| d.id == device && d.bridged_by == self.device);
        if !mine {
            return Err(LibraryError::Invalid {
                what: "bridged device",
                why: format!("{device:?} is not a device bridged by {}", self.device),
            });
        }
        let member = std::mem::replace(&mut self.device, device.to_owned());
        let clock = at.map(|t| {
            std::mem::replace(
                &mut self.clock,
                Arc::new(move || t) as crate::library::Clock,
            )
        });
        let out = edit(self);
        self.device = member;
        if let Some(c) = clock {
            self.clock = c;
        }
        out
    }
}
