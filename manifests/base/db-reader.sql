-- A login role that can only read one database: SELECT on every table of its schema `public`, today's
-- and those its owner creates later (the migrations), nothing else; its sessions start read-only
-- (`default_transaction_read_only`). Idempotent: it also fixes an existing role. psql reads the names
-- and the password from the environment (DB_READER, DB_READER_PASSWORD, DB_NAME and the database's
-- owner DB_ROLE), so no password is on a command line. Run after db-roles.sql by the one-shot Job
-- `stockpredictor-db-roles` (manifests/base/db-roles-job.yaml), for the API.
\set ON_ERROR_STOP on
\getenv DB_READER DB_READER
\getenv DB_READER_PASSWORD DB_READER_PASSWORD
\getenv DB_NAME DB_NAME
\getenv DB_ROLE DB_ROLE

SELECT format('CREATE ROLE %I', :'DB_READER')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'DB_READER') \gexec

ALTER ROLE :"DB_READER" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT PASSWORD :'DB_READER_PASSWORD';
ALTER ROLE :"DB_READER" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"DB_NAME" TO :"DB_READER";

\connect :"DB_NAME"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"DB_READER";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"DB_READER";
ALTER DEFAULT PRIVILEGES FOR ROLE :"DB_ROLE" IN SCHEMA public GRANT SELECT ON TABLES TO :"DB_READER";
