-- Per-org grants (1.3): a role uses only the orgs granted to it (or to a role
-- whose privileges it has), or every org as a member of orgcrypt_all_orgs; a
-- refusal is the same 42501 whatever the org's state; orgcrypt_admin manages
-- keys and grants but does not decrypt; orgcrypt_auditor only reads.
\i regress/sql/err_helper.psql
CREATE ROLE orgcrypt_regress_g_app1 LOGIN;
CREATE ROLE orgcrypt_regress_g_app2 LOGIN;
CREATE ROLE orgcrypt_regress_g_member LOGIN IN ROLE orgcrypt_regress_g_app1;
CREATE ROLE orgcrypt_regress_g_none LOGIN;
CREATE ROLE orgcrypt_regress_g_all LOGIN IN ROLE orgcrypt_all_orgs;
CREATE ROLE orgcrypt_regress_g_admin LOGIN IN ROLE orgcrypt_admin;
CREATE ROLE orgcrypt_regress_g_auditor LOGIN IN ROLE orgcrypt_auditor;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('orgcrypt_admin', 'orgcrypt_auditor', 'orgcrypt_all_orgs') ORDER BY 1;

SELECT orgcrypt.create_org_key('g-a');
SELECT orgcrypt.create_org_key('g-b');
SELECT orgcrypt.create_org_key('g-gone');
SELECT orgcrypt.destroy_org_keys('g-gone');
CREATE TABLE g_vals (org text, v orgcrypt.ciphertext);
INSERT INTO g_vals VALUES ('g-a', orgcrypt.encrypt_for_org('g-a', 'secret a')),
                          ('g-b', orgcrypt.encrypt_for_org('g-b', 'secret b'));
GRANT SELECT ON g_vals TO PUBLIC;

-- a fresh install has no PUBLIC rule
SELECT count(*) AS grants_after_install FROM orgcrypt.grants;
SELECT orgcrypt.grant_org('orgcrypt_regress_g_app1', 'g-a');
SELECT orgcrypt.grant_org('orgcrypt_regress_g_app1', 'g-a');  -- again: no second row
SELECT orgcrypt.grant_org('orgcrypt_regress_g_app2', 'g-new2');
SELECT role, org, granted_by, granted_at IS NOT NULL AS has_time FROM orgcrypt.grants ORDER BY 1, 2;
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_g_app1', '')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_g_app1', repeat('x', 256))$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('-', 'g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_no_such_role', 'g-a')$q$);
SELECT orgcrypt.grant_org(NULL, 'g-a') IS NULL AS strict;

-- a granted role uses its org ...
SET ROLE orgcrypt_regress_g_app1;
SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a';
SELECT orgcrypt.decrypt_for_org('g-a', orgcrypt.encrypt_for_org('g-a', 'app1 writes'));
SELECT orgcrypt.decrypt_for_org('g-a', orgcrypt.reencrypt_for_org('g-a', v)) FROM g_vals WHERE org = 'g-a';
SELECT orgcrypt.decrypt_for_org_bytea('g-a', orgcrypt.encrypt_for_org('g-a', '\x0102'::bytea, 'ctx'), 'ctx');
-- ... and only its org: the same error for an existing, a destroyed and a
-- never-created org, and for every function
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-b'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-b', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-gone', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-never', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-never', '\x00'::bytea, 'c')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org_bytea('g-gone', v) FROM g_vals WHERE org = 'g-a'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.reencrypt_for_org('g-b', v) FROM g_vals WHERE org = 'g-b'$q$);
SELECT count(DISTINCT replace(e, o, 'X')) AS distinct_messages, min(replace(e, o, 'X')) AS message
  FROM (SELECT o, pg_temp.err(format(f, o)) AS e
          FROM unnest(ARRAY['g-b', 'g-gone', 'g-never']) o,
               unnest(ARRAY['SELECT orgcrypt.decrypt_for_org(%L, v) FROM g_vals',
                            'SELECT orgcrypt.decrypt_for_org_bytea(%L, v, ''ctx'') FROM g_vals',
                            'SELECT orgcrypt.reencrypt_for_org(%L, v) FROM g_vals',
                            'SELECT orgcrypt.encrypt_for_org(%L, ''x'')',
                            'SELECT orgcrypt.encrypt_for_org(%L, ''\x00''::bytea, NULL)']) f) s;
