-- Per-org grants (1.3), the role cases grants.sql leaves out: NOINHERIT,
-- memberships two levels deep, SECURITY DEFINER functions made by ordinary
-- roles, a dropped grantee, and a hostile search_path on a cold cache (the
-- key table and the grants read, grant_org/revoke_org called). The denial
-- being the same for an existing, a destroyed and a never-created org is in
-- grants.sql.
\i regress/sql/err_helper.psql
SELECT orgcrypt.create_org_key('gr-a');
SELECT orgcrypt.create_org_key('gr-b');
CREATE TABLE gr_vals (org text, v orgcrypt.ciphertext);
INSERT INTO gr_vals VALUES ('gr-a', orgcrypt.encrypt_for_org('gr-a', 'secret a')),
                           ('gr-b', orgcrypt.encrypt_for_org('gr-b', 'secret b'));
GRANT SELECT ON gr_vals TO PUBLIC;
CREATE ROLE orgcrypt_regress_r_app;
SELECT orgcrypt.grant_org('orgcrypt_regress_r_app', 'gr-a');

-- ---- NOINHERIT: a member that does not inherit uses neither its granted
-- role's org nor orgcrypt_all_orgs until it SET ROLEs to them
CREATE ROLE orgcrypt_regress_r_noinh NOINHERIT LOGIN IN ROLE orgcrypt_regress_r_app, orgcrypt_all_orgs;
SET SESSION AUTHORIZATION orgcrypt_regress_r_noinh;
SELECT current_user, session_user;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-a'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-b'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-a', 'x')$q$);
SET ROLE orgcrypt_regress_r_app;
SELECT current_user, orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-a';
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-b'$q$);
SET ROLE orgcrypt_all_orgs;
SELECT current_user, org, orgcrypt.decrypt_for_org(org, v) FROM gr_vals ORDER BY org;
RESET ROLE;
-- back to itself: refused again
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-a'$q$);
RESET SESSION AUTHORIZATION;

-- ---- two levels of membership: inherited through both levels ...
CREATE ROLE orgcrypt_regress_r_lvl1 IN ROLE orgcrypt_regress_r_app;
CREATE ROLE orgcrypt_regress_r_lvl2 IN ROLE orgcrypt_regress_r_lvl1;
CREATE ROLE orgcrypt_regress_r_all1 IN ROLE orgcrypt_all_orgs;
CREATE ROLE orgcrypt_regress_r_all2 IN ROLE orgcrypt_regress_r_all1;
SET ROLE orgcrypt_regress_r_lvl2;
SELECT orgcrypt.decrypt_for_org(org, v) AS lvl2_decrypts FROM gr_vals WHERE org = 'gr-a';
SELECT orgcrypt.decrypt_for_org('gr-a', orgcrypt.encrypt_for_org('gr-a', 'lvl2 writes')) AS lvl2_encrypts;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-b'$q$);
RESET ROLE;
SET ROLE orgcrypt_regress_r_all2;
SELECT org, orgcrypt.decrypt_for_org(org, v) AS all2_decrypts FROM gr_vals ORDER BY org;
RESET ROLE;
-- ... but not through a NOINHERIT role in the middle
CREATE ROLE orgcrypt_regress_r_mid NOINHERIT IN ROLE orgcrypt_regress_r_app;
CREATE ROLE orgcrypt_regress_r_below IN ROLE orgcrypt_regress_r_mid;
SET ROLE orgcrypt_regress_r_below;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-a'$q$);
RESET ROLE;

-- ---- SECURITY DEFINER functions made by ordinary roles. The role checked is
-- current_user (as the issue says), and inside a SECURITY DEFINER function
-- current_user is the function's owner: a function owned by a granted role
-- lends that role's orgs to whoever may EXECUTE it (EXECUTE is granted to
-- PUBLIC by default, so a granted role that makes one should revoke it); one
-- owned by an ungranted role refuses even a granted caller. A SECURITY
-- INVOKER function checks its caller.
CREATE ROLE orgcrypt_regress_r_none;
CREATE SCHEMA gr_fns;
GRANT USAGE, CREATE ON SCHEMA gr_fns TO orgcrypt_regress_r_app, orgcrypt_regress_r_none;
SET ROLE orgcrypt_regress_r_app;
CREATE FUNCTION gr_fns.app_definer(o text, v orgcrypt.ciphertext) RETURNS text
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT current_user || ': ' || orgcrypt.decrypt_for_org(o, v) $$;
RESET ROLE;
SET ROLE orgcrypt_regress_r_none;
CREATE FUNCTION gr_fns.none_definer(o text, v orgcrypt.ciphertext) RETURNS text
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT current_user || ': ' || orgcrypt.decrypt_for_org(o, v) $$;
CREATE FUNCTION gr_fns.none_invoker(o text, v orgcrypt.ciphertext) RETURNS text
    LANGUAGE sql SECURITY INVOKER
    AS $$ SELECT current_user || ': ' || orgcrypt.decrypt_for_org(o, v) $$;
