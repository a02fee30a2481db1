-- ALTER EXTENSION orgcrypt UPDATE from 1.0 (through every version) and from
-- 1.1: data written before still decrypts, key state (rotation, destroy)
-- survives, and the objects equal a fresh install of the new version. From
-- 1.3 on, the update keeps an ordinary application role working with the
-- PUBLIC rule (shown in orgcrypt.grants, announced by a WARNING) until the DBA
-- calls orgcrypt.revoke_public_access(). The cluster-wide roles are not
-- extension members and are not compared.
\i regress/sql/err_helper.psql
CREATE DATABASE orgcrypt_regress_upd_old TEMPLATE template0;
CREATE DATABASE orgcrypt_regress_upd_new TEMPLATE template0;
CREATE DATABASE orgcrypt_regress_upd_11 TEMPLATE template0;
CREATE ROLE orgcrypt_regress_upd_app LOGIN;

-- Everything that makes up the extension, as text: its member objects and
-- what they carry (function attributes and privileges, the key table's
-- constraints, indexes and triggers with their firing mode, every relation's
-- kind and replica identity, every column's type, NOT NULL, collation and
-- default).
\set describe 'SELECT string_agg(x, E''\\n'' ORDER BY x) FROM (SELECT pg_describe_object(classid, objid, objsubid) AS x FROM pg_depend WHERE refclassid = ''pg_extension''::regclass AND deptype = ''e'' AND refobjid = (SELECT oid FROM pg_extension WHERE extname = ''orgcrypt'') UNION ALL SELECT format(''%s %s %s %s %s %s %s'', p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof, p.proacl) FROM pg_proc p WHERE p.pronamespace = ''orgcrypt''::regnamespace UNION ALL SELECT format(''constraint %s %s'', conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE conrelid IN (SELECT oid FROM pg_class WHERE relnamespace = ''orgcrypt''::regnamespace) UNION ALL SELECT format(''index %s'', pg_get_indexdef(indexrelid)) FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = ''orgcrypt''::regnamespace) UNION ALL SELECT format(''trigger %s %s %s'', tgname, tgenabled, pg_get_triggerdef(oid)) FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = ''orgcrypt''::regnamespace) AND NOT tgisinternal UNION ALL SELECT format(''acl %s %s'', c.oid::regclass, c.relacl) FROM pg_class c WHERE c.relnamespace = ''orgcrypt''::regnamespace UNION ALL SELECT format(''config %s'', extcondition) FROM pg_extension WHERE extname = ''orgcrypt'' UNION ALL SELECT format(''relation %s %s %s'', c.oid::regclass, c.relkind, c.relreplident) FROM pg_class c WHERE c.relnamespace = ''orgcrypt''::regnamespace UNION ALL SELECT format(''column %s.%s %s %s %s %s'', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attcollation::regcollation, pg_get_expr(d.adbin, d.adrelid)) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE c.relnamespace = ''orgcrypt''::regnamespace AND a.attnum > 0 AND NOT a.attisdropped) s'

\c orgcrypt_regress_upd_old
\i regress/sql/err_helper.psql
CREATE EXTENSION orgcrypt VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
CREATE TABLE vals (org text, v orgcrypt.ciphertext, pt text);
INSERT INTO vals SELECT 'upd-' || i % 3, orgcrypt.encrypt_for_org('upd-' || i % 3, 'value ' || i, 'ctx'), 'value ' || i
  FROM generate_series(1, 30) i;
