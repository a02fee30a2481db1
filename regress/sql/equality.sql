-- Bytewise equality and order on orgcrypt.ciphertext (1.1), as bytea has.
-- What needs only the type's default operator classes works with any
-- search_path: DISTINCT, GROUP BY, UNION, unique and hash indexes, logical
-- replication with REPLICA IDENTITY FULL. Writing the operators in a query
-- needs schema orgcrypt on the search_path, or OPERATOR(orgcrypt.=).
-- Two encryptions of the same plaintext are never equal.
\i regress/sql/err_helper.psql
CREATE TABLE eq_vals (id int, v orgcrypt.ciphertext);
INSERT INTO eq_vals SELECT i, orgcrypt.encrypt_for_org('eq-org', 'same plaintext') FROM generate_series(1, 5) i;
INSERT INTO eq_vals SELECT 10 + id, v FROM eq_vals WHERE id <= 2;  -- two exact copies

SHOW search_path;
SELECT count(*) AS rows, count(DISTINCT v) AS distinct_values FROM eq_vals;
SELECT count(*) AS groups FROM (SELECT v FROM eq_vals GROUP BY v) g;
SELECT count(*) AS union_rows FROM (SELECT v FROM eq_vals UNION SELECT v FROM eq_vals) u;
SELECT (SELECT v FROM eq_vals WHERE id = 1) OPERATOR(orgcrypt.=) (SELECT v FROM eq_vals WHERE id = 11) AS copy_equal;
-- a unique index refuses an exact copy, not a re-encryption of the same plaintext
CREATE TABLE eq_uniq (v orgcrypt.ciphertext UNIQUE);
INSERT INTO eq_uniq SELECT v FROM eq_vals WHERE id = 1;
SELECT pg_temp.err($q$INSERT INTO eq_uniq SELECT v FROM eq_vals WHERE id = 11$q$);
SELECT pg_temp.err($q$INSERT INTO eq_uniq SELECT v FROM eq_vals WHERE id = 2$q$);
DROP TABLE eq_uniq;

SET search_path = public, orgcrypt;
SELECT (SELECT v FROM eq_vals WHERE id = 1) = (SELECT v FROM eq_vals WHERE id = 11) AS copy_equal,
       (SELECT v FROM eq_vals WHERE id = 1) = (SELECT v FROM eq_vals WHERE id = 2) AS reencryption_equal,
       (SELECT v FROM eq_vals WHERE id = 1) <> (SELECT v FROM eq_vals WHERE id = 2) AS reencryption_differs;
SELECT count(*) AS in_subquery FROM eq_vals WHERE v IN (SELECT v FROM eq_vals WHERE id IN (1, 3));
-- order is bytewise, as bytea's
SELECT bool_and((a.v < b.v) = (a.v::bytea < b.v::bytea) AND (a.v <= b.v) = (a.v::bytea <= b.v::bytea)
            AND (a.v > b.v) = (a.v::bytea > b.v::bytea) AND (a.v >= b.v) = (a.v::bytea >= b.v::bytea)
            AND sign(orgcrypt.ciphertext_cmp(a.v, b.v)) =
                CASE WHEN a.v::bytea < b.v::bytea THEN -1 WHEN a.v::bytea > b.v::bytea THEN 1 ELSE 0 END)
       AS order_matches_bytea
  FROM eq_vals a, eq_vals b;
SELECT array_agg(id ORDER BY v, id) = array_agg(id ORDER BY v::bytea, id) AS sort_matches_bytea FROM eq_vals;
-- joins: hash and merge
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM eq_vals a JOIN eq_vals b ON a.v = b.v;
SELECT count(*) AS hash_join FROM eq_vals a JOIN eq_vals b ON a.v = b.v;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM eq_vals a JOIN eq_vals b ON a.v = b.v;
SELECT count(*) AS merge_join FROM eq_vals a JOIN eq_vals b ON a.v = b.v;
RESET enable_nestloop; RESET enable_mergejoin; RESET enable_hashjoin;
-- index lookups
CREATE INDEX eq_vals_hash ON eq_vals USING hash (v);
CREATE INDEX eq_vals_btree ON eq_vals (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM eq_vals WHERE v = (SELECT v FROM eq_vals WHERE id = 2);
SELECT count(*) AS index_lookup FROM eq_vals WHERE v = (SELECT v FROM eq_vals WHERE id = 2);
RESET enable_seqscan; RESET enable_bitmapscan; RESET search_path;
-- the operator classes are the type's defaults
SELECT opcname, amname, opcdefault FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
 WHERE opcintype = 'orgcrypt.ciphertext'::regtype ORDER BY amname;
DROP TABLE eq_vals;
