-- The audit trail (1.3): each key-management change writes exactly one row
-- per event (per DEK for a rewrap) in its own transaction; orgcrypt_admin and
-- orgcrypt_auditor read it, nobody but the owner changes it; it never holds
-- key material. (Denials are in the server log only:
-- tests/integration/audit_log.sh checks that.)
\i regress/sql/err_helper.psql
SET application_name = 'orgcrypt_audit_regress';
CREATE ROLE orgcrypt_regress_a_admin LOGIN IN ROLE orgcrypt_admin;
CREATE ROLE orgcrypt_regress_a_auditor LOGIN IN ROLE orgcrypt_auditor;
CREATE ROLE orgcrypt_regress_a_app LOGIN;
CREATE ROLE orgcrypt_regress_a_none LOGIN;

-- audit_new(): the rows written since the last call (it moves them, as the
-- superuser, into a_seen, which the key-material check reads at the end).
-- local: no client address (a Unix socket) and this backend's pid.
CREATE TEMP TABLE a_seen AS SELECT * FROM orgcrypt.audit_log WHERE false;
CREATE FUNCTION pg_temp.audit_new()
    RETURNS TABLE (event text, org text, version integer, role text, detail text, application_name text, local boolean)
    LANGUAGE sql AS $$
  WITH d AS (DELETE FROM orgcrypt.audit_log RETURNING *),
       s AS (INSERT INTO a_seen SELECT * FROM d)
  SELECT event, org, version, role, detail, application_name,
         client_addr IS NULL AND backend_pid = pg_backend_pid()
    FROM d ORDER BY at, event, org, version, detail
$$;
SELECT count(*) >= 0 AS earlier_rows_moved FROM pg_temp.audit_new();

-- the table: its columns and who may do what with it
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE attrelid = 'orgcrypt.audit_log'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT r, p, has_table_privilege(r, 'orgcrypt.audit_log', p) AS allowed
  FROM unnest(ARRAY['orgcrypt_admin', 'orgcrypt_auditor', 'orgcrypt_regress_a_app', 'public']) r,
       unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
 WHERE r <> 'public' OR p = 'SELECT'
 ORDER BY 1, 2;
SELECT extcondition IS NOT NULL AND 'orgcrypt.audit_log'::regclass::oid = ANY (extconfig) AS kept_by_pg_dump
  FROM pg_extension WHERE extname = 'orgcrypt';

-- create, rotate
SELECT orgcrypt.create_org_key('a-1');
SELECT orgcrypt.rotate_org_dek('a-1');
SELECT * FROM pg_temp.audit_new();
-- a failed create (the org has keys) and a failed rotate leave no row
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('a-1')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('a-none')$q$);
SELECT * FROM pg_temp.audit_new();
-- a rolled-back rotation leaves no row, a committed one does
BEGIN;
SELECT orgcrypt.rotate_org_dek('a-1');
SELECT count(*) AS rows_inside_the_transaction FROM orgcrypt.audit_log WHERE event = 'rotate';
ROLLBACK;
SELECT * FROM pg_temp.audit_new();
BEGIN;
SAVEPOINT s;
SELECT orgcrypt.rotate_org_dek('a-1');
ROLLBACK TO SAVEPOINT s;
SELECT orgcrypt.rotate_org_dek('a-1');
COMMIT;
SELECT * FROM pg_temp.audit_new();

-- grant, a grant that was there, the automatic first key of a granted role
-- (one row, for the encryption that created it), revoke, a revoke of nothing
SELECT orgcrypt.grant_org('orgcrypt_regress_a_app', 'a-2');
SELECT orgcrypt.grant_org('orgcrypt_regress_a_app', 'a-2');
SET ROLE orgcrypt_regress_a_app;
SELECT orgcrypt.encrypt_for_org('a-2', 'first') IS NOT NULL AS encrypted;
SELECT orgcrypt.decrypt_for_org('a-2', orgcrypt.encrypt_for_org('a-2', 'second')) AS decrypted;
RESET ROLE;
SELECT * FROM pg_temp.audit_new();
-- as a member of orgcrypt_admin: the role recorded is current_user
SET ROLE orgcrypt_regress_a_admin;
SELECT orgcrypt.rotate_org_dek('a-2');
SELECT orgcrypt.revoke_org('orgcrypt_regress_a_app', 'a-2');
SELECT orgcrypt.revoke_org('orgcrypt_regress_a_app', 'a-2');
SELECT orgcrypt.destroy_org_keys('a-2');
SELECT orgcrypt.destroy_org_keys('a-2');
SELECT orgcrypt.destroy_org_keys('a-never');
RESET ROLE;
SELECT * FROM pg_temp.audit_new();

-- revoke_public_access, with and without the PUBLIC rule
INSERT INTO orgcrypt.org_grants (grantee, org, granted_by) VALUES (NULL, NULL, 'orgcrypt_regress_a_admin');
SET ROLE orgcrypt_regress_a_admin;
SELECT orgcrypt.revoke_public_access();
SELECT orgcrypt.revoke_public_access();
RESET ROLE;
SELECT * FROM pg_temp.audit_new();

