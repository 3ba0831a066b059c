-- Feed proxy cache index. Bodies live as files named by their SHA-256 under <dir>/blobs.
CREATE TABLE IF NOT EXISTS blobs (
    hash        TEXT PRIMARY KEY NOT NULL,
    size        INTEGER NOT NULL,
    last_access INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_lru ON blobs (last_access);

CREATE TABLE IF NOT EXISTS entries (
    url          TEXT PRIMARY KEY NOT NULL,
    hash         TEXT NOT NULL REFERENCES blobs (hash),
    policy       TEXT NOT NULL,
    content_type TEXT,
    final_url    TEXT NOT NULL,
    stored_at    INTEGER NOT NULL,
    last_access  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_hash ON entries (hash);

-- Derived results (e.g. silence maps) keyed by content hash, kept across body eviction.
CREATE TABLE IF NOT EXISTS analyses (
    hash       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (hash, kind)
);
