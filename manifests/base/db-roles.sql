-- One login role that owns one database and holds no other privilege: no superuser, no CREATEDB,
-- no CREATEROLE, and no CONNECT for other roles on its database. Idempotent: it also fixes an
-- existing role (password, attributes) and database (owner), so it runs at every MLflow pod start.
-- psql reads the names and the password from the environment (DB_ROLE, DB_NAME, DB_PASSWORD), so
-- no password is on a command line. Run by the `db-roles` init container (manifests/base/mlflow.yaml).
\set ON_ERROR_STOP on
\getenv DB_ROLE DB_ROLE
\getenv DB_NAME DB_NAME
\getenv DB_PASSWORD DB_PASSWORD

SELECT format('CREATE ROLE %I', :'DB_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'DB_ROLE') \gexec

ALTER ROLE :"DB_ROLE" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'DB_PASSWORD';

SELECT format('CREATE DATABASE %I OWNER %I', :'DB_NAME', :'DB_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'DB_NAME') \gexec

ALTER DATABASE :"DB_NAME" OWNER TO :"DB_ROLE";
REVOKE ALL ON DATABASE :"DB_NAME" FROM PUBLIC;
