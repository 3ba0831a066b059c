//! Access to the library from the HTTP handlers.
//!
//! One task owns the [`Library`] (in `skypod node`: the loop that also syncs it with the
//! mesh); handlers send it closures over a channel and get their results back, so the
//! library keeps its single owner and every bridge edit is saved and synced by it.

use skypod_library::{Library, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::BridgeError;

/// Work for the library's owner.
pub type LibraryJob = Box<dyn FnOnce(&mut Library) + Send>;

/// The handlers' side: run a closure on the library.
#[derive(Clone, Debug)]
pub struct LibraryHandle {
    tx: mpsc::Sender<LibraryJob>,
}

/// A handle and the owner's receiving end. The owner runs each job with `&mut Library`,
/// then saves (and syncs) if the heads changed.
pub fn library_channel() -> (LibraryHandle, mpsc::Receiver<LibraryJob>) {
    let (tx, rx) = mpsc::channel(64);
    (LibraryHandle { tx }, rx)
}

impl LibraryHandle {
    /// Run `f` on the library and return its result.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Library) -> R + Send + 'static,
    ) -> Result<R, BridgeError> {
        let (tx, rx) = oneshot::channel();
        let job: LibraryJob = Box::new(move |lib| {
            let _ = tx.send(f(lib));
        });
        self.tx
            .send(job)
            .await
            .map_err(|_| BridgeError::LibraryGone)?;
        rx.await.map_err(|_| BridgeError::LibraryGone)
    }
}

/// Run one job as an owner must: the job, then a save when it changed the document.
/// Returns whether it changed anything.
pub fn apply_job(lib: &mut Library, store: &mut Store, job: LibraryJob) -> bool {
    let before = lib.heads();
    job(lib);
    if lib.heads() == before {
        return false;
    }
    if let Err(e) = store.save(lib) {
        tracing::error!(error = %e, "gpodder bridge: could not save the library");
    }
    true
}

/// An owner loop for a library nobody else syncs (tests, a bridge without the mesh):
/// runs jobs until every handle is dropped.
pub async fn own_library(
    mut lib: Library,
    mut store: Store,
    mut jobs: mpsc::Receiver<LibraryJob>,
) -> (Library, Store) {
    while let Some(job) = jobs.recv().await {
        apply_job(&mut lib, &mut store, job);
    }
    (lib, store)
}
