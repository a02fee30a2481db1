-- CREATE EXTENSION and ALTER EXTENSION UPDATE refuse a schema "orgcrypt"
-- that the installing role does not fully control (42501), and install
-- nothing.
\i regress/sql/err_helper.psql
CREATE ROLE orgcrypt_regress_squatter LOGIN;
CREATE DATABASE orgcrypt_regress_guard TEMPLATE template0;
GRANT CREATE ON DATABASE orgcrypt_regress_guard TO orgcrypt_regress_squatter;
\c orgcrypt_regress_guard
\i regress/sql/err_helper.psql
CREATE FUNCTION pg_temp.installed() RETURNS text LANGUAGE sql AS $$
  SELECT format('extension: %s, functions in schema: %s',
    (SELECT count(*) FROM pg_extension WHERE extname = 'orgcrypt'),
    (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'orgcrypt'))
$$;

-- 1. a squatter's schema, with a trap in it
SET ROLE orgcrypt_regress_squatter;
CREATE SCHEMA orgcrypt;
CREATE FUNCTION orgcrypt.encrypt_for_org(varchar, varchar) RETURNS text LANGUAGE sql AS 'SELECT $2';
RESET ROLE;
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
SELECT pg_temp.installed();
-- taking the schema over is not enough while the squatter's function is in it
ALTER SCHEMA orgcrypt OWNER TO CURRENT_USER;
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
SELECT pg_temp.installed();
DROP FUNCTION orgcrypt.encrypt_for_org(varchar, varchar);

-- 2. the installer's own schema, but others may create in it
GRANT CREATE ON SCHEMA orgcrypt TO orgcrypt_regress_squatter;
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
GRANT CREATE ON SCHEMA orgcrypt TO PUBLIC;
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
SELECT pg_temp.installed();
REVOKE CREATE ON SCHEMA orgcrypt FROM orgcrypt_regress_squatter, PUBLIC;

-- 3. an empty schema of the installer's own is fine (and so is none)
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
SELECT pg_temp.installed();
DROP EXTENSION orgcrypt;
DROP SCHEMA orgcrypt;
SELECT pg_temp.err('CREATE EXTENSION orgcrypt');
DROP EXTENSION orgcrypt;

-- 4. ALTER EXTENSION UPDATE checks the same
SELECT pg_temp.err($q$CREATE EXTENSION orgcrypt VERSION '1.0'$q$);
GRANT CREATE ON SCHEMA orgcrypt TO orgcrypt_regress_squatter;
SELECT pg_temp.err('ALTER EXTENSION orgcrypt UPDATE');
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';
REVOKE CREATE ON SCHEMA orgcrypt FROM orgcrypt_regress_squatter;
SELECT pg_temp.err('ALTER EXTENSION orgcrypt UPDATE');
SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt';

\c regression
DROP DATABASE orgcrypt_regress_guard;
DROP ROLE orgcrypt_regress_squatter;
