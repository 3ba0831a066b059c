//! Page title extraction: `og:title`, then `twitter:title`, then `<title>`, then
//! the first `<h1>`. Whitespace is collapsed.

use dom_query::Document;

use crate::html::decode_html;

fn clean(s: &str) -> Option<String> {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

/// Extract the best title from an HTML document.
pub fn extract_title(html: &str) -> Option<String> {
    if crate::html::check_parsable(html).is_err() {
        // Pathologically nested page: only look at the head, cheaply.
        let end = html
            .find("<body")
            .or_else(|| html.find("<BODY"))
            .unwrap_or(html.len().min(64 * 1024));
        let head = html.get(..end).unwrap_or("");
        if crate::html::check_parsable(head).is_err() {
            return None;
        }
        return extract_title(head);
    }
    let doc = Document::from(html);
    for sel in [
        r#"meta[property="og:title"]"#,
        r#"meta[name="og:title"]"#,
        r#"meta[name="twitter:title"]"#,
        r#"meta[property="twitter:title"]"#,
    ] {
        if let Some(t) = doc.select(sel).attr("content").and_then(|c| clean(&c)) {
            return Some(t);
        }
    }
    if let Some(t) = clean(&doc.select("title").first().text()) {
        return Some(t);
    }
    clean(&doc.select("h1").first().text())
}

/// Same as [`extract_title`] on raw bytes (charset-aware).
pub fn extract_title_bytes(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    extract_title(&decode_html(bytes, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn prefers_og_title() {
        assert_eq!(
            extract_title_bytes(&testdata::read("pages", "og-title.html"), None).as_deref(),
            Some("The Open Graph Title")
        );
    }

    #[test]
    fn falls_back_to_title_then_h1() {
        assert_eq!(
            extract_title("<html><head><title>\n  Plain   title </title></head></html>").as_deref(),
            Some("Plain title")
        );
        assert_eq!(
            extract_title("<body><h1>Heading <b>one</b></h1></body>").as_deref(),
            Some("Heading one")
        );
        assert_eq!(extract_title("<body><p>nothing</p></body>"), None);
        assert_eq!(extract_title(""), None);
        let deep = format!(
            "<html><head><title>Deep</title></head><body>{}</body>",
            "<div>".repeat(5000)
        );
        assert_eq!(extract_title(&deep).as_deref(), Some("Deep"));
    }

    #[test]
    fn entities_and_charset() {
        assert_eq!(
            extract_title("<title>Tom &amp; Jerry&#39;s</title>").as_deref(),
            Some("Tom & Jerry's")
        );
        assert_eq!(
            extract_title_bytes(b"<title>Caf\xe9</title>", Some("text/html; charset=latin1"))
                .as_deref(),
            Some("Café")
        );
    }
}
