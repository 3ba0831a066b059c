//! Error types. Every refusal says what was wrong, in words a CLI can print as is.

use std::path::PathBuf;

/// Errors from editing or syncing a [`crate::Library`].
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The Automerge core refused an operation (malformed change, bad object id, ...).
    #[error("library document: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A sync message from a peer could not be decoded.
    #[error("malformed sync message from peer: {0}")]
    BadSyncMessage(String),
    /// A persisted per-peer sync state could not be decoded.
    #[error("malformed saved sync state: {0}")]
    BadSyncState(String),
    /// Input refused before touching the document.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was refused (feed URL, position, ...).
        what: &'static str,
        /// Why.
        why: String,
    },
    /// No subscription with this feed URL.
    #[error("not subscribed to {0}")]
    NotSubscribed(String),
    /// The document was written by a newer Skypod. Reading and syncing still work (so a
    /// node can relay it), but this build refuses to write to it rather than risk
    /// writing a shape the newer schema does not expect.
    #[error(
        "library schema version {found} is newer than this build supports ({supported}); upgrade Skypod to edit it"
    )]
    SchemaTooNew {
        /// Version in the document.
        found: u64,
        /// Highest version this build understands.
        supported: u64,
    },
    /// The document is not a Skypod library (e.g. a top-level container has the wrong type).
    #[error("not a Skypod library document: {0}")]
    NotALibrary(String),
    /// OPML could not be parsed.
    #[error("OPML: {0}")]
    Opml(String),
}

/// Errors from the on-disk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error, with the file it happened on.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Nothing usable could be read: every snapshot is damaged. The files are left
    /// untouched so that they can be inspected or recovered from a peer.
    #[error("library store at {dir} is damaged and no good state was found: {detail}")]
    Unrecoverable {
        /// Data directory.
        dir: PathBuf,
        /// What was wrong with each file.
        detail: String,
    },
    /// Another process (or another `Store` in this one) has the store open: two writers
    /// would interleave their log appends and compactions. Nothing was read or changed; read
    /// with `Store::read_only` and hand edits over with `Store::hand_off` instead.
    #[error(
        "the library at {dir} is in use by another process (is `skypod node` running on this device?)"
    )]
    Locked {
        /// Data directory.
        dir: PathBuf,
    },
    /// A library-level error while loading or saving.
    #[error(transparent)]
    Library(#[from] LibraryError),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