-- the ungranted role, directly: refused; through the granted role's
-- SECURITY DEFINER function: allowed, as the owner
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-a'$q$);
SELECT current_user AS caller, gr_fns.app_definer(org, v) FROM gr_vals WHERE org = 'gr-a';
-- only for the owner's orgs
SELECT pg_temp.err($q$SELECT gr_fns.app_definer(org, v) FROM gr_vals WHERE org = 'gr-b'$q$);
RESET ROLE;
-- the reverse: the granted role through the ungranted role's SECURITY
-- DEFINER function is refused (the message names the owner) ...
SET ROLE orgcrypt_regress_r_app;
SELECT pg_temp.err($q$SELECT gr_fns.none_definer(org, v) FROM gr_vals WHERE org = 'gr-a'$q$);
-- ... and allowed through its SECURITY INVOKER function
SELECT gr_fns.none_invoker(org, v) FROM gr_vals WHERE org = 'gr-a';
-- and in one statement, the fast path of the last decision does not leak
-- from the caller to the owner or back
SELECT gr_fns.none_invoker(org, v) AS invoker,
       pg_temp.err(format('SELECT gr_fns.none_definer(%L, %L::orgcrypt.ciphertext)', org, v)) AS definer,
       orgcrypt.decrypt_for_org(org, v) AS direct
  FROM gr_vals WHERE org = 'gr-a';
RESET ROLE;
DROP SCHEMA gr_fns CASCADE;

-- ---- a dropped grantee. Grant rows name the role by OID (regrole): DROP
-- ROLE is not stopped by them (regrole records no dependency) and leaves the
-- row, which the grants view then shows as the bare OID. The row matches no
-- role: a new role of the same name has a new OID and inherits nothing.
-- revoke_org cannot name the dropped role (its name no longer resolves, and
-- its OID is refused as no role): a superuser deletes such rows from
-- orgcrypt.org_grants. (Only an OID reused after the OID counter wraps
-- around could match the row again.)
CREATE ROLE orgcrypt_regress_r_gone;
SELECT orgcrypt.grant_org('orgcrypt_regress_r_gone', 'gr-b');
CREATE TEMP TABLE gr_gone AS SELECT 'orgcrypt_regress_r_gone'::regrole::oid AS old_oid;
SET ROLE orgcrypt_regress_r_gone;
SELECT orgcrypt.decrypt_for_org(org, v) AS before_drop FROM gr_vals WHERE org = 'gr-b';
RESET ROLE;
DROP ROLE orgcrypt_regress_r_gone;
SELECT g.role = gone.old_oid::text AS shown_as_old_oid, g.org, g.granted_by
  FROM orgcrypt.grants g, gr_gone gone WHERE g.org = 'gr-b';
CREATE ROLE orgcrypt_regress_r_gone;
SELECT 'orgcrypt_regress_r_gone'::regrole::oid <> old_oid AS new_oid FROM gr_gone;
SET ROLE orgcrypt_regress_r_gone;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM gr_vals WHERE org = 'gr-b'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-b', 'x')$q$);
RESET ROLE;
SELECT pg_temp.err($q$SELECT orgcrypt.revoke_org('orgcrypt_regress_r_never_was', 'gr-b')$q$);
SELECT regexp_replace(pg_temp.err(format('SELECT orgcrypt.revoke_org(%s::oid::regrole, %L)', old_oid, 'gr-b')),
                      'OID [0-9]+', 'OID N') AS revoke_dropped
  FROM gr_gone;
SELECT pg_temp.err($q$SELECT orgcrypt.revoke_org(0::regrole, 'gr-b')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.grant_org(0::regrole, 'gr-b')$q$);
SELECT orgcrypt.revoke_org('orgcrypt_regress_r_gone', 'gr-b');  -- the new role had none: nothing to do
SELECT count(*) AS stale_rows FROM orgcrypt.grants g, gr_gone gone WHERE g.role = gone.old_oid::text;
DELETE FROM orgcrypt.org_grants USING gr_gone WHERE grantee::oid = old_oid;
SELECT count(*) AS stale_rows FROM orgcrypt.grants g, gr_gone gone WHERE g.role = gone.old_oid::text;
DROP ROLE orgcrypt_regress_r_gone;

