-- orgcrypt 1.1 -> 1.2: master keys outside the database, part 1 (rewrap_org_keys,
-- health(), provider_stats)
\echo Use "ALTER EXTENSION orgcrypt UPDATE TO '1.2'" to load this file. \quit

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

-- ---------------------------------------------------------------- master keys (issue: providers, part 1)
-- Master-key rotation: rewrap_batch rewraps up to batch_size live DEKs whose
-- KEK (URI and fingerprint) is not the configured orgcrypt.master_key, each
-- verified by unwrapping it again before its row is updated. The DEKs do not
-- change, so no value is re-encrypted.
CREATE FUNCTION @extschema@.rewrap_batch(batch_size integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'orgcrypt_rewrap_batch' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
-- Commits after every batch: resumable after a cancel or a crash, and
-- idempotent (rows already under the configured KEK are skipped). Call it
-- outside a transaction block (CALL orgcrypt.rewrap_org_keys();).
CREATE PROCEDURE @extschema@.rewrap_org_keys(batch_size integer DEFAULT 1000, INOUT rewrapped bigint DEFAULT NULL)
    LANGUAGE plpgsql AS $rewrap$
DECLARE
    n integer;
BEGIN
    rewrapped := 0;
    LOOP
        n := @extschema@.rewrap_batch(batch_size);
        rewrapped := rewrapped OPERATOR(pg_catalog.+) n;
        COMMIT;
        EXIT WHEN n OPERATOR(pg_catalog.<) batch_size;
    END LOOP;
END
$rewrap$;

-- One row per KEK: the configured master key and every KEK that wraps live
-- DEKs. A random test key is wrapped and unwrapped (a KMS may charge for it).
CREATE FUNCTION @extschema@.health(
    OUT uri text, OUT provider text, OUT reachable boolean, OUT can_wrap boolean, OUT can_unwrap boolean,
    OUT latency_ms double precision, OUT production_ready boolean, OUT detail text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'orgcrypt_health' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Provider calls per KEK URI since the server started: calls, errors and
-- latency quantiles (upper bounds of power-of-two microsecond buckets).
CREATE FUNCTION @extschema@.provider_stats_fn(
    OUT provider text, OUT uri text, OUT calls bigint, OUT errors bigint,
    OUT p50_ms double precision, OUT p99_ms double precision)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'orgcrypt_provider_stats' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE VIEW @extschema@.provider_stats AS SELECT * FROM @extschema@.provider_stats_fn();

-- health() may cost paid KMS calls; provider_stats names URIs; rewrapping is
-- key management.
REVOKE ALL ON FUNCTION @extschema@.rewrap_batch(integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.rewrap_org_keys(integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.health() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.provider_stats_fn() FROM PUBLIC;
REVOKE ALL ON @extschema@.provider_stats FROM PUBLIC;
