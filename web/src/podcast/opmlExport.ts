/** OPML 2.0 export of the subscriptions (folders as nested outlines), like `skypod export`. */
import type { Feed } from "../library/doc";

// XML 1.0 forbids control characters other than tab, newline and return: they are dropped.
const esc = (s: string) =>
  // eslint-disable-next-line no-control-regex
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");

interface Folder {
  feeds: Feed[];
  sub: Map<string, Folder>;
}

export function exportOpml(feeds: Feed[], title = "Skypod subscriptions", now = new Date()): string {
  const root: Folder = { feeds: [], sub: new Map() };
  for (const f of feeds) {
    let at = root;
    for (const p of f.folder) {
      let next = at.sub.get(p);
      if (!next) at.sub.set(p, (next = { feeds: [], sub: new Map() }));
      at = next;
    }
    at.feeds.push(f);
  }
  const lines: string[] = [];
  const walk = (f: Folder, depth: number) => {
    const pad = "  ".repeat(depth);
    for (const [name, sub] of f.sub) {
      lines.push(`${pad}<outline text="${esc(name)}" title="${esc(name)}">`);
      walk(sub, depth + 1);
      lines.push(`${pad}</outline>`);
    }
    for (const feed of f.feeds) {
      const t = esc(feed.title || feed.url);
      const html = feed.htmlUrl ? ` htmlUrl="${esc(feed.htmlUrl)}"` : "";
      lines.push(`${pad}<outline type="rss" text="${t}" title="${t}" xmlUrl="${esc(feed.url)}"${html}/>`);
    }
  };
  walk(root, 2);
  return `<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head>
    <title>${esc(title)}</title>
    <dateCreated>${now.toUTCString()}</dateCreated>
  </head>
  <body>
${lines.join("\n")}
  </body>
</opml>
`;
}