-- ---- a hostile search_path. An ordinary role with CREATE on a schema puts
-- operators and functions that RAISE first on the search_path (a call
-- would show as an error), then uses orgcrypt on cold caches (a new backend:
-- no decision cached, no statement prepared; the shared DEK cache flushed, so
-- the key table and the grants are read), and an admin grants and revokes
-- with the same search_path. Nothing of evil's is called, and the results
-- are right.
CREATE ROLE orgcrypt_regress_r_evil;
CREATE ROLE orgcrypt_regress_r_admin IN ROLE orgcrypt_admin;
CREATE SCHEMA gr_evil AUTHORIZATION orgcrypt_regress_r_evil;
SELECT orgcrypt.grant_org('orgcrypt_regress_r_evil', 'gr-a');
SELECT orgcrypt.grant_org('orgcrypt_regress_r_evil', 'gr-evil-new');
SET ROLE orgcrypt_regress_r_evil;
GRANT USAGE ON SCHEMA gr_evil TO PUBLIC;
CREATE FUNCTION gr_evil.trap(what text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'evil % called', what; END $$;
CREATE FUNCTION gr_evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('text = text'); END $$;
CREATE FUNCTION gr_evil.ne(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('text <> text'); END $$;
CREATE FUNCTION gr_evil.eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('oid = oid'); END $$;
CREATE FUNCTION gr_evil.eq(regrole, regrole) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('regrole = regrole'); END $$;
CREATE FUNCTION gr_evil.eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('int = int'); END $$;
CREATE OPERATOR gr_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = gr_evil.eq);
CREATE OPERATOR gr_evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = gr_evil.ne);
CREATE OPERATOR gr_evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = gr_evil.eq);
CREATE OPERATOR gr_evil.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = gr_evil.eq);
CREATE OPERATOR gr_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = gr_evil.eq);
CREATE FUNCTION gr_evil.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('pg_has_role(oid, oid, text)'); END $$;
CREATE FUNCTION gr_evil.pg_has_role(name, name, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('pg_has_role(name, name, text)'); END $$;
CREATE FUNCTION gr_evil.pg_has_role(oid, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN gr_evil.trap('pg_has_role(oid, text)'); END $$;
CREATE FUNCTION gr_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('now()'); RETURN NULL; END $$;
CREATE FUNCTION gr_evil.octet_length(text) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('octet_length'); RETURN 1; END $$;
CREATE FUNCTION gr_evil.convert_to(text, name) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('convert_to'); RETURN NULL; END $$;
CREATE FUNCTION gr_evil.regrole(text) RETURNS regrole LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('regrole(text)'); RETURN NULL; END $$;
CREATE FUNCTION gr_evil.regrole(oid) RETURNS regrole LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('regrole(oid)'); RETURN NULL; END $$;
CREATE FUNCTION gr_evil.oid(regrole) RETURNS oid LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('oid(regrole)'); RETURN NULL; END $$;
CREATE FUNCTION gr_evil.text(regrole) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM gr_evil.trap('text(regrole)'); RETURN NULL; END $$;
-- a cast of its own is out of reach (it must own text or regrole)
SELECT pg_temp.err($q$CREATE CAST (text AS regrole) WITH FUNCTION gr_evil.regrole(text)$q$);
SELECT pg_temp.err($q$CREATE CAST (regrole AS oid) WITH FUNCTION gr_evil.oid(regrole)$q$);
RESET ROLE;
SELECT misses AS misses_before FROM orgcrypt.cache_stats \gset

-- a new backend: nothing cached, nothing prepared
\c regression
\i regress/sql/err_helper.psql
SELECT orgcrypt.cache_flush();
SET ROLE orgcrypt_regress_r_evil;
SET search_path = gr_evil, pg_catalog;
-- the traps are live
SELECT pg_temp.err($q$SELECT 'a'::text = 'b'::text$q$);
SELECT pg_temp.err($q$SELECT 1 = 1$q$);
SELECT pg_temp.err($q$SELECT pg_has_role(10::oid, 10::oid, 'USAGE')$q$);
SELECT pg_temp.err($q$SELECT now()$q$);
SELECT pg_temp.err($q$SELECT regrole('x'::text)$q$);
-- encrypt and decrypt read the grants and the key table, as the extension
-- owner, with this search_path
SELECT orgcrypt.decrypt_for_org(org, v) AS evil_decrypts_granted FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-a';
SELECT orgcrypt.decrypt_for_org('gr-a', orgcrypt.encrypt_for_org('gr-a', 'evil writes')) AS evil_encrypts_granted;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-b'$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-b', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-evil-other', 'x')$q$);
-- the first key of a granted org is created (key table locked and written)
SELECT orgcrypt.decrypt_for_org('gr-evil-new', orgcrypt.encrypt_for_org('gr-evil-new', 'auto-created')) AS evil_auto_creates;
RESET ROLE;
-- an admin grants and revokes with the same search_path
SET ROLE orgcrypt_regress_r_admin;
SELECT orgcrypt.grant_org('orgcrypt_regress_r_evil', 'gr-b');
SELECT orgcrypt.revoke_org('orgcrypt_regress_r_evil', 'gr-a');
SELECT orgcrypt.grant_org('orgcrypt_regress_r_evil', 'gr-b');  -- again: no second row
SELECT orgcrypt.revoke_org('orgcrypt_regress_r_evil', 'gr-not-granted');
RESET ROLE;
SET ROLE orgcrypt_regress_r_evil;
SELECT orgcrypt.decrypt_for_org(org, v) AS evil_decrypts_new_grant FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-b';
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-a'$q$);
RESET ROLE;
-- statements prepared under the ordinary search_path are planned again
-- under the hostile one: still nothing of evil's
RESET search_path;
SELECT orgcrypt.cache_flush();
SELECT orgcrypt.grant_org('orgcrypt_regress_r_evil', 'gr-a');
SELECT orgcrypt.decrypt_for_org(org, v) AS superuser_plans FROM gr_vals WHERE org = 'gr-a';
SELECT orgcrypt.cache_flush();
SET search_path = gr_evil, pg_catalog;
SET ROLE orgcrypt_regress_r_evil;
SELECT orgcrypt.decrypt_for_org(org, v) AS replanned_grant FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-a';
RESET ROLE;
SET ROLE orgcrypt_regress_r_admin;
SELECT orgcrypt.revoke_org('orgcrypt_regress_r_evil', 'gr-a');
RESET ROLE;
SET ROLE orgcrypt_regress_r_evil;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org(org, v) FROM public.gr_vals WHERE org OPERATOR(pg_catalog.=) 'gr-a'$q$);
RESET ROLE;
RESET search_path;
-- the key table was read (misses grew), and the grants are as the admin left them
SELECT misses > :misses_before AS key_table_read FROM orgcrypt.cache_stats;
SELECT role, org, granted_by FROM orgcrypt.grants WHERE role LIKE 'orgcrypt_regress_r_%' ORDER BY 1, 2;
SELECT org, version, state FROM orgcrypt.org_keys WHERE org LIKE 'gr-evil%' ORDER BY 1, 2;
DROP SCHEMA gr_evil CASCADE;

-- a statement that alternates between orgs (the per-backend decision slots):
-- two granted orgs interleaved row by row all decrypt; a refused org stays
-- refused when asked again (its decision is remembered, the refusal still
-- counted), and a revoke reaches remembered decisions at the next statement
CREATE ROLE orgcrypt_regress_r_two;
SELECT orgcrypt.grant_org('orgcrypt_regress_r_two', 'gr-a'), orgcrypt.grant_org('orgcrypt_regress_r_two', 'gr-b');
CREATE TABLE gr_alt AS
  SELECT g AS id, CASE WHEN g % 2 = 0 THEN 'gr-a' ELSE 'gr-b' END AS org,
         orgcrypt.encrypt_for_org(CASE WHEN g % 2 = 0 THEN 'gr-a' ELSE 'gr-b' END, 'row ' || g) AS v
    FROM generate_series(1, 200) g;
GRANT SELECT ON gr_alt TO orgcrypt_regress_r_two;
SELECT denials AS denials_before FROM orgcrypt.cache_stats \gset
SET ROLE orgcrypt_regress_r_two;
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'row ' || id) AS alternating_decrypted FROM gr_alt;
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-evil-x', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('gr-evil-x', 'x')$q$);
SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'row ' || id) AS alternating_again FROM gr_alt;
RESET ROLE;
SELECT denials - :denials_before AS refusals_counted FROM orgcrypt.cache_stats;
SELECT orgcrypt.revoke_org('orgcrypt_regress_r_two', 'gr-b');
SET ROLE orgcrypt_regress_r_two;
SELECT pg_temp.err($q$SELECT count(orgcrypt.decrypt_for_org(org, v)) FROM gr_alt$q$);
SELECT count(orgcrypt.decrypt_for_org(org, v)) AS still_granted FROM gr_alt WHERE org = 'gr-a';
RESET ROLE;
DROP TABLE gr_alt;

DELETE FROM orgcrypt.org_grants WHERE grantee::text LIKE 'orgcrypt_regress_r%';
DELETE FROM orgcrypt.org_dek WHERE org LIKE 'gr-%';
DROP TABLE gr_vals;
DROP ROLE orgcrypt_regress_r_noinh, orgcrypt_regress_r_lvl2, orgcrypt_regress_r_lvl1, orgcrypt_regress_r_all2,
          orgcrypt_regress_r_all1, orgcrypt_regress_r_below, orgcrypt_regress_r_mid, orgcrypt_regress_r_none,
          orgcrypt_regress_r_evil, orgcrypt_regress_r_admin, orgcrypt_regress_r_app, orgcrypt_regress_r_two;