-- rewrap: one row per DEK moved, with the KEK URIs (a row without a
-- fingerprint counts as wrapped by another KEK; rows that earlier tests left
-- under other KEKs move too, each with its row); nothing to move, no row
UPDATE orgcrypt.org_dek SET kek_fingerprint = NULL WHERE org = 'a-1' AND version IN (1, 3);
SET ROLE orgcrypt_regress_a_admin;
SELECT orgcrypt.rewrap_batch(1000) - 2 AS other_deks \gset
SELECT orgcrypt.rewrap_batch(1000) AS nothing_left;
RESET ROLE;
CREATE TEMP TABLE a_rewrap AS SELECT * FROM pg_temp.audit_new();
SELECT event, org, version, role, replace(detail, current_setting('orgcrypt.master_key'), 'MASTER') AS detail, local
  FROM a_rewrap WHERE org LIKE 'a-%' ORDER BY version;
SELECT count(*) FILTER (WHERE org NOT LIKE 'a-%') = :other_deks AS one_row_per_other_dek,
       bool_and(event = 'rewrap' AND detail LIKE 'from file:% to ' || current_setting('orgcrypt.master_key')) AS all_rewraps_to_master
  FROM a_rewrap;

-- denied admin calls write no row (the ERROR rolls the transaction back; they
-- are in the server log)
SET ROLE orgcrypt_regress_a_none;
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('a-1')$q$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION orgcrypt.rotate_org_dek(text) TO orgcrypt_regress_a_none;
SET ROLE orgcrypt_regress_a_none;
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('a-1')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('a-1', 'x')$q$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION orgcrypt.rotate_org_dek(text) FROM orgcrypt_regress_a_none;
SELECT * FROM pg_temp.audit_new();

-- a hostile search_path changes nothing (the insert names everything)
CREATE SCHEMA a_trap AUTHORIZATION orgcrypt_regress_a_admin;
CREATE TABLE a_trap.audit_log (LIKE orgcrypt.audit_log);
GRANT ALL ON a_trap.audit_log TO PUBLIC;
SET ROLE orgcrypt_regress_a_admin;
SET search_path = a_trap, pg_catalog;
SELECT orgcrypt.create_org_key('a-3');
RESET search_path;
RESET ROLE;
SELECT count(*) AS rows_in_the_trap FROM a_trap.audit_log;
DROP SCHEMA a_trap CASCADE;
SELECT * FROM pg_temp.audit_new();

-- who may read and change it: an ordinary role nothing, orgcrypt_admin and
-- orgcrypt_auditor read but do not change or delete
SET ROLE orgcrypt_regress_a_none;
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.audit_log');
SELECT pg_temp.err($q$INSERT INTO orgcrypt.audit_log (event, role, backend_pid) VALUES ('create', 'x', 1)$q$);
SELECT pg_temp.err('DELETE FROM orgcrypt.audit_log');
SELECT pg_temp.err('UPDATE orgcrypt.audit_log SET detail = NULL');
SELECT pg_temp.err('TRUNCATE orgcrypt.audit_log');
RESET ROLE;
SELECT orgcrypt.create_org_key('a-4');
SET ROLE orgcrypt_regress_a_admin;
SELECT event, org, role FROM orgcrypt.audit_log;
SELECT pg_temp.err('DELETE FROM orgcrypt.audit_log');
SELECT pg_temp.err('UPDATE orgcrypt.audit_log SET role = NULL');
SELECT pg_temp.err('TRUNCATE orgcrypt.audit_log');
SELECT pg_temp.err($q$INSERT INTO orgcrypt.audit_log (event, role, backend_pid) VALUES ('create', 'x', 1)$q$);
SET ROLE orgcrypt_regress_a_auditor;
SELECT event, org, role FROM orgcrypt.audit_log;
SELECT pg_temp.err('DELETE FROM orgcrypt.audit_log');
SELECT pg_temp.err('TRUNCATE orgcrypt.audit_log');
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('a-4')$q$);
RESET ROLE;
SELECT * FROM pg_temp.audit_new();

-- the role's name survives DROP ROLE
DROP ROLE orgcrypt_regress_a_app;
SELECT DISTINCT role FROM a_seen WHERE role = 'orgcrypt_regress_a_app';

-- never key material: no wrapped DEK (hex or base64) and no master key file
-- text in any column of any row written in this test
SELECT count(*) > 0 AS checked, count(*) FILTER (WHERE s::text LIKE '%' || encode(k.wrapped, 'hex') || '%'
                                                 OR s::text LIKE '%' || encode(k.wrapped, 'base64') || '%') AS wrapped_dek_in_a_row
  FROM a_seen s, (SELECT wrapped FROM orgcrypt.org_dek WHERE wrapped IS NOT NULL) k;
SELECT count(*) FILTER (WHERE s::text LIKE '%' || trim(E'\n' FROM pg_read_file('/tmp/orgcrypt_regress/master.key')) || '%') AS master_key_in_a_row
  FROM a_seen s;

DELETE FROM orgcrypt.org_grants WHERE grantee::text LIKE 'orgcrypt_regress_a%';
DELETE FROM orgcrypt.org_dek WHERE org LIKE 'a-%';
DROP ROLE orgcrypt_regress_a_admin, orgcrypt_regress_a_auditor, orgcrypt_regress_a_none;
RESET application_name;
