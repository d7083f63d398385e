-- The service (issue 7): API keys, stored only as a SHA-256 hash, and each console's API token,
-- stored only sealed (XChaCha20-Poly1305 under a master key the database never sees).
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('read', 'admin')),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE sealed_credentials (
    console     TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    owner       TEXT,
    scope       TEXT,
    expires_at  TEXT,
    stored_at   TEXT NOT NULL,
    rotated_at  TEXT
);
