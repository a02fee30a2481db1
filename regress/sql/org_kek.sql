-- Per-org master keys (1.3): orgcrypt.set_org_master_key(org, uri) gives an
-- org its own KEK. The URI must be listed (orgcrypt.master_key or
-- orgcrypt.allowed_key_uris) and is tried before it is stored; the org's new
-- DEKs are wrapped by it, rewrap_org_keys() moves its older ones under it,
-- and a NULL URI gives the org back to orgcrypt.master_key. Runs in its own
-- database (rewrap works on the whole key table).
CREATE DATABASE orgcrypt_regress_kek TEMPLATE template0;
\c orgcrypt_regress_kek
\i regress/sql/err_helper.psql
CREATE EXTENSION orgcrypt;
CREATE ROLE orgcrypt_regress_k_admin IN ROLE orgcrypt_admin;
CREATE ROLE orgcrypt_regress_k_auditor IN ROLE orgcrypt_auditor;
CREATE ROLE orgcrypt_regress_k_none;
\set raw 'file:/tmp/orgcrypt_regress/raw.key'
\set master 'file:/tmp/orgcrypt_regress/master.key'
SELECT orgcrypt.encrypt_for_org('kek-a', 'a before') AS a_before \gset
SELECT orgcrypt.encrypt_for_org('kek-b', 'b before') AS b_before \gset
SELECT orgcrypt.create_org_key('kek-gone');
SELECT orgcrypt.destroy_org_keys('kek-gone');

-- refused: not listed (a file: URI too), malformed, a NULL or bad org
SHOW orgcrypt.allowed_key_uris;
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-a', :'raw'));
\set VERBOSITY default
SELECT orgcrypt.set_org_master_key('kek-a', 'pkcs11:token=t;object=k?module-path=/tmp/evil.so');
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'file:relative.key')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'nosuch:/x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key(NULL, 'file:/x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('', 'file:/x')$q$);
-- orgcrypt.master_key itself is always allowed
SELECT orgcrypt.set_org_master_key('kek-b', :'master');
SELECT orgcrypt.set_org_master_key('kek-b', NULL);

ALTER SYSTEM SET orgcrypt.allowed_key_uris = 'file:/tmp/orgcrypt_regress/*';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
-- after a prefix entry only a name: no path traversal, no parameter
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'file:/tmp/orgcrypt_regress/../orgcrypt_regress/raw.key')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'file:/tmp/orgcrypt_regress/./raw.key')$q$);
-- listed, but the provider refuses: its own 58000, and nothing is stored
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'file:/tmp/orgcrypt_regress/missing.key')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.set_org_master_key('kek-a', 'file:/tmp/orgcrypt_regress/short.key')$q$);
SELECT count(*) AS nothing_stored FROM orgcrypt.org_master_keys;
-- a destroyed org
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-gone', :'raw'));
-- a file: key while orgcrypt.allow_file_master_key is off
ALTER SYSTEM SET orgcrypt.allow_file_master_key = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-a', :'raw'));
ALTER SYSTEM RESET orgcrypt.allow_file_master_key;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- who may: an ordinary role neither calls it (SQL privilege, then the check
-- in C) nor reads the table; the auditor reads the table only; an admin sets
GRANT USAGE ON SCHEMA orgcrypt TO orgcrypt_regress_k_none;
SET ROLE orgcrypt_regress_k_none;
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-a', :'raw'));
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.org_master_keys$q$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION orgcrypt.set_org_master_key(text, text) TO orgcrypt_regress_k_none;
SET ROLE orgcrypt_regress_k_none;
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-a', :'raw'));
RESET ROLE;
REVOKE EXECUTE ON FUNCTION orgcrypt.set_org_master_key(text, text) FROM orgcrypt_regress_k_none;
SET ROLE orgcrypt_regress_k_auditor;
SELECT pg_temp.err(format('SELECT orgcrypt.set_org_master_key(%L, %L)', 'kek-a', :'raw'));
SELECT count(*) AS auditor_reads FROM orgcrypt.org_master_keys;
RESET ROLE;
SET ROLE orgcrypt_regress_k_admin;
SELECT orgcrypt.set_org_master_key('kek-a', :'raw');
-- an org without keys yet: its first DEK is wrapped by its own KEK
SELECT orgcrypt.set_org_master_key('kek-new', :'raw');
SELECT org, kek_uri, set_by, octet_length(kek_fp) AS fp_bytes, set_at IS NOT NULL AS has_time
  FROM orgcrypt.org_master_keys ORDER BY org;
