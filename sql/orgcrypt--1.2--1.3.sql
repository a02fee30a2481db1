-- orgcrypt 1.2 -> 1.3: access control (grants per org, denial first, admin
-- checks in C, the roles orgcrypt_admin, orgcrypt_auditor, orgcrypt_all_orgs)
\echo Use "ALTER EXTENSION orgcrypt UPDATE TO '1.3'" to load this file. \quit

-- The schema orgcrypt must be the installing role's own: whoever owns it, or
-- may create objects in it, owns every function a caller reaches through it
-- (a role with CREATE on the database could create it first and add an
-- overload that logs plaintexts). Checked by CREATE EXTENSION and by every
-- ALTER EXTENSION ... UPDATE.
DO $orgcrypt_schema_guard$
DECLARE
    nsp pg_catalog.oid;
    nsp_owner pg_catalog.oid;
    me pg_catalog.oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user);
    who text;
BEGIN
    SELECT n.oid, n.nspowner INTO nsp, nsp_owner
      FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'orgcrypt';
    IF nsp IS NULL THEN
        RETURN;
    END IF;
    IF nsp_owner OPERATOR(pg_catalog.<>) me THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format('schema "orgcrypt" is owned by role %I, not by %I who is installing orgcrypt',
                                        pg_catalog.pg_get_userbyid(nsp_owner), current_user),
            DETAIL = 'The owner of the schema controls every function reached through it.',
            HINT = 'Drop the schema or check its contents and run ALTER SCHEMA orgcrypt OWNER TO '
                   || pg_catalog.quote_ident(current_user) || ', then try again.';
    END IF;
    SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                      ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
      INTO who
      FROM pg_catalog.pg_namespace n, LATERAL pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) nsp AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) nsp_owner;
    IF who IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format('other roles may create objects in schema "orgcrypt": %s', who),
            HINT = 'REVOKE CREATE ON SCHEMA orgcrypt FROM ' || who || ', then try again.';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('%s owned by %I', o.what, pg_catalog.pg_get_userbyid(o.owner)), ', ')
      INTO who
      FROM (SELECT pg_catalog.format('relation %I', c.relname) AS what, c.relowner AS owner
              FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure), p.proowner
              FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT pg_catalog.format('type %I', t.typname), t.typowner
              FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT pg_catalog.format('operator %s', o.oid::pg_catalog.regoperator), o.oprowner
              FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp) o
     WHERE o.owner OPERATOR(pg_catalog.<>) nsp_owner;
    IF who IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'schema "orgcrypt" holds objects of other roles',
            DETAIL = who,
            HINT = 'Drop them, then try again.';
    END IF;
END
$orgcrypt_schema_guard$;

