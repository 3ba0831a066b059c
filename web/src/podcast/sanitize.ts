/**
 * Episode notes are HTML from strangers. Only an allow-list of formatting tags survives,
 * with no attributes except a checked `href` on links; everything else (scripts, styles,
 * iframes, event handlers, images that would track the reader) is dropped. The output is
 * built from tokens, so no markup we did not write can reach the DOM.
 */
const ALLOWED = new Set([
  "p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "blockquote", "code", "pre", "h1", "h2", "h3", "h4",
  "h5", "h6", "a", "span", "div", "hr", "sub", "sup", "small",
]);
const VOID = new Set(["br", "hr"]);
/** Elements whose content is dropped with them. */
const DROP_CONTENT = new Set(["script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math", "textarea", "select", "title", "head"]);

const escAttr = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);?/gi, (_, h: string) => String.fromCodePoint(Math.min(parseInt(h, 16), 0x10ffff)))
    .replace(/&#(\d+);?/g, (_, d: string) => String.fromCodePoint(Math.min(parseInt(d, 10), 0x10ffff)))
    .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** A link target that is safe to follow: absolute http(s) or mailto. */
export function safeHref(raw: string): string | null {
  // Browsers ignore control characters and whitespace inside schemes ("java\tscript:").
  // eslint-disable-next-line no-control-regex
  const v = decodeEntities(raw).replace(/[\u0000-\u0020\u007f]/g, "");
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:" || u.protocol === "mailto:" ? u.href : null;
  } catch {
    return null;
  }
}

export function sanitizeHtml(html: string): string {
  let out = "";
  const open: string[] = [];
  let i = 0;
  let dropUntil: string | null = null;
  // Plain-text notes: keep line breaks readable.
  if (!/<[a-z!/]/i.test(html)) return html.replace(/&(?!#?\w+;)/g, "&amp;").replace(/>/g, "&gt;").replace(/\n/g, "<br>");
  while (i < html.length) {
    const lt = html.indexOf("<", i);
    const text = lt < 0 ? html.slice(i) : html.slice(i, lt);
    // Text never contains "<" here; a bare "&" stays an entity start, which is harmless.
    if (!dropUntil) out += text.replace(/>/g, "&gt;");
    if (lt < 0) break;
    if (html.startsWith("<!--", lt)) {
      const end = html.indexOf("-->", lt + 4);
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    const gt = html.indexOf(">", lt);
    if (gt < 0) break;
    const tag = html.slice(lt + 1, gt);
    i = gt + 1;
    const m = /^(\/?)([a-zA-Z][a-zA-Z0-9-]*)([\s\S]*)$/.exec(tag);
    if (!m) continue;
    const closing = m[1] === "/";
    const name = (m[2] ?? "").toLowerCase();
    const attrs = m[3] ?? "";
    if (dropUntil) {
      if (closing && name === dropUntil) dropUntil = null;
      continue;
    }
    if (DROP_CONTENT.has(name)) {
      if (!closing && !/\/\s*$/.test(attrs)) dropUntil = name;
      continue;
    }
    if (!ALLOWED.has(name)) continue;
    if (closing) {
      const at = open.lastIndexOf(name);
      if (at < 0) continue;
      while (open.length > at) out += `</${open.pop()}>`;
      continue;
    }
    if (VOID.has(name)) {
      out += `<${name}>`;
      continue;
    }
    if (name === "a") {
      const h = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i.exec(attrs);
      const href = h ? safeHref(h[1] ?? h[2] ?? h[3] ?? "") : null;
      out += href ? `<a href="${escAttr(href)}" target="_blank" rel="noopener noreferrer nofollow">` : "<a>";
    } else out += `<${name}>`;
    open.push(name);
  }
  while (open.length) out += `</${open.pop()}>`;
  return out;
}
