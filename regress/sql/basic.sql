-- orgcrypt basics: every function, round trips, NULLs, contexts, sizes.
CREATE EXTENSION orgcrypt;
\dx orgcrypt

-- text round trip, auto-created key
SELECT orgcrypt.decrypt_for_org('acme', orgcrypt.encrypt_for_org('acme', 'hello world')) AS text_roundtrip;
SELECT orgcrypt.decrypt_for_org_bytea('acme', orgcrypt.encrypt_for_org('acme', '\x00ff10'::bytea)) AS bytea_roundtrip;
SELECT org, version, state, provider FROM orgcrypt.org_keys ORDER BY org, version;

-- empty values
SELECT orgcrypt.decrypt_for_org('acme', orgcrypt.encrypt_for_org('acme', '')) = '' AS empty_text;
SELECT orgcrypt.decrypt_for_org_bytea('acme', orgcrypt.encrypt_for_org('acme', ''::bytea)) = ''::bytea AS empty_bytea;

-- overhead: octet_length(value::bytea) - plaintext length, at most 48
SELECT octet_length(orgcrypt.encrypt_for_org('acme', 'hello')::bytea) - 5 AS overhead_text,
       octet_length(orgcrypt.encrypt_for_org('acme', ''::bytea)::bytea) AS overhead_empty;

-- fresh nonce each time: same input, different ciphertexts
SELECT orgcrypt.encrypt_for_org('acme', 'same')::bytea <> orgcrypt.encrypt_for_org('acme', 'same')::bytea AS nondeterministic;

-- multi-megabyte values
SELECT orgcrypt.decrypt_for_org('acme', orgcrypt.encrypt_for_org('acme', repeat('x', 5 * 1024 * 1024))) = repeat('x', 5 * 1024 * 1024) AS big_text;
SELECT length(orgcrypt.decrypt_for_org_bytea('acme',
         orgcrypt.encrypt_for_org('acme', convert_to(repeat('abcdefgh', 1024 * 1024), 'UTF8')))) AS big_bytea_len;

-- non-ASCII text
SELECT orgcrypt.decrypt_for_org('acme', orgcrypt.encrypt_for_org('acme', 'grüße, 東京, €')) AS unicode;
-- decrypt_for_org_bytea on a text value gives its UTF-8 bytes
SELECT orgcrypt.decrypt_for_org_bytea('acme', orgcrypt.encrypt_for_org('acme', 'é')) AS utf8_bytes;

-- NULL org or NULL value gives NULL, for every function
SELECT orgcrypt.encrypt_for_org(NULL, 'x') IS NULL AS a,
       orgcrypt.encrypt_for_org('acme', NULL::text) IS NULL AS b,
       orgcrypt.encrypt_for_org(NULL, 'x'::bytea) IS NULL AS c,
       orgcrypt.encrypt_for_org('acme', NULL::bytea) IS NULL AS d,
       orgcrypt.encrypt_for_org(NULL, 'x', 'ctx') IS NULL AS e,
       orgcrypt.encrypt_for_org('acme', NULL::text, 'ctx') IS NULL AS f,
       orgcrypt.encrypt_for_org(NULL, 'x'::bytea, 'ctx') IS NULL AS g,
       orgcrypt.encrypt_for_org('acme', NULL::bytea, 'ctx') IS NULL AS h;
SELECT orgcrypt.decrypt_for_org(NULL, orgcrypt.encrypt_for_org('acme', 'x')) IS NULL AS a,
       orgcrypt.decrypt_for_org('acme', NULL) IS NULL AS b,
       orgcrypt.decrypt_for_org(NULL, orgcrypt.encrypt_for_org('acme', 'x'), 'c') IS NULL AS c,
       orgcrypt.decrypt_for_org('acme', NULL, 'c') IS NULL AS d,
       orgcrypt.decrypt_for_org_bytea(NULL, orgcrypt.encrypt_for_org('acme', 'x')) IS NULL AS e,
       orgcrypt.decrypt_for_org_bytea('acme', NULL) IS NULL AS f,
       orgcrypt.decrypt_for_org_bytea('acme', NULL, 'c') IS NULL AS g,
       orgcrypt.reencrypt_for_org(NULL, orgcrypt.encrypt_for_org('acme', 'x')) IS NULL AS h,
       orgcrypt.reencrypt_for_org('acme', NULL) IS NULL AS i,
       orgcrypt.reencrypt_for_org('acme', NULL, 'c') IS NULL AS j,
       orgcrypt.dek_version(NULL) IS NULL AS k,
       orgcrypt.create_org_key(NULL) IS NULL AS l,
       orgcrypt.rotate_org_dek(NULL) IS NULL AS m,
       orgcrypt.destroy_org_keys(NULL) IS NULL AS n;

-- context: NULL context = no context = omitted; '' is a context of its own
SELECT orgcrypt.encrypt_for_org('acme', 'ctx test', 'users.email') AS c1,
       orgcrypt.encrypt_for_org('acme', 'ctx test') AS c0,
       orgcrypt.encrypt_for_org('acme', 'ctx test', '') AS ce,
       orgcrypt.encrypt_for_org('acme', 'ctx test', NULL) AS cn \gset
SELECT orgcrypt.decrypt_for_org('acme', :'c1', 'users.email') AS with_ctx;
SELECT orgcrypt.decrypt_for_org('acme', :'c0', NULL) AS null_ctx_reads_no_ctx,
       orgcrypt.decrypt_for_org('acme', :'cn') AS no_ctx_reads_null_ctx;
