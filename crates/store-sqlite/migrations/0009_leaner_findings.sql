-- Findings rows that cost less to write and to scan.
--
-- 1. Priority factors are stored once per distinct set. A million findings hold a few thousand
--    distinct sets (the factors depend on the device and the CVE, and their details repeat), and
--    the JSON was a third of every row: each page wrote it, each WAL frame and checkpoint copied
--    it, and each pass completion read it back while scanning. A set is never changed; sets no
--    finding uses any more are deleted when a pass completes and they have piled up (see
--    `finding_factor_sets_gc`, whose generation tells writers to forget the ids they remember).
CREATE TABLE finding_factor_sets (
    id      INTEGER PRIMARY KEY,
    factors TEXT NOT NULL UNIQUE
);

CREATE TABLE finding_factor_sets_gc (
    -- Bumped by every collection: a writer that remembers set ids from an older generation
    -- forgets them.
    generation INTEGER NOT NULL,
    -- Sets in use after the last collection; the next one runs once the table holds far more.
    in_use     INTEGER NOT NULL
);
INSERT INTO finding_factor_sets_gc (generation, in_use) VALUES (0, 0);

INSERT INTO finding_factor_sets (factors) SELECT DISTINCT factors FROM findings;
UPDATE finding_factor_sets_gc SET in_use = (SELECT count(*) FROM finding_factor_sets);

-- (No foreign key: checking one on every collection would scan the findings per deleted set.)
ALTER TABLE findings ADD COLUMN factor_set INTEGER;
UPDATE findings
SET factor_set = (SELECT s.id FROM finding_factor_sets s WHERE s.factors = findings.factors);
ALTER TABLE findings DROP COLUMN factors;

-- 2. The ids of findings stored since the last merge into `finding_ids` are appended here by the
--    page that stored them (rowid order, a few small rows per page), so completing a pass merges
--    them without reading the findings table again, and a lookup before the merge scans this
--    small table instead of the newest findings rows.
CREATE TABLE finding_ids_pending (
    fid         INTEGER NOT NULL,
    finding_ref INTEGER NOT NULL
);
INSERT INTO finding_ids_pending (fid, finding_ref)
SELECT fid, rowid FROM findings WHERE rowid > (SELECT upto FROM finding_ids_upto) ORDER BY rowid;
DROP TABLE finding_ids_upto;