SELECT orgcrypt.rotate_org_dek('upd-1');
INSERT INTO vals VALUES ('upd-1', orgcrypt.encrypt_for_org('upd-1', 'after rotation', 'ctx'), 'after rotation');
SELECT orgcrypt.encrypt_for_org('upd-gone', 'x') IS NOT NULL AS gone_had_a_key;
SELECT orgcrypt.destroy_org_keys('upd-gone');
-- an application role that encrypts, as every role could before 1.3
CREATE TABLE app_vals (org text, v orgcrypt.ciphertext, pt text);
GRANT ALL ON app_vals TO orgcrypt_regress_upd_app;
SET ROLE orgcrypt_regress_upd_app;
INSERT INTO app_vals VALUES ('upd-app', orgcrypt.encrypt_for_org('upd-app', 'app value'), 'app value');
RESET ROLE;
ALTER EXTENSION orgcrypt UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
-- the application keeps working: the PUBLIC rule, visible in the grants view
SELECT role, org, granted_by FROM orgcrypt.grants;
SET ROLE orgcrypt_regress_upd_app;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = pt) AS app_decrypts_after_update FROM app_vals;
INSERT INTO app_vals VALUES ('upd-app', orgcrypt.encrypt_for_org('upd-app', 'app value 2'), 'app value 2');
INSERT INTO app_vals VALUES ('upd-app-new', orgcrypt.encrypt_for_org('upd-app-new', 'new org'), 'new org');
RESET ROLE;
-- the DBA grants the application its orgs, then revokes the rule
SELECT orgcrypt.grant_org('orgcrypt_regress_upd_app', 'upd-app');
SELECT orgcrypt.revoke_public_access();
SELECT role, org FROM orgcrypt.grants ORDER BY 1, 2;
SET ROLE orgcrypt_regress_upd_app;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = pt) AS app_decrypts_granted_org FROM app_vals WHERE org = 'upd-app';
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM app_vals WHERE org = 'upd-app-new'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('upd-1', 'x')$q$);
RESET ROLE;
DELETE FROM orgcrypt.org_grants;
SELECT count(*) AS values_total, count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v, 'ctx') = pt) AS decrypt_after_update FROM vals;
SELECT org, version, state FROM orgcrypt.org_keys ORDER BY org, version;
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('upd-gone', 'x')$q$);
SELECT orgcrypt.rotate_org_dek('upd-2') AS rotated_after_update;
-- 1.1 behaviour is there: equality on the type
SELECT count(DISTINCT v) = count(*) AS distinct_works FROM vals;
:describe \gset old_
\c orgcrypt_regress_upd_new
CREATE EXTENSION orgcrypt;
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
:describe \gset new_
SELECT :'old_string_agg' = :'new_string_agg' AS same_objects_as_fresh_install;

-- from 1.1
\c orgcrypt_regress_upd_11
CREATE EXTENSION orgcrypt VERSION '1.1';
CREATE TABLE vals (org text, v orgcrypt.ciphertext, pt text);
INSERT INTO vals SELECT 'u11-' || i % 2, orgcrypt.encrypt_for_org('u11-' || i % 2, 'value ' || i), 'value ' || i
  FROM generate_series(1, 10) i;
SELECT orgcrypt.rotate_org_dek('u11-1');
ALTER EXTENSION orgcrypt UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = pt) AS decrypt_after_update FROM vals;
:describe \gset u11_
SELECT :'u11_string_agg' = :'new_string_agg' AS same_objects_as_fresh_install;
\c orgcrypt_regress_upd_new
-- what the update test compares (so a difference is easy to read)
SELECT count(*) AS lines FROM regexp_split_to_table(:'new_string_agg', E'\n');

-- An update that tightens the org-name rule stops with a list of the rows
-- that break it (a LATIN1 database let 1.0 store 200 'é': 400 bytes of UTF-8)
CREATE DATABASE orgcrypt_regress_upd_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
\c orgcrypt_regress_upd_latin1
SET client_encoding = 'UTF8';
\i regress/sql/err_helper.psql
CREATE EXTENSION orgcrypt VERSION '1.0';
SELECT orgcrypt.create_org_key(convert_from('\x6f6b', 'LATIN1')) AS ok_org;
INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri)
  SELECT repeat(convert_from('\xe9', 'LATIN1'), 200), 1, 'active', wrapped, kek_uri FROM orgcrypt.org_dek;
\set VERBOSITY default
ALTER EXTENSION orgcrypt UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
DELETE FROM orgcrypt.org_dek WHERE octet_length(org) = 200;
SELECT pg_temp.err('ALTER EXTENSION orgcrypt UPDATE');
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
-- from now on the rule holds in the table too
SELECT pg_temp.err($q$INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri)
  SELECT repeat(convert_from('\xe9', 'LATIN1'), 200), 1, 'active', wrapped, kek_uri FROM orgcrypt.org_dek$q$);

\c regression
DROP DATABASE orgcrypt_regress_upd_latin1;
DROP DATABASE orgcrypt_regress_upd_old;
DROP DATABASE orgcrypt_regress_upd_new;
DROP DATABASE orgcrypt_regress_upd_11;
DROP ROLE orgcrypt_regress_upd_app;