SELECT orgcrypt.decrypt_for_org('acme', :'ce', '') AS empty_ctx;
SELECT orgcrypt.decrypt_for_org_bytea('acme', orgcrypt.encrypt_for_org('acme', '\xbeef'::bytea, 'blob'), 'blob') AS bytea_ctx;

-- text I/O round trips; casts to and from bytea
SELECT orgcrypt.encrypt_for_org('acme', 'io') AS io \gset
SELECT orgcrypt.decrypt_for_org('acme', (:'io'::orgcrypt.ciphertext)::text::orgcrypt.ciphertext) AS text_io;
SELECT orgcrypt.decrypt_for_org('acme', (:'io'::orgcrypt.ciphertext)::bytea::orgcrypt.ciphertext) AS bytea_cast;
SELECT :'io' ~ '^[A-Za-z0-9+/]+=*$' AS base64_text;

-- storage in a table
CREATE TABLE secrets (id int, org text, v orgcrypt.ciphertext);
INSERT INTO secrets SELECT g, 'org' || (g % 3), orgcrypt.encrypt_for_org('org' || (g % 3), 'value ' || g) FROM generate_series(1, 30) g;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id) AS ok FROM secrets;

-- create_org_key, rotate_org_dek, dek_version, reencrypt_for_org
SELECT orgcrypt.create_org_key('globex') AS created;
SELECT orgcrypt.encrypt_for_org('globex', 'before rotation', 'c') AS old \gset
SELECT orgcrypt.dek_version(:'old') AS old_version;
SELECT orgcrypt.rotate_org_dek('globex') AS rotated_to;
SELECT orgcrypt.rotate_org_dek('globex') AS rotated_to;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'after')) AS new_version;
SELECT orgcrypt.decrypt_for_org('globex', :'old', 'c') AS old_still_reads;
SELECT orgcrypt.dek_version(orgcrypt.reencrypt_for_org('globex', :'old', 'c')) AS reencrypted_version,
       orgcrypt.decrypt_for_org('globex', orgcrypt.reencrypt_for_org('globex', :'old', 'c'), 'c') AS reencrypted_reads;
-- reencrypt keeps the plaintext kind
SELECT orgcrypt.decrypt_for_org_bytea('globex', orgcrypt.reencrypt_for_org('globex', orgcrypt.encrypt_for_org('globex', '\x0102'::bytea))) AS kept_bytea;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'globex' ORDER BY version;

-- a rolled-back rotation changes nothing; its version number may be reused
BEGIN;
SELECT orgcrypt.rotate_org_dek('globex') AS in_tx;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS in_tx_version;
ROLLBACK;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS after_rollback;
SELECT orgcrypt.rotate_org_dek('globex') AS committed;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS after_commit;
-- same with a savepoint
BEGIN;
SAVEPOINT s;
SELECT orgcrypt.rotate_org_dek('globex') AS in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS after_savepoint_rollback;
COMMIT;

-- a prepared rotation that is rolled back leaves nothing usable behind
BEGIN;
SELECT orgcrypt.rotate_org_dek('globex') AS prepared_rotation;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS in_prepared_tx;
PREPARE TRANSACTION 'orgcrypt_rot';
ROLLBACK PREPARED 'orgcrypt_rot';
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS after_rollback_prepared;
BEGIN;
SELECT orgcrypt.rotate_org_dek('globex') AS prepared_rotation;
PREPARE TRANSACTION 'orgcrypt_rot2';
COMMIT PREPARED 'orgcrypt_rot2';
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('globex', 'x')) AS after_commit_prepared;

-- destroy: tombstones, versions never reused
SELECT orgcrypt.encrypt_for_org('initech', 'shred me') AS doomed \gset
SELECT orgcrypt.rotate_org_dek('initech');
SELECT orgcrypt.destroy_org_keys('initech') AS destroyed;
SELECT orgcrypt.destroy_org_keys('initech') AS destroyed_again;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'initech' ORDER BY version;
SELECT count(*) AS wrapped_left FROM orgcrypt.org_dek WHERE org = 'initech' AND wrapped IS NOT NULL;
SELECT orgcrypt.destroy_org_keys('never-had-keys') AS nothing_to_destroy;
-- other orgs are untouched
SELECT orgcrypt.decrypt_for_org('globex', :'old', 'c') AS other_org_still_reads;

-- org names: 1 to 255 bytes, byte for byte; a UUID's text works
SELECT orgcrypt.decrypt_for_org('7c9e6679-7425-40de-944b-e07fc1f90ae7',
         orgcrypt.encrypt_for_org('7c9e6679-7425-40de-944b-e07fc1f90ae7', 'uuid org')) AS uuid_org;
SELECT orgcrypt.decrypt_for_org(repeat('o', 255), orgcrypt.encrypt_for_org(repeat('o', 255), 'long org')) AS org_255;
SELECT orgcrypt.decrypt_for_org('Acme', orgcrypt.encrypt_for_org('Acme', 'case')) AS case_sensitive;
SELECT count(DISTINCT org) FILTER (WHERE org IN ('acme', 'Acme')) AS distinct_orgs FROM orgcrypt.org_keys;

-- function properties (volatility, parallel safety, strictness, security)
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'orgcrypt' AND p.proname NOT LIKE 'ciphertext%'
ORDER BY 1, 2;

-- cache_stats
SELECT mode, entries > 0 AS has_entries, capacity, hits > 0 AS has_hits, provider_calls > 0 AS has_calls FROM orgcrypt.cache_stats;
SELECT orgcrypt.cache_flush();
SELECT entries FROM orgcrypt.cache_stats;
SELECT orgcrypt.decrypt_for_org('globex', :'old', 'c') AS after_flush;

-- pg_dump keeps the key table
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid WHERE e.extname = 'orgcrypt';