-- ---------------------------------------------------------------- cache_stats: denials (1.3)
-- The view is rebuilt with its new column (a view of yours that selects from
-- orgcrypt.cache_stats must be dropped before the update and created again).
DROP VIEW @extschema@.cache_stats;
DROP FUNCTION @extschema@.cache_stats_fn();
-- Counters: hits = lookups served by any cache level; misses = lookups that
-- read the key table; provider_calls = wrap + unwrap calls; locked_memory =
-- bytes of the shared key region locked in RAM (0: mlock not permitted);
-- denials = calls refused by the permission checks (an organization the role
-- may not use, an admin function it may not call).
CREATE FUNCTION @extschema@.cache_stats_fn(
    OUT mode text, OUT capacity bigint, OUT entries bigint, OUT hits bigint,
    OUT misses bigint, OUT provider_calls bigint, OUT single_flight_waits bigint,
    OUT evictions bigint, OUT expirations bigint, OUT locked_memory bigint, OUT denials bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'orgcrypt_cache_stats' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE VIEW @extschema@.cache_stats AS
    SELECT * FROM @extschema@.cache_stats_fn();
GRANT SELECT ON @extschema@.cache_stats TO PUBLIC;

-- ---------------------------------------------------------------- access control (1.3)
-- Three cluster-wide roles, shared by every database: created here if
-- missing, never dropped by the extension (DROP EXTENSION leaves them).
--   orgcrypt_admin     key management (create, rotate, destroy, rewrap, grants,
--                      set_org_master_key, health, cache_flush, provider_stats,
--                      audit_log); does not thereby encrypt or decrypt.
--   orgcrypt_auditor   read-only oversight: org_keys, grants, org_master_keys,
--                      audit_log, provider_stats, health().
--   orgcrypt_all_orgs  may use every organization (GRANT orgcrypt_all_orgs TO
--                      the application role).
DO $orgcrypt_roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['orgcrypt_admin', 'orgcrypt_auditor', 'orgcrypt_all_orgs'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r AND (rolcanlogin OR rolsuper)) THEN
            -- Made by someone else before orgcrypt: its members get its rights.
            RAISE WARNING USING
                MESSAGE = pg_catalog.format('role %I already exists and can log in or is a superuser', r),
                HINT = pg_catalog.format('orgcrypt uses %I as a NOLOGIN group role: ALTER ROLE %I NOLOGIN NOSUPERUSER, and check its members.', r, r);
        END IF;
    END LOOP;
END
$orgcrypt_roles$;

-- Which role may use which organization. Every encrypt, decrypt and
-- reencrypt checks current_user (with role membership honoured) before
-- anything about the org is looked up. The row (NULL, NULL) is the rule
-- "PUBLIC may use every org" that an update from an older version adds; a
-- fresh install has none (orgcrypt.revoke_public_access() removes it).
CREATE TABLE @extschema@.org_grants (
    grantee    pg_catalog.regrole,
    org        text COLLATE "C"
               CONSTRAINT org_grants_org_utf8_length
               CHECK (pg_catalog.octet_length(pg_catalog.convert_to(org, 'UTF8')) BETWEEN 1 AND 255),
    granted_by pg_catalog.regrole NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT org_grants_public_rule CHECK ((grantee IS NULL) = (org IS NULL))
);
CREATE UNIQUE INDEX org_grants_org_grantee ON @extschema@.org_grants (org, grantee);
CREATE UNIQUE INDEX org_grants_one_public_rule ON @extschema@.org_grants ((grantee IS NULL)) WHERE grantee IS NULL;
REVOKE ALL ON TABLE @extschema@.org_grants FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.org_grants', '');
-- No column is NOT NULL (the PUBLIC rule is NULL, NULL), so no index can be
-- the replica identity: with org_grants in a publication, a DELETE (revoke_org,
-- revoke_public_access) is refused without one, and a subscriber finds the
-- row to delete by every column.
ALTER TABLE @extschema@.org_grants REPLICA IDENTITY FULL;

-- Any change to the grants (grant_org, revoke_org, a manual change, a
-- restore, logical replication) queues a relcache invalidation, sent at
-- commit: every backend drops its cached decisions before its next statement.
CREATE FUNCTION @extschema@.grants_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'orgcrypt_grants_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.grants_changed() FROM PUBLIC;
CREATE TRIGGER org_grants_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.org_grants
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.grants_changed();
CREATE TRIGGER org_grants_row_changed
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.org_grants
    FOR EACH ROW EXECUTE FUNCTION @extschema@.grants_changed();
ALTER TABLE @extschema@.org_grants ENABLE ALWAYS TRIGGER org_grants_changed;
ALTER TABLE @extschema@.org_grants ENABLE ALWAYS TRIGGER org_grants_row_changed;

-- role 'PUBLIC' and org NULL (every org): the rule an update adds.
CREATE VIEW @extschema@.grants AS
    SELECT CASE WHEN g.grantee IS NULL THEN 'PUBLIC' ELSE g.grantee::pg_catalog.text END AS role,
           g.org, g.granted_by, g.granted_at
      FROM @extschema@.org_grants g;

-- Admin only (checked in C too): superuser, the extension owner or a member
-- of orgcrypt_admin.
CREATE FUNCTION @extschema@.grant_org(role pg_catalog.regrole, org text) RETURNS void
    AS 'MODULE_PATHNAME', 'orgcrypt_grant_org' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.revoke_org(role pg_catalog.regrole, org text) RETURNS void
    AS 'MODULE_PATHNAME', 'orgcrypt_revoke_org' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.revoke_public_access() RETURNS void
    AS 'MODULE_PATHNAME', 'orgcrypt_revoke_public_access' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

REVOKE ALL ON @extschema@.grants FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.grant_org(pg_catalog.regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.revoke_org(pg_catalog.regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.revoke_public_access() FROM PUBLIC;

-- Separation of duties: orgcrypt_admin manages keys and grants (and needs a
-- grant, like any role, to encrypt or decrypt); orgcrypt_auditor reads.
GRANT EXECUTE ON FUNCTION @extschema@.create_org_key(text), @extschema@.rotate_org_dek(text),
    @extschema@.destroy_org_keys(text), @extschema@.cache_flush(), @extschema@.rewrap_batch(integer),
    @extschema@.health(), @extschema@.provider_stats_fn(),
    @extschema@.grant_org(pg_catalog.regrole, text), @extschema@.revoke_org(pg_catalog.regrole, text),
    @extschema@.revoke_public_access()
    TO orgcrypt_admin;
GRANT EXECUTE ON PROCEDURE @extschema@.rewrap_org_keys(integer, bigint) TO orgcrypt_admin;
GRANT SELECT ON @extschema@.org_keys, @extschema@.grants, @extschema@.provider_stats TO orgcrypt_admin;
GRANT EXECUTE ON FUNCTION @extschema@.health(), @extschema@.provider_stats_fn() TO orgcrypt_auditor;
GRANT SELECT ON @extschema@.org_keys, @extschema@.grants, @extschema@.provider_stats TO orgcrypt_auditor;

-- ---------------------------------------------------------------- per-org master keys (1.3)
-- An organization's own KEK: its new DEKs (create, first encryption, rotate)
-- are wrapped by the KEK named here instead of orgcrypt.master_key, and
-- rewrap_org_keys() moves its existing DEKs under it. kek_uri is the URI the
-- provider resolved (KeyProvider::key_uri); kek_fp its fingerprint when it
-- was set (a truncated HMAC, not key material): a key replaced at that URI
-- is refused instead of silently wrapping new DEKs. No row: the master key.
CREATE TABLE @extschema@.org_master_keys (
    org     text COLLATE "C" PRIMARY KEY
            CONSTRAINT org_master_keys_org_utf8_length
            CHECK (pg_catalog.octet_length(pg_catalog.convert_to(org, 'UTF8')) BETWEEN 1 AND 255),
    kek_uri text NOT NULL,
    kek_fp  bytea NOT NULL,
    set_by  pg_catalog.regrole NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON TABLE @extschema@.org_master_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.org_master_keys', '');

-- Admin only (checked in C too). uri NULL removes the org's own KEK (its new
-- DEKs go back to orgcrypt.master_key); org NULL is an error (22023). The URI
-- must equal orgcrypt.master_key or match orgcrypt.allowed_key_uris, and is
-- tried (one wrap and unwrap) before it is stored.
CREATE FUNCTION @extschema@.set_org_master_key(org text, uri text) RETURNS void
    AS 'MODULE_PATHNAME', 'orgcrypt_set_org_master_key' LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@.set_org_master_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.set_org_master_key(text, text) TO orgcrypt_admin;
GRANT SELECT ON @extschema@.org_master_keys TO orgcrypt_admin, orgcrypt_auditor;

-- ---------------------------------------------------------------- audit (1.3)
-- One row per key-management change, written by the C code (as the table's
-- owner) in the transaction of the change: a rolled-back change leaves no
-- row. Events: create (detail 'automatic' for a first encryption's key),
-- rotate (version: the new one), destroy (detail: how many versions),
-- rewrap (one row per DEK: its org and version, detail: from which KEK URI to
-- which), grant and revoke (detail: the grantee), revoke_public_access,
-- set_org_master_key. role is current_user's name at the time (a name
-- survives DROP ROLE); client_addr is NULL for a Unix socket. Never key
-- material. Denials (an org a role may not use, an admin function it may not
-- call) are not rows: their ERROR rolls the transaction back, and a decrypt
-- never writes; they go to the server log as lines starting
-- 'orgcrypt audit: '. orgcrypt_admin and orgcrypt_auditor read it; nobody
-- but the owner (and superusers) may change or delete rows.
CREATE TABLE @extschema@.audit_log (
    at               timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    event            text NOT NULL,
    org              text COLLATE "C",
    version          integer,
    role             text NOT NULL,
    detail           text,
    application_name text,
    client_addr      inet,
    backend_pid      integer NOT NULL
);
CREATE INDEX audit_log_at ON @extschema@.audit_log (at);
REVOKE ALL ON TABLE @extschema@.audit_log FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.audit_log TO orgcrypt_admin, orgcrypt_auditor;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
-- Archiving deletes rows: with no key, a publication FOR ALL TABLES needs
-- the whole row as replica identity (as org_grants).
ALTER TABLE @extschema@.audit_log REPLICA IDENTITY FULL;

-- ---------------------------------------------------------------- keeping today's behaviour (update only)
-- Before 1.3 every role could use every organization. The update keeps that
-- with one explicit rule, visible in orgcrypt.grants as role PUBLIC, org NULL
-- (every org). Grant the application roles their organizations, then remove
-- it with orgcrypt.revoke_public_access(). A fresh 1.3 install has no rule.
INSERT INTO @extschema@.org_grants (grantee, org, granted_by)
    SELECT NULL, NULL, r.oid::pg_catalog.regrole FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
-- A WARNING, not a NOTICE: PostgreSQL runs extension scripts with
-- client_min_messages raised to WARNING, so a NOTICE would never be seen.
DO $orgcrypt_public_rule$
BEGIN
    RAISE WARNING USING
        MESSAGE = 'orgcrypt 1.3: every role may still use every organization (the PUBLIC rule in orgcrypt.grants)',
        HINT = 'Grant the application roles their organizations (orgcrypt.grant_org(role, org), or GRANT orgcrypt_all_orgs TO role), then run SELECT orgcrypt.revoke_public_access().';
END
$orgcrypt_public_rule$;
