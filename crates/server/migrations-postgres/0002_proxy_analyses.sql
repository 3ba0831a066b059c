-- The feed proxy's analysis results (silence maps, loudness), shared by every node: small
-- JSON keyed by the SHA-256 of the audio body and the kind of analysis (which includes its
-- parameters). Audio bodies themselves stay in each node's own cache.
CREATE TABLE proxy_analyses (
    hash        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,        -- Unix seconds
    PRIMARY KEY (hash, kind)
);