-- an org name still has to be valid (22023 says nothing about any org)
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('', 'x')$q$);
RESET ROLE;

-- a member of a granted role uses it too
SET ROLE orgcrypt_regress_g_member;
SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a';
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-b'$q$);
RESET ROLE;

-- parallel workers check too (they start with empty caches and read the
-- grants as the extension owner, with the query's snapshot)
CREATE TABLE g_par (id int, org text, v orgcrypt.ciphertext);
INSERT INTO g_par SELECT g, 'g-a', orgcrypt.encrypt_for_org('g-a', 'value ' || g) FROM generate_series(1, 10000) g;
ANALYZE g_par;
GRANT SELECT ON g_par TO PUBLIC;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET ROLE orgcrypt_regress_g_member;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id) AS decrypted_in_parallel FROM g_par;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org_bytea(org, v) IS NOT NULL) FROM g_par;
RESET ROLE;
SET ROLE orgcrypt_regress_g_none;
SELECT pg_temp.err($q$SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL) FROM g_par$q$);
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE g_par;

-- no auto-create without the right to use the org; with it, as before
SET ROLE orgcrypt_regress_g_none;
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-new1', 'x')$q$);
RESET ROLE;
SELECT count(*) AS g_new1_keys FROM orgcrypt.org_keys WHERE org = 'g-new1';
SET ROLE orgcrypt_regress_g_app2;
SELECT orgcrypt.decrypt_for_org('g-new2', orgcrypt.encrypt_for_org('g-new2', 'auto-created'));
RESET ROLE;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'g-new2';

-- a member of orgcrypt_all_orgs uses every org
SET ROLE orgcrypt_regress_g_all;
SELECT org, orgcrypt.decrypt_for_org(org, v) FROM g_vals ORDER BY org;
SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('g-all-new', 'x')) AS auto_created_version;
RESET ROLE;
-- until the membership is revoked (at its next statement)
REVOKE orgcrypt_all_orgs FROM orgcrypt_regress_g_all;
SET ROLE orgcrypt_regress_g_all;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a'$q$);
RESET ROLE;

-- orgcrypt_admin manages keys and grants, but does not decrypt without a grant
SET ROLE orgcrypt_regress_g_admin;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-a', 'x')$q$);
SELECT orgcrypt.rotate_org_dek('g-a') AS admin_rotates;
SELECT orgcrypt.create_org_key('g-admin-made') AS admin_creates;
SELECT orgcrypt.destroy_org_keys('g-admin-made') AS admin_destroys;
SELECT orgcrypt.grant_org('orgcrypt_regress_g_app2', 'g-b');
SELECT orgcrypt.revoke_org('orgcrypt_regress_g_app2', 'g-b');
SELECT orgcrypt.revoke_org('orgcrypt_regress_g_app2', 'g-not-granted');
SELECT role, org FROM orgcrypt.grants ORDER BY 1, 2;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'g-a' ORDER BY version;
SELECT orgcrypt.cache_flush();
SELECT count(*) > 0 AS admin_runs_health FROM orgcrypt.health();
SELECT count(*) >= 0 AS admin_reads_provider_stats FROM orgcrypt.provider_stats;
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_dek');
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_grants');
RESET ROLE;

-- orgcrypt_auditor reads org_keys, the grants, provider_stats and health(),
-- and nothing else
SET ROLE orgcrypt_regress_g_auditor;
SELECT role, org FROM orgcrypt.grants ORDER BY 1, 2;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'g-a' ORDER BY version;
SELECT count(*) >= 0 AS auditor_reads_provider_stats FROM orgcrypt.provider_stats;
SELECT count(*) > 0 AS auditor_runs_health FROM orgcrypt.health();
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_g_auditor', 'g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.cache_flush()$q$);
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_dek');
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_grants');
RESET ROLE;

