-- Every error in SPEC's table: SQLSTATE and message.
\i regress/sql/err_helper.psql

SELECT orgcrypt.encrypt_for_org('err-a', 'secret', 'ctx') AS c \gset
SELECT orgcrypt.encrypt_for_org('err-a', '\xdeadbeef'::bytea) AS cb \gset
SELECT orgcrypt.create_org_key('err-b');

-- 22P02: malformed or truncated envelope, unknown format version, bad text input
SELECT pg_temp.err($q$SELECT 'not base64!'::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT ''::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT 'T0MB'::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT '\x00112233'::bytea::orgcrypt.ciphertext$q$);
SELECT pg_temp.err(format('SELECT %L::orgcrypt.ciphertext', substr(:'c', 1, 40)));
SELECT pg_temp.err(format('SELECT substring(%L::orgcrypt.ciphertext::bytea from 1 for 36)::orgcrypt.ciphertext', :'c'));
SELECT pg_temp.err(format('SELECT set_byte(%L::orgcrypt.ciphertext::bytea, 2, 2)::orgcrypt.ciphertext', :'c'));
SELECT pg_temp.err(format('SELECT set_byte(%L::orgcrypt.ciphertext::bytea, 3, 9)::orgcrypt.ciphertext', :'c'));
SELECT pg_temp.err(format('SELECT set_byte(%L::orgcrypt.ciphertext::bytea, 4, 7)::orgcrypt.ciphertext', :'c'));
SELECT pg_temp.err(format('SELECT overlay(%L::orgcrypt.ciphertext::bytea placing %L::bytea from 6)::orgcrypt.ciphertext', :'c', '\x00000000'));
SELECT pg_temp.err($q$SELECT orgcrypt.dek_version('\x4f43'::bytea::orgcrypt.ciphertext)$q$);
-- the text form is RFC 4648 base64: padding only at the end, unused bits
-- zero, whitespace ignored anywhere ('Zg==' decodes to one byte, which the
-- envelope check then refuses; the others do not decode at all)
SELECT pg_temp.err($q$SELECT 'Zg=='::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT E' Z\ng=\r\n=\t'::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT 'Zh=='::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT 'Zg==Zg=='::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT 'Zg='::orgcrypt.ciphertext$q$);
SELECT pg_temp.err($q$SELECT 'Z-g_'::orgcrypt.ciphertext$q$);
SELECT pg_temp.err(format('SELECT %L::orgcrypt.ciphertext', overlay(:'c' placing '=' from 9 for 1)));
-- line-wrapped base64 as PostgreSQL's encode() writes it decodes
SELECT orgcrypt.encrypt_for_org('err-a', repeat('long plaintext ', 10), 'ctx') AS c_long \gset
SELECT position(E'\n' in encode(:'c_long'::orgcrypt.ciphertext::bytea, 'base64')) > 0 AS encode_wraps_lines,
       orgcrypt.decrypt_for_org('err-a', encode(:'c_long'::orgcrypt.ciphertext::bytea, 'base64')::orgcrypt.ciphertext, 'ctx')
         = repeat('long plaintext ', 10) AS wrapped_base64_decrypts,
       encode(:'c_long'::orgcrypt.ciphertext::bytea, 'base64')::orgcrypt.ciphertext::text = :'c_long' AS output_is_unwrapped;

-- XX001: tampered bytes, wrong org, wrong context (one message)
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, set_byte(%L::orgcrypt.ciphertext::bytea, 30, get_byte(%L::orgcrypt.ciphertext::bytea, 30) # 1)::orgcrypt.ciphertext, %L)', 'err-a', :'c', :'c', 'ctx'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, set_byte(%L::orgcrypt.ciphertext::bytea, 12, 0)::orgcrypt.ciphertext, %L)', 'err-a', :'c', 'ctx'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L, %L)', 'err-b', :'c', 'ctx'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L, %L)', 'err-a', :'c', 'other ctx'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'err-a', :'c'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L, %L)', 'err-a', :'c', ''));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org_bytea(%L, %L, %L)', 'err-a', :'cb', ''));
SELECT pg_temp.err(format('SELECT orgcrypt.reencrypt_for_org(%L, %L)', 'err-b', :'c'));
-- the kind byte is authenticated too: flipping text->bytea fails authentication
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org_bytea(%L, set_byte(%L::orgcrypt.ciphertext::bytea, 4, 1)::orgcrypt.ciphertext, %L)', 'err-a', :'c', 'ctx'));

-- 22023: org out of range, in every function that takes one
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('', 'x')$q$);
SELECT pg_temp.err(format('SELECT orgcrypt.encrypt_for_org(%L, %L)', repeat('x', 256), 'x'));
SELECT pg_temp.err(format('SELECT orgcrypt.encrypt_for_org(%L, %L::bytea, %L)', repeat('é', 128), '\x00', 'c'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L, %L)', '', :'c', 'ctx'));
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org_bytea(%L, %L)', '', :'cb'));
SELECT pg_temp.err(format('SELECT orgcrypt.reencrypt_for_org(%L, %L)', '', :'cb'));
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.destroy_org_keys('')$q$);

-- 22021: text asked for a bytea plaintext
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'err-a', :'cb'));

