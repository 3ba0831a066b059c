#!/usr/bin/env python3
"""Dump what python feedparser reads from each file of a corpus directory, as JSON.

Used by crates/feeds/tests/it/differential.rs (field by field against our parser).
feedparser is pinned: scripts/test.sh installs feedparser==6.0.14 when it is missing.
"""
import calendar
import json
import os
import sys

import feedparser

PINNED = "6.0.14"


def seconds(raw):
    """itunes:duration as seconds, the way podcast apps read it (SS, MM:SS, HH:MM:SS)."""
    if raw is None:
        return None
    parts = raw.strip().split(":")
    if not parts or len(parts) > 3:
        return None
    total = 0.0
    try:
        for i, p in enumerate(parts):
            v = float(p) if i == len(parts) - 1 else int(p)
            if v < 0:
                return None
            total = total * 60 + v
    except ValueError:
        return None
    return int(total + 0.5)


def number(raw):
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


def timestamp(entry):
    for key in ("published_parsed", "updated_parsed"):
        t = entry.get(key)
        if t:
            return calendar.timegm(t)
    return None


def dump(path):
    if path.endswith(".json"):
        # feedparser reads JSON Feed only when told the media type (as HTTP would).
        d = feedparser.parse(path, response_headers={"content-type": "application/feed+json"})
    else:
        d = feedparser.parse(path)
    out = {"bozo": bool(d.bozo), "title": d.feed.get("title"), "entries": []}
    for e in d.entries:
        enc = (e.get("enclosures") or [None])[0]
        length = None
        if enc is not None and enc.get("length") not in (None, ""):
            try:
                length = int(str(enc.get("length")).replace(",", "").strip())
            except ValueError:
                length = None
        out["entries"].append(
            {
                "guid": e.get("id") or None,
                "title": e.get("title"),
                "enclosure_url": enc.get("href") if enc else None,
                "enclosure_type": enc.get("type") if enc else None,
                "enclosure_length": length or None,
                "published": timestamp(e),
                "duration": seconds(e.get("itunes_duration")),
                "season": number(e.get("itunes_season")),
                "episode": number(e.get("itunes_episode")),
            }
        )
    return out


def main():
    if feedparser.__version__ != PINNED:
        sys.exit(f"feedparser {feedparser.__version__} installed, {PINNED} pinned")
    corpus = sys.argv[1]
    result = {}
    for name in sorted(os.listdir(corpus)):
        if name.endswith((".xml", ".json", ".rss", ".atom")):
            result[name] = dump(os.path.join(corpus, name))
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
