//! `content:encoded` and Dublin Core (`dc:`).

use super::{At, Frame, Ns, State};

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if !at.direct {
        return;
    }
    match (f.ns, f.key.as_str(), at.item) {
        (Ns::Content, "encoded", true) => {
            let d = f.html();
            s.item().description.offer(1, d);
        }
        (Ns::Dc, "date", true) => {
            let d = s.date("dc:date", f.value());
            s.item().published.offer(1, d);
        }
        (Ns::Dc, "creator", false) => s.ch.author.offer(2, f.value()),
        (Ns::Dc, "language", false) => s.ch.language.offer(1, f.value()),
        (Ns::Dc, "title", true) => {
            let t = f.value();
            let it = s.item();
            if it.ep.title.is_none() {
                it.ep.title = t;
            }
        }
        _ => {}
    }
}
