-- orgcrypt 1.0: per-organization envelope encryption
\echo Use "CREATE EXTENSION orgcrypt" to load this file. \quit

-- ---------------------------------------------------------------- key table
-- One row per (org, DEK version). The DEK is stored only wrapped by the KEK
-- named in kek_uri; kek_fingerprint identifies that KEK (a truncated HMAC,
-- not key material). A destroyed version keeps its row as a tombstone with
-- wrapped = NULL, so a version number is never reused.
CREATE TABLE @extschema@.org_dek (
    org             text COLLATE "C" NOT NULL
                    CHECK (pg_catalog.octet_length(org) BETWEEN 1 AND 255),
    version         integer NOT NULL CHECK (version >= 1),
    state           text NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
    wrapped         bytea,
    kek_uri         text NOT NULL,
    kek_fingerprint bytea,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    destroyed_at    timestamptz,
    PRIMARY KEY (org, version),
    CHECK ((state = 'destroyed') = (wrapped IS NULL))
);
CREATE UNIQUE INDEX org_dek_one_active ON @extschema@.org_dek (org) WHERE state = 'active';
REVOKE ALL ON TABLE @extschema@.org_dek FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.org_dek', '');

-- Any change to the key table (our functions, a manual UPDATE, a restore's
-- COPY) queues a relcache invalidation, sent at commit: every backend then
-- revalidates its cached key state at its next statement.
CREATE FUNCTION @extschema@.key_table_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'orgcrypt_key_table_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.key_table_changed() FROM PUBLIC;
CREATE TRIGGER org_dek_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.org_dek
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.key_table_changed();

-- ---------------------------------------------------------------- the type
CREATE TYPE @extschema@.ciphertext;
CREATE FUNCTION @extschema@.ciphertext_in(cstring) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_ciphertext_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.ciphertext_out(@extschema@.ciphertext) RETURNS cstring
    AS 'MODULE_PATHNAME', 'orgcrypt_ciphertext_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.ciphertext_recv(internal) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_ciphertext_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.ciphertext_send(@extschema@.ciphertext) RETURNS bytea
    AS 'MODULE_PATHNAME', 'orgcrypt_ciphertext_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- Ciphertext does not compress: store it out of line without compression.
CREATE TYPE @extschema@.ciphertext (
    INPUT = @extschema@.ciphertext_in,
    OUTPUT = @extschema@.ciphertext_out,
    RECEIVE = @extschema@.ciphertext_recv,
    SEND = @extschema@.ciphertext_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = external
);

CREATE FUNCTION @extschema@.ciphertext(bytea) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_ciphertext_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (bytea AS @extschema@.ciphertext) WITH FUNCTION @extschema@.ciphertext(bytea);
CREATE CAST (@extschema@.ciphertext AS bytea) WITHOUT FUNCTION;

CREATE FUNCTION @extschema@.dek_version(value @extschema@.ciphertext) RETURNS integer
    AS 'MODULE_PATHNAME', 'orgcrypt_dek_version' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ---------------------------------------------------------------- encrypt / decrypt
-- Two-argument forms are STRICT; the forms with a context are not, so that a
-- NULL context means "no context" (the same as leaving it out).
CREATE FUNCTION @extschema@.encrypt_for_org(org text, plaintext text) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_encrypt_text' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.encrypt_for_org(org text, plaintext text, context text) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_encrypt_text' LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.encrypt_for_org(org text, plaintext bytea) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_encrypt_bytea' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.encrypt_for_org(org text, plaintext bytea, context text) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_encrypt_bytea' LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.decrypt_for_org(org text, value @extschema@.ciphertext) RETURNS text
    AS 'MODULE_PATHNAME', 'orgcrypt_decrypt_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.decrypt_for_org(org text, value @extschema@.ciphertext, context text) RETURNS text
    AS 'MODULE_PATHNAME', 'orgcrypt_decrypt_text' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.decrypt_for_org_bytea(org text, value @extschema@.ciphertext) RETURNS bytea
    AS 'MODULE_PATHNAME', 'orgcrypt_decrypt_bytea' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.decrypt_for_org_bytea(org text, value @extschema@.ciphertext, context text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'orgcrypt_decrypt_bytea' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION @extschema@.reencrypt_for_org(org text, value @extschema@.ciphertext) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_reencrypt' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.reencrypt_for_org(org text, value @extschema@.ciphertext, context text) RETURNS @extschema@.ciphertext
    AS 'MODULE_PATHNAME', 'orgcrypt_reencrypt' LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

-- ---------------------------------------------------------------- key management
CREATE FUNCTION @extschema@.create_org_key(org text) RETURNS integer
    AS 'MODULE_PATHNAME', 'orgcrypt_create_org_key' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.rotate_org_dek(org text) RETURNS integer
    AS 'MODULE_PATHNAME', 'orgcrypt_rotate_org_dek' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION @extschema@.destroy_org_keys(org text) RETURNS integer
    AS 'MODULE_PATHNAME', 'orgcrypt_destroy_org_keys' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.cache_flush() RETURNS void
    AS 'MODULE_PATHNAME', 'orgcrypt_cache_flush' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- Counters: hits = lookups served by any cache level; misses = lookups that
-- read the key table; provider_calls = wrap + unwrap calls; locked_memory =
-- bytes of the shared key region locked in RAM (0: mlock not permitted).
CREATE FUNCTION @extschema@.cache_stats_fn(
    OUT mode text, OUT capacity bigint, OUT entries bigint, OUT hits bigint,
    OUT misses bigint, OUT provider_calls bigint, OUT single_flight_waits bigint,
    OUT evictions bigint, OUT expirations bigint, OUT locked_memory bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'orgcrypt_cache_stats' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- ---------------------------------------------------------------- views
CREATE VIEW @extschema@.org_keys AS
    SELECT org, version, state, kek_uri AS provider, created_at
    FROM @extschema@.org_dek;
CREATE VIEW @extschema@.cache_stats AS
    SELECT * FROM @extschema@.cache_stats_fn();

-- ---------------------------------------------------------------- privileges (1.0)
REVOKE ALL ON FUNCTION @extschema@.create_org_key(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rotate_org_dek(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.destroy_org_keys(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cache_flush() FROM PUBLIC;
-- org_keys lists every tenant's name: administrators only.
REVOKE ALL ON @extschema@.org_keys FROM PUBLIC;
GRANT SELECT ON @extschema@.cache_stats TO PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
