//! HTML helpers shared by `reader` and `title`: charset decoding and an
//! allow-list sanitizer.

use dom_query::Document;

/// Decode an HTML body: charset from the `Content-Type` header, else from a
/// `<meta charset>` / `http-equiv` in the first 2 KiB, else UTF-8 (lossy).
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (cow, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return cow.into_owned();
    }
    let label = content_type
        .and_then(charset_param)
        .or_else(|| sniff_meta_charset(&bytes[..bytes.len().min(2048)]));
    if let Some(enc) = label.and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes())) {
        let (cow, _) = enc.decode_without_bom_handling(bytes);
        return cow.into_owned();
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn charset_param(ct: &str) -> Option<String> {
    let lower = ct.to_ascii_lowercase();
    let idx = lower.find("charset=")?;
    let v: String = lower[idx + 8..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!v.is_empty()).then_some(v)
}

fn sniff_meta_charset(head: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(head).to_ascii_lowercase();
    let idx = s.find("charset=")?;
    charset_param(&s[idx..])
}

/// Deepest approximate nesting accepted before handing a page to html5ever
/// (its tree builder is quadratic in nesting depth; browsers cap at 512).
pub const MAX_APPROX_DEPTH: usize = 1000;

const VOID_OR_OPTIONAL_END: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody",
    "tfoot", "colgroup", "rb", "rt", "rp", "html", "head", "body", "param", "keygen",
];

/// Cheap byte-level estimate of the maximum element nesting depth
/// (open tags minus close tags, ignoring void elements and optional end tags).
pub fn approx_max_depth(html: &str) -> usize {
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut i = 0usize;
    while let Some(off) = memchr_lt(&b[i..]) {
        i += off + 1;
        let closing = b.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'-') {
            end += 1;
        }
        if end == start {
            continue;
        }
        let name = html[start..end].to_ascii_lowercase();
        if VOID_OR_OPTIONAL_END.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let close = b[end..].iter().position(|&c| c == b'>').map(|p| end + p);
            if close.is_some_and(|p| p > 0 && b[p - 1] == b'/') {
                continue;
            }
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

fn memchr_lt(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'<')
}

/// Refuse pages that would make the HTML parser pathological.
pub fn check_parsable(html: &str) -> crate::Result<()> {
    if approx_max_depth(html) > MAX_APPROX_DEPTH {
        return Err(crate::FeedError::Parse(format!(
            "document nested deeper than {MAX_APPROX_DEPTH}"
        )));
    }
    Ok(())
}

const DROP: &str = "script,style,iframe,frame,frameset,object,embed,applet,form,input,button,\
textarea,select,option,noscript,template,svg,math,link,meta,base,canvas,audio,video,source,track,dialog";

const ALLOWED: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "picture",
    "pre",
    "q",
    "s",
    "samp",
    "section",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
    "article",
    "header",
    "footer",
    "aside",
    "main",
    "nav",
];

fn safe_url(v: &str) -> bool {
    let t: String = v
        .trim()
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect();
    let lower = t.to_ascii_lowercase();
    match lower.find(':') {
        None => true, // relative
        Some(i) => {
            // a colon after a '/', '?' or '#' is part of a relative path/query
            if lower[..i].contains(['/', '?', '#']) {
                return true;
            }
            matches!(&lower[..i], "http" | "https" | "mailto")
        }
    }
}

/// Sanitize an HTML fragment with an element/attribute allow-list: scripts,
/// styles, frames, forms, event handlers, `style` attributes and non-http(s)
/// URLs (`javascript:`, `data:`) are removed.
pub fn sanitize(fragment: &str) -> String {
    let doc = Document::fragment(fragment);
    doc.select(DROP).remove();
    for node in doc.select("*").nodes() {
        let Some(name) = node.node_name() else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        if name == "html" || name == "body" || name == "head" {
            continue;
        }
        if !ALLOWED.contains(&name.as_str()) {
            node.rename("span");
        }
        let keep: &[&str] = match name.as_str() {
            "a" => &["href", "title"],
            "img" => &["src", "alt", "title", "width", "height"],
            "td" | "th" => &["colspan", "rowspan"],
            "ol" => &["start"],
            "time" => &["datetime"],
            _ => &[],
        };
        node.retain_attrs(keep);
        for attr in ["href", "src"] {
            if let Some(v) = node.attr(attr)
                && !safe_url(&v)
            {
                node.remove_attr(attr);
            }
        }
        if name == "a" {
            node.set_attr("rel", "noopener noreferrer nofollow");
        }
    }
    match doc.body() {
        Some(body) => body.inner_html().to_string(),
        None => doc.html().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizer_strips_active_content() {
        let out = sanitize(
            r#"<p onclick="x()" style="color:red">Hi <a href="javascript:alert(1)">x</a>
            <a href="https://ok.example/">ok</a><img src="data:image/png;base64,AAAA" onerror="y()">
            <script>alert(1)</script><iframe src="https://evil"></iframe><custom-el>kept text</custom-el>
            <a href=" JaVaScRiPt:alert(2)">y</a><a href="/rel/path:1">rel</a></p>"#,
        );
        assert!(!out.contains("onclick"), "{out}");
        assert!(!out.contains("style="), "{out}");
        assert!(!out.to_lowercase().contains("javascript"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("iframe"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(!out.contains("onerror"), "{out}");
        assert!(out.contains("https://ok.example/"), "{out}");
        assert!(out.contains("/rel/path:1"), "{out}");
        assert!(out.contains("kept text"), "{out}");
    }

    #[test]
    fn depth_estimate() {
        assert_eq!(
            approx_max_depth("<div><div><p>a<p>b</div><br><img src=x/></div>"),
            2
        );
        assert_eq!(approx_max_depth(&"<div>".repeat(5000)), 5000);
        assert_eq!(approx_max_depth(&"<li>x".repeat(5000)), 0);
        assert!(check_parsable(&"<span>".repeat(2000)).is_err());
        assert!(check_parsable("<x-custom/><a>").is_ok());
    }

    #[test]
    fn charset_detection() {
        let latin1 =
            b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9</title></head></html>";
        assert!(decode_html(latin1, None).contains("Café"));
        let sjis_ct = decode_html(
            b"<title>\x83e\x83X\x83g</title>",
            Some("text/html; charset=Shift_JIS"),
        );
        assert!(sjis_ct.contains("テスト"), "{sjis_ct}");
        assert_eq!(decode_html("é".as_bytes(), None), "é");
    }
}
