-- Realms, their members (public keys only) and spent invitation nonces: the SQLite schema
-- (migrations/0001_realms.sql) in PostgreSQL types.
CREATE TABLE realms (
    realmid     TEXT PRIMARY KEY NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE members (
    realmid     TEXT NOT NULL REFERENCES realms(realmid) ON DELETE CASCADE,
    identid     TEXT NOT NULL,
    pubkey      TEXT NOT NULL,          -- public JWK, JSON
    admitted_at BIGINT NOT NULL,
    invited_by  TEXT,                   -- NULL for the realm's first member
    PRIMARY KEY (realmid, identid)
);

-- A nonce is spent once; the primary key makes concurrent exchanges of one invitation (also
-- on different nodes) race on a single row, and only one insert can win.
CREATE TABLE invitations_used (
    realmid     TEXT NOT NULL REFERENCES realms(realmid) ON DELETE CASCADE,
    nonce       TEXT NOT NULL,
    used_by     TEXT NOT NULL,
    used_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (realmid, nonce)
);
