-- The object box's tables: the quota ledger, upload reservations and the
-- namespace. Created idempotently by every node at start.

-- One row per account: its limits and what it uses, reservations included;
-- `used_files` counts the files and folders below the home's root.
-- No CHECK used <= quota on purpose: the grants' WHERE holds it, and a
-- lowered limit must not make old rows invalid.
CREATE TABLE IF NOT EXISTS sftpbox_ledger (
    account     text   PRIMARY KEY,
    quota_bytes bigint CHECK (quota_bytes >= 0),
    used_bytes  bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    max_files   bigint CHECK (max_files >= 0),
    used_files  bigint NOT NULL DEFAULT 0 CHECK (used_files >= 0)
);

-- Bytes held for an upload in progress, by the node that runs it; already
-- counted in sftpbox_ledger.used_bytes. A node that stops heart-beating has
-- its rows reaped and their bytes given back.
CREATE TABLE IF NOT EXISTS sftpbox_reservations (
    id      bigserial PRIMARY KEY,
    account text      NOT NULL,
    node    text      NOT NULL,
    bytes   bigint    NOT NULL CHECK (bytes >= 0)
);
CREATE INDEX IF NOT EXISTS sftpbox_reservations_node ON sftpbox_reservations (node);

-- The namespace: one row per folder or file. A home's root has no parent.
-- A file's contents are its segments in order: the objects named in
-- `objects`, of the sizes in `sizes` (none: an empty file). Objects are
-- never rewritten: an overwrite points the row at a new one, an append
-- (resume) adds one.
CREATE TABLE IF NOT EXISTS sftpbox_entries (
    id      bigserial PRIMARY KEY,
    account text      NOT NULL,
    parent  bigint    REFERENCES sftpbox_entries (id),
    name    bytea     NOT NULL,
    is_dir  boolean   NOT NULL,
    size    bigint    NOT NULL DEFAULT 0 CHECK (size >= 0),
    objects text[]    NOT NULL DEFAULT '{}',
    sizes   bigint[]  NOT NULL DEFAULT '{}',
    mode    integer   NOT NULL,
    mtime   bigint    NOT NULL,
    atime   bigint    NOT NULL,
    UNIQUE (parent, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS sftpbox_entries_root ON sftpbox_entries (account) WHERE parent IS NULL;

-- Objects no row points at any more, to delete from the store.
CREATE TABLE IF NOT EXISTS sftpbox_orphans (
    object text        PRIMARY KEY,
    since  timestamptz NOT NULL DEFAULT now()
);

-- The nodes of the cluster and when each last said it was alive; the
-- reaper gives back the reservations of a node that stopped.
CREATE TABLE IF NOT EXISTS sftpbox_nodes (
    name         text        PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);
