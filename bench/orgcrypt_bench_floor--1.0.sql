\echo Use "CREATE EXTENSION orgcrypt_bench_floor" to load this file. \quit
CREATE FUNCTION bench_gcm_encrypt(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bench_gcm_encrypt' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION bench_gcm_decrypt(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bench_gcm_decrypt' LANGUAGE C IMMUTABLE STRICT;
