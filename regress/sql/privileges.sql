-- An ordinary role (not superuser, not owner) encrypts and decrypts, but can
-- neither read the key table nor manage keys. (It may use every org as a
-- member of orgcrypt_all_orgs: per-org grants are the grants test.)
\i regress/sql/err_helper.psql
CREATE ROLE orgcrypt_regress_app LOGIN IN ROLE orgcrypt_all_orgs;
GRANT ALL ON FUNCTION pg_temp.err(text) TO orgcrypt_regress_app;
CREATE TABLE app_data (org text, v orgcrypt.ciphertext);
GRANT ALL ON app_data TO orgcrypt_regress_app;

SET ROLE orgcrypt_regress_app;
SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser;
-- encrypt for a brand-new org: its key is created (as the extension owner)
INSERT INTO app_data VALUES ('priv-org', orgcrypt.encrypt_for_org('priv-org', 'app secret'));
INSERT INTO app_data VALUES ('priv-org', orgcrypt.encrypt_for_org('priv-org', '\x0102'::bytea, 'ctx'));
SELECT orgcrypt.decrypt_for_org(org, v) FROM app_data WHERE orgcrypt.dek_version(v) = 1 LIMIT 1;
SELECT orgcrypt.decrypt_for_org(org, orgcrypt.reencrypt_for_org(org, v)) FROM app_data LIMIT 1;
-- cannot read the key table or the key list
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_dek');
SELECT pg_temp.err('SELECT count(*) FROM orgcrypt.org_keys');
SELECT pg_temp.err('UPDATE orgcrypt.org_dek SET state = ''retired''');
-- cannot manage keys
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('priv-other')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('priv-org')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.destroy_org_keys('priv-org')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.cache_flush()$q$);
-- nor rotate the master key, probe the providers or read their statistics
SELECT pg_temp.err($q$CALL orgcrypt.rewrap_org_keys()$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rewrap_batch(1)$q$);
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.health()$q$);
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.provider_stats$q$);
SELECT pg_temp.err($q$SELECT * FROM orgcrypt.provider_stats_fn()$q$);
SELECT pg_temp.err($q$SET orgcrypt.allowed_key_uris = 'exec:/bin/sh'$q$);
SELECT pg_temp.err($q$SHOW orgcrypt.allowed_key_uris$q$);
SELECT pg_temp.err($q$SET orgcrypt.allow_plain_http_loopback = on$q$);
SELECT pg_temp.err($q$SET orgcrypt.kmip_allow_get_fallback = on$q$);
SELECT pg_temp.err($q$SET orgcrypt.kmip_cert_file = '/tmp/mine.pem'$q$);
SELECT pg_temp.err($q$SHOW orgcrypt.kmip_key_file$q$);
-- cannot turn auto-creation off for everyone, nor see the master key setting
SELECT pg_temp.err($q$SET orgcrypt.auto_create_org_keys = off$q$);
SELECT pg_temp.err($q$SHOW orgcrypt.master_key$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.key_table_changed()$q$);
-- can read the cache statistics
SELECT mode FROM orgcrypt.cache_stats;
-- search_path tricks do not reach the owner's key-table reads: an "="
-- operator that matches everything, found first on the search_path
RESET ROLE;
CREATE FUNCTION public.orgcrypt_regress_eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.orgcrypt_regress_eq);
SELECT orgcrypt.cache_flush();  -- so that the next calls read the key table
SET ROLE orgcrypt_regress_app;
SET search_path = public, pg_catalog;
SELECT 'a' = 'b' AS trap_operator_active;
SELECT orgcrypt.decrypt_for_org('priv-org', orgcrypt.encrypt_for_org('priv-org', 'still fine'));
SELECT orgcrypt.decrypt_for_org('priv-new', orgcrypt.encrypt_for_org('priv-new', 'new org, still fine'));
RESET search_path;
RESET ROLE;

SELECT org, version, state FROM orgcrypt.org_keys WHERE org = 'priv-org';
SELECT r.rolname AS key_table_owner_is_superuser FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE c.oid = 'orgcrypt.org_dek'::regclass AND r.rolsuper;
SELECT has_table_privilege('orgcrypt_regress_app', 'orgcrypt.org_dek', 'SELECT') AS can_select_keys,
       has_function_privilege('orgcrypt_regress_app', 'orgcrypt.encrypt_for_org(text, text)', 'EXECUTE') AS can_encrypt,
       has_function_privilege('orgcrypt_regress_app', 'orgcrypt.rotate_org_dek(text)', 'EXECUTE') AS can_rotate;

DROP OPERATOR IF EXISTS public.= (text, text);
DROP FUNCTION public.orgcrypt_regress_eq(text, text);
DROP TABLE app_data;
DROP OWNED BY orgcrypt_regress_app;
DROP ROLE orgcrypt_regress_app;