-- an ordinary role reads no grants and calls no admin function: refused by
-- SQL privileges, and by the C checks behind them when EXECUTE was granted
SET ROLE orgcrypt_regress_g_none;
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_grants');
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.grants');
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_g_none', 'g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.revoke_public_access()$q$);
SELECT pg_temp.err($q$INSERT INTO orgcrypt.org_grants (grantee, org, granted_by) VALUES (NULL, NULL, 'orgcrypt_regress_g_none')$q$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION orgcrypt.rotate_org_dek(text), orgcrypt.grant_org(regrole, text),
    orgcrypt.revoke_public_access(), orgcrypt.health(), orgcrypt.cache_flush(), orgcrypt.rewrap_batch(integer),
    orgcrypt.provider_stats_fn() TO orgcrypt_regress_g_none;
SET ROLE orgcrypt_regress_g_none;
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org('orgcrypt_regress_g_none', 'g-a')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.revoke_public_access()$q$);
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.health()$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.cache_flush()$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rewrap_batch(1)$q$);
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.provider_stats_fn()$q$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION orgcrypt.rotate_org_dek(text), orgcrypt.grant_org(regrole, text),
    orgcrypt.revoke_public_access(), orgcrypt.health(), orgcrypt.cache_flush(), orgcrypt.rewrap_batch(integer),
    orgcrypt.provider_stats_fn() FROM orgcrypt_regress_g_none;

-- search_path tricks: an "=" that matches everything and a pg_has_role that
-- always says yes, found first on the search_path, change nothing (the
-- grants are read with qualified names, as the extension owner)
CREATE SCHEMA g_trap AUTHORIZATION orgcrypt_regress_g_none;
SET ROLE orgcrypt_regress_g_none;
CREATE FUNCTION g_trap.eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR g_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = g_trap.eq);
CREATE FUNCTION g_trap.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = g_trap, pg_catalog;
SELECT 'a' = 'b' AS trap_operator_active, pg_has_role(0, 0, 'x') AS trap_function_active;
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-a', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('g-trap', 'x')$q$);
RESET search_path;
RESET ROLE;
DROP SCHEMA g_trap CASCADE;

-- a revoke takes effect at the grantee's next statement
SELECT orgcrypt.revoke_org('orgcrypt_regress_g_app1', 'g-a');
SET ROLE orgcrypt_regress_g_member;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-a'$q$);
RESET ROLE;
-- a grant rolled back grants nothing
BEGIN;
SELECT orgcrypt.grant_org('orgcrypt_regress_g_app1', 'g-b');
ROLLBACK;
SET ROLE orgcrypt_regress_g_app1;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM g_vals WHERE org = 'g-b'$q$);
RESET ROLE;

-- denials are counted
SELECT denials > 0 AS denials_counted FROM orgcrypt.cache_stats;

DELETE FROM orgcrypt.org_grants WHERE grantee::text LIKE 'orgcrypt_regress_g%';
DELETE FROM orgcrypt.org_dek WHERE org LIKE 'g-%';
DROP TABLE g_vals;
DROP ROLE orgcrypt_regress_g_member, orgcrypt_regress_g_app1, orgcrypt_regress_g_app2, orgcrypt_regress_g_none,
          orgcrypt_regress_g_all, orgcrypt_regress_g_admin, orgcrypt_regress_g_auditor;

-- a pre-existing orgcrypt role that can log in is reported, not changed
ALTER ROLE orgcrypt_auditor LOGIN;
CREATE DATABASE orgcrypt_regress_g_roles TEMPLATE template0;
\c orgcrypt_regress_g_roles
CREATE EXTENSION orgcrypt;
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'orgcrypt_auditor';
\c regression
DROP DATABASE orgcrypt_regress_g_roles;
ALTER ROLE orgcrypt_auditor NOLOGIN;
