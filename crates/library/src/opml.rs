//! OPML import/export through `skypod_model::opml`: nested outlines are folders.

use std::collections::BTreeMap;

use skypod_model::opml::{Opml, Outline, parse_opml, to_opml};

use crate::error::LibraryError;
use crate::library::{Library, NewFeed, Subscribed};

/// Progress of an import, for a CLI progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Feeds handled so far.
    pub done: usize,
    /// Feeds in the file.
    pub total: usize,
}

/// Outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Newly subscribed feeds.
    pub added: usize,
    /// Feeds already in the library (left as they are).
    pub already: usize,
    /// Outlines refused, with the reason (bad URL, ...).
    pub skipped: Vec<(String, String)>,
}

impl Library {
    /// Import an OPML file: every feed outline becomes a subscription in the folder path
    /// of its enclosing outlines. Feeds already subscribed are left untouched (their
    /// folder is the user's choice). All additions are one change. `progress` is called
    /// after each feed.
    pub fn import_opml(
        &mut self,
        bytes: &[u8],
        mut progress: impl FnMut(ImportProgress),
    ) -> Result<ImportReport, LibraryError> {
        let doc = parse_opml(bytes).map_err(|e| LibraryError::Opml(e.to_string()))?;
        let feeds = doc.feeds();
        let total = feeds.len();
        let mut report = ImportReport::default();
        for (i, f) in feeds.iter().enumerate() {
            let url = f.outline.xml_url.clone().unwrap_or_default();
            let title = f
                .outline
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .or_else(|| Some(f.outline.text.clone()).filter(|t| !t.trim().is_empty()));
            let new = NewFeed {
                url: url.clone(),
                title,
                html_url: f.outline.html_url.clone(),
                folder: f.folders.iter().map(|s| (*s).to_owned()).collect(),
                tags: Vec::new(),
            };
            match self.subscribe(new) {
                Ok(Subscribed::Added(_)) => report.added += 1,
                Ok(Subscribed::Already(_)) => report.already += 1,
                Err(e @ LibraryError::SchemaTooNew { .. }) => return Err(e),
                Err(e) => report.skipped.push((url, e.to_string())),
            }
            progress(ImportProgress { done: i + 1, total });
        }
        self.commit();
        Ok(report)
    }

    /// The library as an OPML document: folders become nested outlines (sorted by name),
    /// feeds are sorted by title then URL.
    pub fn to_opml_doc(&self) -> Opml {
        #[derive(Default)]
        struct Node {
            folders: BTreeMap<String, Node>,
            feeds: Vec<Outline>,
        }
        let mut root = Node::default();
        let mut feeds = self.feeds();
        feeds.sort_by(|a, b| a.title.cmp(&b.title).then_with(|| a.url.cmp(&b.url)));
        for f in feeds {
            let mut node = &mut root;
            for name in &f.folder {
                node = node.folders.entry(name.clone()).or_default();
            }
            let text = if f.title.is_empty() {
                f.url.clone()
            } else {
                f.title.clone()
            };
            let mut o = Outline::feed(&text, &f.url);
            o.title = (!f.title.is_empty()).then(|| f.title.clone());
            o.html_url = f.html_url.clone();
            node.feeds.push(o);
        }
        fn emit(node: Node) -> Vec<Outline> {
            let mut out: Vec<Outline> = node
                .folders
                .into_iter()
                .map(|(name, child)| Outline::folder(&name, emit(child)))
                .collect();
            out.extend(node.feeds);
            out
        }
        Opml {
            title: Some("Skypod subscriptions".into()),
            date_created: None,
            owner_name: None,
            outlines: emit(root),
        }
    }

    /// The library as OPML 2.0 text.
    pub fn export_opml(&self) -> String {
        to_opml(&self.to_opml_doc())
    }
}
