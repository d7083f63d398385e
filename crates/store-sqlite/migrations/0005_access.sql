-- Access (feature "access"): principals, RBAC roles, scopes and scope-exact grants of each
-- console, the change events between syncs, and the audit log of every write s1bridge makes to
-- a console (shared by every feature that writes).
--
-- The stored state of a console is rewritten as a whole by each access sync (inside one
-- transaction), after `s1bridge_store::reconcile` decided the change events.

-- When a console's access was last synced, and whether that sync saw the whole console.
CREATE TABLE access_state (
    console   TEXT PRIMARY KEY,
    synced_at TEXT NOT NULL,
    complete  INTEGER NOT NULL
);

CREATE TABLE access_principals (
    console              TEXT NOT NULL,
    principal_id         TEXT NOT NULL,
    principal_kind       TEXT NOT NULL,   -- user | service_user
    email                TEXT,
    name                 TEXT,
    scope                TEXT,            -- tenant | account | site
    -- When its API token expires (the expiry only; named so that no column name suggests a
    -- stored credential).
    api_key_expires_at   TEXT,
    last_login_at        TEXT,
    first_seen_at        TEXT NOT NULL,
    last_seen_at         TEXT NOT NULL,
    PRIMARY KEY (console, principal_id)
);

CREATE TABLE access_roles (
    console     TEXT NOT NULL,
    role_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    predefined  INTEGER NOT NULL,
    description TEXT,
    scope       TEXT,
    scope_id    TEXT,
    PRIMARY KEY (console, role_id)
);

CREATE TABLE access_scopes (
    console    TEXT NOT NULL,
    scope_type TEXT NOT NULL,             -- account | site | group
    scope_id   TEXT NOT NULL,
    name       TEXT,
    parent_id  TEXT,
    PRIMARY KEY (console, scope_type, scope_id)
);

-- One role per (principal, scope): the scope id is '' for the tenant.
CREATE TABLE access_grants (
    console        TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    scope_type     TEXT NOT NULL,
    scope_id       TEXT NOT NULL,
    role_id        TEXT NOT NULL,
    role_name      TEXT,
    scope_name     TEXT,
    principal_kind TEXT NOT NULL,
    email          TEXT,
    principal_name TEXT,
    PRIMARY KEY (console, principal_id, scope_type, scope_id)
);
CREATE INDEX access_grants_role ON access_grants (console, role_id);

CREATE TABLE access_changes (
    change_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    console        TEXT NOT NULL,
    run_id         INTEGER,
    at             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal      TEXT NOT NULL,
    role_id        TEXT,
    role_name      TEXT,
    scope_type     TEXT,
    scope_id       TEXT,
    scope_name     TEXT,
    detail         TEXT
);
CREATE INDEX access_changes_console_at ON access_changes (console, at);
CREATE INDEX access_changes_kind ON access_changes (console, kind, principal_id);

-- Append-only. `request`, `before` and `after` are JSON; none ever holds a token.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    console  TEXT NOT NULL,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    dry_run  INTEGER NOT NULL,
    request  TEXT NOT NULL,
    before   TEXT NOT NULL,
    after    TEXT NOT NULL,
    result   TEXT NOT NULL,
    run_id   INTEGER
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_console_at ON audit_log (console, at);
