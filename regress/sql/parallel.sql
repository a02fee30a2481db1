-- decrypt and dek_version are PARALLEL SAFE: they run in parallel workers
-- (read-only key-table reads with the query's snapshot, no writes).
CREATE TABLE par (id int, org text, v orgcrypt.ciphertext);
INSERT INTO par SELECT g, 'par' || (g % 7), orgcrypt.encrypt_for_org('par' || (g % 7), 'value ' || g) FROM generate_series(1, 20000) g;
ANALYZE par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id) FROM par;
-- a fresh session, so the workers and the leader start with empty caches
\c
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id) AS decrypted,
       count(*) FILTER (WHERE orgcrypt.dek_version(v) = 1) AS version_1
FROM par;
-- workers really ran it: the statement's workers reported their rows
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org_bytea(org, v) IS NOT NULL) FROM par;
DROP TABLE par;
