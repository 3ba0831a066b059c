//! Reader mode: `dom_smoothie` (a close port of Mozilla Readability) extracts
//! the article; the content HTML is then passed through [`crate::html::sanitize`].

use serde::{Deserialize, Serialize};

use crate::error::{FeedError, Result};
use crate::html::{decode_html, sanitize};
use crate::readingtime::{self, ReadingTime};

/// Largest HTML page accepted for reader mode.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Most elements accepted for reader mode.
pub const MAX_ELEMENTS: usize = 50_000;
/// Deepest element nesting accepted (Readability's scoring is quadratic in depth).
pub const MAX_DEPTH: usize = 256;

/// Refuse pathological documents before scoring them.
fn check_shape(doc: &dom_query::Document) -> Result<()> {
    let mut stack = vec![(doc.root(), 0usize)];
    let mut count = 0usize;
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(FeedError::Parse(format!(
                "document nested deeper than {MAX_DEPTH}"
            )));
        }
        for child in node.children() {
            if child.is_element() {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(FeedError::Parse(format!(
                        "document has more than {MAX_ELEMENTS} elements"
                    )));
                }
                stack.push((child, depth + 1));
            }
        }
    }
    Ok(())
}

/// A reader-mode article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Article title.
    pub title: String,
    /// Author line.
    pub byline: Option<String>,
    /// Short excerpt.
    pub excerpt: Option<String>,
    /// Site name.
    pub site_name: Option<String>,
    /// Language.
    pub lang: Option<String>,
    /// Published time as found in metadata.
    pub published_time: Option<String>,
    /// Lead image.
    pub image: Option<String>,
    /// Sanitized article HTML.
    pub content_html: String,
    /// Plain text.
    pub text: String,
    /// Reading time estimate of `text`.
    pub reading_time: ReadingTime,
}

/// Extract the article from an HTML page.
pub fn read_article(html: &str, url: Option<&str>) -> Result<Article> {
    if html.len() > MAX_PAGE_BYTES {
        return Err(FeedError::TooLarge(MAX_PAGE_BYTES as u64));
    }
    crate::html::check_parsable(html)?;
    let doc = dom_query::Document::from(html);
    check_shape(&doc)?;
    let cfg = dom_smoothie::Config {
        max_elements_to_parse: MAX_ELEMENTS,
        ..Default::default()
    };
    let mut r = dom_smoothie::Readability::with_document(doc, url, Some(cfg))
        .map_err(|e| FeedError::Parse(format!("reader: {e}")))?;
    let a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.parse()))
        .map_err(|_| FeedError::Parse("reader failed on malformed input".into()))?
        .map_err(|e| FeedError::Parse(format!("reader: {e}")))?;
    let text = normalize_text(&a.text_content);
    Ok(Article {
        title: a.title,
        byline: a.byline,
        excerpt: a.excerpt,
        site_name: a.site_name,
        lang: a.lang,
        published_time: a.published_time,
        image: a.image,
        content_html: sanitize(&a.content),
        reading_time: readingtime::estimate(&text),
        text,
    })
}

/// Same as [`read_article`] on raw bytes (charset-aware).
pub fn read_article_bytes(
    bytes: &[u8],
    content_type: Option<&str>,
    url: Option<&str>,
) -> Result<Article> {
    if bytes.len() > MAX_PAGE_BYTES {
        return Err(FeedError::TooLarge(MAX_PAGE_BYTES as u64));
    }
    read_article(&decode_html(bytes, content_type), url)
}

/// Collapse runs of blank lines and trailing spaces.
fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(&l);
        blank = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn extracts_article() {
        let a = read_article_bytes(
            &testdata::read("pages", "article.html"),
            None,
            Some("https://news.example/a/1"),
        )
        .expect("article");
        assert_eq!(a.title, "Why Podcasts Still Matter");
        assert_eq!(a.byline.as_deref(), Some("Jane Writer"));
        assert!(a.text.contains("open ecosystem"), "{}", a.text);
        assert!(
            !a.text.contains("Subscribe to our newsletter"),
            "nav/sidebar leaked: {}",
            a.text
        );
        assert!(!a.content_html.contains("<script"));
        assert!(!a.content_html.contains("onclick"));
        assert!(!a.content_html.to_lowercase().contains("javascript:"));
        assert!(a.reading_time.words > 300, "{:?}", a.reading_time);
        assert!(a.reading_time.minutes >= 2);
    }

    #[test]
    fn garbage_does_not_panic() {
        for input in [
            "",
            "<",
            "<html><body></body></html>",
            "\u{0}\u{1}<<<>>>",
            "<p>short</p>",
        ] {
            let _ = read_article(input, None);
        }
        let deep = "<div>".repeat(20_000);
        assert!(read_article(&deep, None).is_err());
        let wide = "<p>x</p>".repeat(MAX_ELEMENTS + 10);
        assert!(read_article(&wide, None).is_err());
    }
}
