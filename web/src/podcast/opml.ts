/** Feeds listed in an OPML file (outlines with `xmlUrl`), with their folder path. */
export interface OpmlFeed {
  url: string;
  title?: string;
  htmlUrl?: string;
  folder: string[];
}

/** Parse OPML text (browser DOMParser); throws a readable error when it is not OPML. */
export function parseOpml(text: string): OpmlFeed[] {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length > 0 || doc.documentElement.nodeName.toLowerCase() !== "opml") {
    throw new Error("That file is not an OPML subscription list.");
  }
  const out: OpmlFeed[] = [];
  const walk = (el: Element, folder: string[]) => {
    for (const c of Array.from(el.children)) {
      if (c.nodeName.toLowerCase() !== "outline") continue;
      const url = c.getAttribute("xmlUrl") ?? c.getAttribute("xmlurl");
      const title = c.getAttribute("title") ?? c.getAttribute("text") ?? undefined;
      if (url) out.push({ url, title, htmlUrl: c.getAttribute("htmlUrl") ?? undefined, folder });
      else walk(c, title ? [...folder, title] : folder);
    }
  };
  const body = doc.getElementsByTagName("body")[0];
  if (body) walk(body, []);
  return out;
}
