import { describe, expect, it } from "vitest";
import { safeHref, sanitizeHtml } from "../src/podcast/sanitize";

describe("episode notes sanitizer", () => {
  it("keeps formatting and safe links", () => {
    expect(sanitizeHtml('<p>Hi <b>there</b> <a href="https://x.example/a?b=1&amp;c=2" onclick="evil()">link</a></p>')).toBe(
      '<p>Hi <b>there</b> <a href="https://x.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">link</a></p>',
    );
  });
  it("drops scripts, handlers, unknown tags and dangerous URLs", () => {
    const out = sanitizeHtml(
      '<script>alert(1)</script><img src=x onerror=alert(1)><iframe src="https://e"></iframe><a href="java&#x09;script:alert(1)">x</a><div style="x">ok</div><!-- c -->',
    );
    expect(out).toBe("<a>x</a><div>ok</div>");
    expect(out).not.toMatch(/script|onerror|iframe|style/i);
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref(" JAVA\nSCRIPT:alert(1)")).toBeNull();
    expect(safeHref("mailto:a@b.example")).toBe("mailto:a@b.example");
  });
  it("closes what it opened and ignores stray closers", () => {
    expect(sanitizeHtml("<ul><li>a<li>b</div></p>")).toBe("<ul><li>a<li>b</li></li></ul>");
  });
  it("turns plain text into escaped text with line breaks", () => {
    expect(sanitizeHtml("a & b\nc > d")).toBe("a &amp; b<br>c &gt; d");
  });
});
