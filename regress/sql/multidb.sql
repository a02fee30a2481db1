-- Two databases with the same org name never share a key; a key table moved
-- to a database of another encoding still decrypts what it can represent.
\i regress/sql/err_helper.psql
SELECT orgcrypt.encrypt_for_org('shared-name', 'from regression db') AS c_main \gset
SELECT orgcrypt.encrypt_for_org('shared-name', 'grüße €') AS c_euro \gset
SELECT orgcrypt.encrypt_for_org('shared-name', 'grüße') AS c_latin \gset
SELECT org, version, wrapped, kek_uri, kek_fingerprint FROM orgcrypt.org_dek WHERE org = 'shared-name' \gset row_

CREATE DATABASE orgcrypt_regress_other TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE orgcrypt_regress_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE orgcrypt_regress_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C';

\c orgcrypt_regress_other
CREATE EXTENSION orgcrypt;
\i regress/sql/err_helper.psql
SELECT orgcrypt.encrypt_for_org('shared-name', 'from other db') AS c_other \gset
SELECT orgcrypt.dek_version(:'c_other') AS same_version_number;
-- the other database's key for the same org name does not open our value
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'shared-name', :'c_main'));
SELECT orgcrypt.decrypt_for_org('shared-name', :'c_other') AS own_value;

-- restore the key row into a LATIN1 database: representable text decrypts,
-- the rest fails cleanly with 22P05
\c orgcrypt_regress_latin1
CREATE EXTENSION orgcrypt;
\i regress/sql/err_helper.psql
INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri, kek_fingerprint)
VALUES (:'row_org', :'row_version', 'active', :'row_wrapped', :'row_kek_uri', :'row_kek_fingerprint');
SELECT orgcrypt.decrypt_for_org('shared-name', :'c_latin') = convert_from('\x6772fcdf65'::bytea, 'LATIN1') AS latin1_decrypts;
SELECT convert_to(orgcrypt.decrypt_for_org('shared-name', :'c_latin'), 'LATIN1') AS latin1_bytes;
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'shared-name', :'c_euro'));
SELECT orgcrypt.decrypt_for_org('latin1-ascii', orgcrypt.encrypt_for_org('latin1-ascii', 'plain ascii')) AS latin1_ascii,
       orgcrypt.decrypt_for_org('latin1-ascii', orgcrypt.encrypt_for_org('latin1-ascii', '')) = '' AS latin1_empty;
-- one rule for the org length in every encoding: 1 to 255 bytes of UTF-8
-- (127 'é' are 254 bytes of UTF-8; 128 are 256)
SELECT orgcrypt.create_org_key(repeat(convert_from('\xe9'::bytea, 'LATIN1'), 127)) AS latin1_254_utf8_bytes;
SELECT pg_temp.err(format('SELECT orgcrypt.create_org_key(%L)', repeat(convert_from('\xe9'::bytea, 'LATIN1'), 128)));
SELECT pg_temp.err(format('SELECT orgcrypt.encrypt_for_org(%L, %L)', repeat(convert_from('\xe9'::bytea, 'LATIN1'), 200), 'x'));
-- LATIN1 org names and plaintexts are bound as UTF-8
SELECT orgcrypt.decrypt_for_org(convert_from('\x6f7267fc'::bytea, 'LATIN1'),
         orgcrypt.encrypt_for_org(convert_from('\x6f7267fc'::bytea, 'LATIN1'), convert_from('\xe9'::bytea, 'LATIN1'))) =
       convert_from('\xe9'::bytea, 'LATIN1') AS latin1_roundtrip;

-- grants and the audit trail with LATIN1 org names (compared as the
-- database stores them; the length rule counts UTF-8 bytes; an org longer
-- than the decision slots' 64 bytes takes the hash-map path)
CREATE ROLE orgcrypt_regress_m_app;
SELECT orgcrypt.grant_org('orgcrypt_regress_m_app', convert_from('\x6f7267fc'::bytea, 'LATIN1'));
SELECT orgcrypt.grant_org('orgcrypt_regress_m_app', repeat(convert_from('\xe9'::bytea, 'LATIN1'), 127));
SELECT pg_temp.err(format('SELECT orgcrypt.grant_org(%L, %L)', 'orgcrypt_regress_m_app', repeat(convert_from('\xe9'::bytea, 'LATIN1'), 128)));
CREATE TABLE m_vals AS
  SELECT orgcrypt.encrypt_for_org(convert_from('\x6f7267fc'::bytea, 'LATIN1'), 'umlaut org') AS a,
         orgcrypt.encrypt_for_org(repeat(convert_from('\xe9'::bytea, 'LATIN1'), 127), 'long org') AS b,
         orgcrypt.encrypt_for_org('latin1-ascii', 'other org') AS c;
GRANT SELECT ON m_vals TO orgcrypt_regress_m_app;
SET ROLE orgcrypt_regress_m_app;
SELECT orgcrypt.decrypt_for_org(convert_from('\x6f7267fc'::bytea, 'LATIN1'), a) AS granted_latin1,
       orgcrypt.decrypt_for_org(repeat(convert_from('\xe9'::bytea, 'LATIN1'), 127), b) AS granted_long FROM m_vals;
SELECT orgcrypt.decrypt_for_org(convert_from('\x6f7267fc'::bytea, 'LATIN1'), a) AS again_latin1,
       orgcrypt.decrypt_for_org(repeat(convert_from('\xe9'::bytea, 'LATIN1'), 127), b) AS again_long FROM m_vals;
SELECT pg_temp.err($q$SELECT orgcrypt.decrypt_for_org('latin1-ascii', c) FROM m_vals$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('orgu', 'x')$q$);  -- 'orgu' is not the umlaut org
RESET ROLE;
SELECT event, octet_length(convert_to(org, 'UTF8')) AS org_utf8_bytes, convert_to(left(org, 4), 'UTF8') AS org_start, detail
  FROM orgcrypt.audit_log WHERE event = 'grant' ORDER BY at;
DROP TABLE m_vals;
DROP ROLE orgcrypt_regress_m_app;

-- SQL_ASCII: text that is not valid UTF-8 is refused when it is encrypted
-- (22021): plaintext, org and context; whatever encrypts also decrypts.
-- Valid UTF-8 text and any bytea work.
\c orgcrypt_regress_ascii
CREATE EXTENSION orgcrypt;
\i regress/sql/err_helper.psql
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('ascii-org', convert_from('\x41ff42'::bytea, 'SQL_ASCII'))$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org(convert_from('\x41ff'::bytea, 'SQL_ASCII'), 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('ascii-org', 'x', convert_from('\xff'::bytea, 'SQL_ASCII'))$q$);
SELECT orgcrypt.decrypt_for_org('ascii-org', orgcrypt.encrypt_for_org('ascii-org', convert_from('\x67c3bc'::bytea, 'SQL_ASCII')))
       = convert_from('\x67c3bc'::bytea, 'SQL_ASCII') AS utf8_roundtrip;
SELECT orgcrypt.decrypt_for_org_bytea('ascii-org', orgcrypt.encrypt_for_org('ascii-org', '\x41ff42'::bytea)) AS raw_bytes;

\c regression
DROP DATABASE orgcrypt_regress_other;
DROP DATABASE orgcrypt_regress_latin1;
DROP DATABASE orgcrypt_regress_ascii;
SELECT orgcrypt.decrypt_for_org('shared-name', :'c_main') AS main_still_reads;
