-- checkpoint table
CREATE TABLE IF NOT EXISTS "re_dms"."re_dms_checkpoints" ("target_schema" VARCHAR(512) NOT NULL, "target_table" VARCHAR(512) NOT NULL, "lsn" NUMERIC(20,0), "xid" BIGINT, "sequence" BIGINT NOT NULL, "commit_time" VARCHAR(64), "batch_sequence" BIGINT NOT NULL, "applied_at" TIMESTAMP NOT NULL, PRIMARY KEY ("target_schema", "target_table"));
-- read checkpoint
SELECT "lsn", "xid", "sequence", "commit_time", "applied_at", "batch_sequence" FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'O''Brien\\s';
-- describe
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = 'sales' AND c.relname = 'Orders' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
-- column roles
SELECT column_name, distkey, sortkey, TRIM(encoding) FROM svv_redshift_columns WHERE database_name = CURRENT_DATABASE() AND schema_name = 'sales' AND table_name = 'O''Brien\\s';
-- load errors
SELECT TRIM(file_name), line_number, TRIM(column_name), TRIM(error_message), TRIM(column_type) FROM sys_load_error_detail WHERE session_id = pg_backend_pid() AND TRIM(file_name) IN ('s3://bucket/re_dms/000000000007-upsert-0.part00001.csv.zst') ORDER BY start_time DESC, line_number LIMIT 10;
-- session setup
SET enable_case_sensitive_identifier TO true;
-- expect on or true
SHOW enable_case_sensitive_identifier;
-- session setup
SET timezone TO 'UTC';
-- expect UTC or utc
SHOW timezone;
-- session setup
SET standard_conforming_strings = on;
-- session setup
SET IntervalStyle = postgres;
-- session setup
SET extra_float_digits = 3;
-- session setup
SET client_encoding = 'UTF8';
-- session setup
SET lock_timeout = 30000;