RESET ROLE;

-- new DEKs: kek-a and kek-new under their KEK, kek-b still under the master
SELECT orgcrypt.rotate_org_dek('kek-a');
SELECT orgcrypt.rotate_org_dek('kek-b');
SELECT orgcrypt.encrypt_for_org('kek-a', 'a after') AS a_after \gset
SELECT orgcrypt.encrypt_for_org('kek-new', 'new') AS new_v \gset
SELECT orgcrypt.dek_version(:'a_after') AS a_after_version;
SELECT org, version, state, provider FROM orgcrypt.org_keys ORDER BY org, version;
-- health() lists the org's KEK once (with the master key)
SELECT uri, reachable, can_wrap, can_unwrap FROM orgcrypt.health() ORDER BY uri;
-- with no master key configured, orgs with their own KEK still get new DEKs
ALTER SYSTEM SET orgcrypt.master_key = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT orgcrypt.rotate_org_dek('kek-new');
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('kek-b')$q$);
ALTER SYSTEM RESET orgcrypt.master_key;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- rewrap moves kek-a's version 1 (made under the master) under its KEK
CALL orgcrypt.rewrap_org_keys();
SELECT org, version, provider FROM orgcrypt.org_keys WHERE state <> 'destroyed' ORDER BY org, version;
CALL orgcrypt.rewrap_org_keys();
SELECT orgcrypt.cache_flush();
SELECT orgcrypt.decrypt_for_org('kek-a', :'a_before') AS a1, orgcrypt.decrypt_for_org('kek-a', :'a_after') AS a3,
       orgcrypt.decrypt_for_org('kek-b', :'b_before') AS b1, orgcrypt.decrypt_for_org('kek-new', :'new_v') AS n1;

-- a key replaced at the org's KEK URI (here: its recorded fingerprint
-- changed) is refused, for new DEKs and as a rewrap target
UPDATE orgcrypt.org_master_keys SET kek_fp = '\x0000000000000000' WHERE org = 'kek-a';
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('kek-a')$q$);
SELECT pg_temp.err($q$CALL orgcrypt.rewrap_org_keys()$q$);
SELECT orgcrypt.set_org_master_key('kek-a', :'raw');  -- set again: the current key
-- a file: KEK while allow_file_master_key is off: refused for new DEKs
ALTER SYSTEM SET orgcrypt.allow_file_master_key = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('kek-a')$q$);
ALTER SYSTEM RESET orgcrypt.allow_file_master_key;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- NULL: back to the master key; rewrap moves kek-a's DEKs back
SELECT orgcrypt.set_org_master_key('kek-a', NULL);
SELECT orgcrypt.set_org_master_key('kek-a', NULL);  -- again: nothing to remove, no error
SELECT orgcrypt.rotate_org_dek('kek-a');
CALL orgcrypt.rewrap_org_keys();
SELECT org, version, provider FROM orgcrypt.org_keys WHERE state <> 'destroyed' ORDER BY org, version;
SELECT orgcrypt.cache_flush();
SELECT orgcrypt.decrypt_for_org('kek-a', :'a_before') AS a1, orgcrypt.decrypt_for_org('kek-a', :'a_after') AS a3;
-- removing a destroyed org's KEK is allowed
SELECT orgcrypt.set_org_master_key('kek-gone', NULL);
SELECT org FROM orgcrypt.org_master_keys ORDER BY org;
-- every change is in the audit trail (refusals are not: their transaction
-- rolled back), with the URI the provider resolved
SELECT event, org, version, role, detail FROM orgcrypt.audit_log
 WHERE event = 'set_org_master_key' ORDER BY at;

ALTER SYSTEM RESET orgcrypt.allowed_key_uris;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c regression
DROP DATABASE orgcrypt_regress_kek;
DROP ROLE orgcrypt_regress_k_admin, orgcrypt_regress_k_auditor, orgcrypt_regress_k_none;
