-- checkpoint table
CREATE TABLE IF NOT EXISTS "re_dms"."re_dms_checkpoints" ("target_schema" VARCHAR(512) NOT NULL, "target_table" VARCHAR(512) NOT NULL, "lsn" NUMERIC(20,0), "xid" BIGINT, "sequence" BIGINT NOT NULL, "commit_time" VARCHAR(64), "batch_sequence" BIGINT NOT NULL, "applied_at" TIMESTAMP NOT NULL, PRIMARY KEY ("target_schema", "target_table"));
-- read checkpoint
SELECT "lsn", "xid", "sequence", "commit_time", "applied_at", "batch_sequence" FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'O''Brien\\s';
-- describe
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = 'sales' AND c.relname = 'Orders' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
-- load errors
SELECT TRIM(filename), line_number, TRIM(colname), TRIM(err_reason), TRIM(raw_field_value) FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number LIMIT 10;
