-- orgcrypt 1.0 -> 1.1: hardening (schema guard, org-name rule, key-table changes by
-- logical replication, equality and order on the ciphertext type)
\echo Use "ALTER EXTENSION orgcrypt UPDATE TO '1.1'" to load this file. \quit

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

-- ---------------------------------------------------------------- org names: one rule
-- An org is 1 to 255 bytes of UTF-8 in every database encoding (the C code
-- binds it into AADs as UTF-8). 1.0 counted bytes of the database encoding.
DO $orgcrypt_org_rule$
DECLARE
    bad text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('%L (version %s, %s bytes in UTF-8)', d.org, d.version,
                                 pg_catalog.octet_length(pg_catalog.convert_to(d.org, 'UTF8'))), ', ')
      INTO bad
      FROM (SELECT org, version FROM @extschema@.org_dek
             WHERE pg_catalog.octet_length(pg_catalog.convert_to(org, 'UTF8')) NOT BETWEEN 1 AND 255
             ORDER BY org, version LIMIT 50) d;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23514',
            MESSAGE = 'orgcrypt 1.1 requires organization names of 1 to 255 bytes of UTF-8; these key rows break it',
            DETAIL = bad,
            HINT = 'No value can be sealed for these organizations (orgcrypt 1.0 refused to encrypt for them '
                   || 'too, with 22023): delete these rows, then update.';
    END IF;
END
$orgcrypt_org_rule$;
ALTER TABLE @extschema@.org_dek DROP CONSTRAINT org_dek_org_check;
ALTER TABLE @extschema@.org_dek ADD CONSTRAINT org_dek_org_utf8_length
    CHECK (pg_catalog.octet_length(pg_catalog.convert_to(org, 'UTF8')) BETWEEN 1 AND 255);

-- ---------------------------------------------------------------- key-table changes from anywhere
-- Changes applied by logical replication fire only triggers enabled ALWAYS
-- (rows: the row trigger; TRUNCATE and the initial COPY: the statement
-- trigger). Each queues one relcache invalidation per transaction.
CREATE TRIGGER org_dek_row_changed
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.org_dek
    FOR EACH ROW EXECUTE FUNCTION @extschema@.key_table_changed();
ALTER TABLE @extschema@.org_dek ENABLE ALWAYS TRIGGER org_dek_changed;
ALTER TABLE @extschema@.org_dek ENABLE ALWAYS TRIGGER org_dek_row_changed;

-- ---------------------------------------------------------------- equality and order on the type
-- Bytewise, as bytea has (the same internal functions): logical replication
-- with REPLICA IDENTITY FULL, DISTINCT, GROUP BY, UNION and unique indexes
-- work. Two encryptions of the same plaintext are never equal.
CREATE FUNCTION @extschema@.ciphertext_eq(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'byteaeq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_ne(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'byteane' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_lt(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'bytealt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_le(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'byteale' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_gt(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'byteagt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_ge(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS boolean
    AS 'byteage' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_cmp(@extschema@.ciphertext, @extschema@.ciphertext) RETURNS integer
    AS 'byteacmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_hash(@extschema@.ciphertext) RETURNS integer
    AS 'hashvarlena' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.ciphertext_hash_extended(@extschema@.ciphertext, bigint) RETURNS bigint
    AS 'hashvarlenaextended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR @extschema@.= (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_eq,
    COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
    RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES);
CREATE OPERATOR @extschema@.<> (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_ne,
    COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
    RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel);
CREATE OPERATOR @extschema@.< (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_lt,
    COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
    RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel);
CREATE OPERATOR @extschema@.<= (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_le,
    COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
    RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel);
CREATE OPERATOR @extschema@.> (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_gt,
    COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
    RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel);
CREATE OPERATOR @extschema@.>= (
    LEFTARG = @extschema@.ciphertext, RIGHTARG = @extschema@.ciphertext,
    FUNCTION = @extschema@.ciphertext_ge,
    COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
    RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel);

CREATE OPERATOR CLASS @extschema@.ciphertext_ops
    DEFAULT FOR TYPE @extschema@.ciphertext USING btree AS
        OPERATOR 1 @extschema@.<,
        OPERATOR 2 @extschema@.<=,
        OPERATOR 3 @extschema@.=,
        OPERATOR 4 @extschema@.>=,
        OPERATOR 5 @extschema@.>,
        FUNCTION 1 @extschema@.ciphertext_cmp(@extschema@.ciphertext, @extschema@.ciphertext),
        FUNCTION 4 pg_catalog.btequalimage(oid);
CREATE OPERATOR CLASS @extschema@.ciphertext_hash_ops
    DEFAULT FOR TYPE @extschema@.ciphertext USING hash AS
        OPERATOR 1 @extschema@.=,
        FUNCTION 1 @extschema@.ciphertext_hash(@extschema@.ciphertext),
        FUNCTION 2 @extschema@.ciphertext_hash_extended(@extschema@.ciphertext, bigint);