-- 55000: unknown DEK version (header says version 99)
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, overlay(%L::orgcrypt.ciphertext::bytea placing %L::bytea from 6)::orgcrypt.ciphertext, %L)', 'err-a', :'c', '\x00000063', 'ctx'));
-- 55000: an org with no keys at all (decrypt never creates keys)
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L, %L)', 'err-nobody', :'c', 'ctx'));
-- 55000: rotate an org that has no keys
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('err-nobody')$q$);
-- 55000: auto-creation turned off
SET orgcrypt.auto_create_org_keys = off;
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-new', 'x')$q$);
RESET orgcrypt.auto_create_org_keys;
-- 55000: a destroyed DEK version (tombstoned by hand; the trigger invalidates caches)
SELECT orgcrypt.encrypt_for_org('err-c', 'v1 value') AS c1 \gset
SELECT orgcrypt.rotate_org_dek('err-c');
UPDATE orgcrypt.org_dek SET state = 'destroyed', wrapped = NULL WHERE org = 'err-c' AND version = 1;
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'err-c', :'c1'));
SELECT orgcrypt.decrypt_for_org('err-c', orgcrypt.encrypt_for_org('err-c', 'v2 still works')) AS v2;
-- 55000: a destroyed org: decrypt, encrypt, rotate, create all refuse
SELECT orgcrypt.destroy_org_keys('err-c');
SELECT pg_temp.err(format('SELECT orgcrypt.decrypt_for_org(%L, %L)', 'err-c', :'c1'));
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-c', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-c', 'x'::bytea, 'c')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('err-c')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-c')$q$);

-- 42710: create_org_key for an org that has keys
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-b')$q$);

-- 55000: no master key configured
ALTER SYSTEM SET orgcrypt.master_key = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-nokey', 'x')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-nokey')$q$);
SELECT pg_temp.err($q$SELECT orgcrypt.rotate_org_dek('err-b')$q$);
-- existing keys still decrypt (each DEK records the KEK that wrapped it)
SELECT orgcrypt.cache_flush();
SELECT orgcrypt.decrypt_for_org('err-a', :'c', 'ctx') AS still_decrypts;

-- bad URIs are refused when set
ALTER SYSTEM SET orgcrypt.master_key = 'relative/path';
ALTER SYSTEM SET orgcrypt.master_key = 'nosuchscheme:/x';
ALTER SYSTEM SET orgcrypt.master_key = 'file:relative.key';
ALTER SYSTEM SET orgcrypt.master_key = 'file://host/x.key';
-- remote providers: a malformed ARN, a credential in the URI, plain http
ALTER SYSTEM SET orgcrypt.master_key = 'aws-kms:arn:aws:kms:eu-west-1:111122223333:1234';
ALTER SYSTEM SET orgcrypt.master_key = 'aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/x?aws_secret_access_key=abc';
ALTER SYSTEM SET orgcrypt.master_key = 'vault-transit://vault.example:8200/transit/keys/k?token=s.abc';
ALTER SYSTEM SET orgcrypt.master_key = 'vault-transit://vault.example:8200/transit/keys/k?tls=off';
-- kmip://: no key, a password in the URI, a relative path, a certificate without its key
ALTER SYSTEM SET orgcrypt.master_key = 'kmip://kmip.example:5696/';
ALTER SYSTEM SET orgcrypt.master_key = 'kmip://kmip.example:5696/key-1?password=secret';
ALTER SYSTEM SET orgcrypt.master_key = 'kmip://kmip.example/key-1?cert_file=client.pem&key_file=/k.pem';
ALTER SYSTEM SET orgcrypt.master_key = 'kmip://kmip.example/key-1?cert_file=/etc/client.pem';
ALTER SYSTEM SET orgcrypt.kmip_key_file = 'client.key';

-- 58000: provider failures, each with its own message
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/missing.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-58')$q$);
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/groupread.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-58')$q$);
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/short.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-58')$q$);
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/badhex.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-58')$q$);
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/notakey';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_temp.err($q$SELECT orgcrypt.create_org_key('err-58')$q$);
-- raw and base64 key files work
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/raw.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT orgcrypt.decrypt_for_org('err-raw', orgcrypt.encrypt_for_org('err-raw', 'raw key')) AS raw_key;
ALTER SYSTEM SET orgcrypt.master_key = 'file:/tmp/orgcrypt_regress/b64.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT orgcrypt.decrypt_for_org('err-b64', orgcrypt.encrypt_for_org('err-b64', 'base64 key')) AS b64_key;
ALTER SYSTEM RESET orgcrypt.master_key;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT orgcrypt.decrypt_for_org('err-a', :'c', 'ctx') AS back_to_normal;

-- a wrapped DEK moved to another org (or version) does not unwrap
SELECT orgcrypt.create_org_key('err-moved');
UPDATE orgcrypt.org_dek d SET wrapped = s.wrapped, kek_uri = s.kek_uri, kek_fingerprint = s.kek_fingerprint
  FROM orgcrypt.org_dek s WHERE d.org = 'err-moved' AND s.org = 'err-b' AND s.version = 1 AND d.version = 1;
SELECT orgcrypt.cache_flush();
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-moved', 'x')$q$);
SELECT orgcrypt.rotate_org_dek('err-b');
UPDATE orgcrypt.org_dek d SET wrapped = s.wrapped
  FROM orgcrypt.org_dek s WHERE d.org = 'err-b' AND s.org = 'err-b' AND s.version = 1 AND d.version = 2;
SELECT orgcrypt.cache_flush();
SELECT pg_temp.err($q$SELECT orgcrypt.encrypt_for_org('err-b', 'x')$q$);
