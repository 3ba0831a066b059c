#!/usr/bin/env python3
"""Generate article pages with realistic clutter (nav, sidebars, ads, comments,
related links, cookie banners, scripts) around a main article. WORK/pages/*.html"""
import os, random, sys

work = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
out = os.path.join(work, "pages")
os.makedirs(out, exist_ok=True)
rnd = random.Random(7)
words = ("podcast feed episode listener audio cache proxy server network silence chapter transcript "
         "reader article browser device library sync realm member token window signal protocol "
         "history archive publisher format standard open client update morning evening story").split()
cjk = "我们今天讨论播客技术和开放的生态系统这是一个关于缓存与静音检测的故事"

def sentence(lang):
    if lang == "zh":
        return "".join(rnd.choice(cjk) for _ in range(rnd.randint(12, 30))) + "。"
    w = [rnd.choice(words) for _ in range(rnd.randint(8, 22))]
    w[0] = w[0].capitalize()
    return " ".join(w) + rnd.choice([".", ".", ".", "?", "!"])

def para(lang):
    return " ".join(sentence(lang) for _ in range(rnd.randint(3, 7)))

def article_body(lang, layout):
    parts = []
    for s in range(rnd.randint(4, 9)):
        if s and rnd.random() < 0.6:
            parts.append(f"<h2>{sentence(lang)[:-1]}</h2>")
        for _ in range(rnd.randint(2, 5)):
            parts.append(f"<p>{para(lang)}</p>")
        r = rnd.random()
        if r < 0.15:
            parts.append("<ul>" + "".join(f"<li>{sentence(lang)}</li>" for _ in range(rnd.randint(3, 6))) + "</ul>")
        elif r < 0.25:
            parts.append(f"<blockquote><p>{para(lang)}</p></blockquote>")
        elif r < 0.35:
            parts.append(f'<figure><img src="/img/{s}.jpg" alt="figure {s}"><figcaption>{sentence(lang)}</figcaption></figure>')
        if layout == "ads" and rnd.random() < 0.5:
            parts.append('<div class="ad-slot advertisement"><span>Advertisement</span><a href="/ad">Buy now</a></div>')
    return "\n".join(parts)

def page(i):
    lang = "zh" if i % 10 == 9 else "en"
    layout = rnd.choice(["plain", "ads", "sidebar", "comments"])
    title = sentence(lang)[:-1][:80]
    nav = "".join(f'<li><a href="/s/{k}">{rnd.choice(words).title()}</a></li>' for k in range(rnd.randint(5, 12)))
    side = "".join(f'<li><a href="/r/{k}">{sentence(lang)}</a></li>' for k in range(rnd.randint(4, 10)))
    comments = "".join(f'<div class="comment"><b>user{k}</b><p>{sentence(lang)}</p></div>' for k in range(rnd.randint(3, 12)))
    wrapper = rnd.choice(["article", "div class=\"post-content\"", "div id=\"story\"", "main"])
    close = wrapper.split()[0]
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} | Example Site {i}</title>
<meta name="author" content="Writer {i}"><script>var analytics = {{id: {i}}};</script>
<style>.ad-slot {{ display:block }}</style></head>
<body>
<div class="cookie-banner">We use cookies. <button>Accept</button></div>
<header><div class="logo">Example Site</div><nav class="menu"><ul>{nav}</ul></nav></header>
<div class="container">
{'<aside class="sidebar"><h3>Popular</h3><ul>' + side + '</ul></aside>' if layout == 'sidebar' else ''}
<{wrapper}>
<h1>{title}</h1>
<p class="byline">By Writer {i}</p>
{article_body(lang, layout)}
</{close}>
{'<section class="comments"><h3>Comments</h3>' + comments + '</section>' if layout == 'comments' else ''}
<div class="related"><h3>Related</h3><ul>{side}</ul></div>
</div>
<footer><p>Copyright Example Site. All rights reserved.</p><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
<script>document.querySelectorAll('a').forEach(function(a){{a.onclick=function(){{}}}});</script>
</body></html>
"""

for i in range(n):
    with open(os.path.join(out, f"page{i:02d}.html"), "w") as f:
        f.write(page(i))
print(f"{n} pages ready")
