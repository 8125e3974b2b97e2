-- create staging table
CREATE TEMP TABLE "re_dms_stage_0" ("id" bigint);
-- COPY
COPY "re_dms_stage_0" ("id") FROM 's3://bucket/re_dms/000000000007-delete.manifest.json' ACCESS_KEY_ID '<redacted>' SECRET_ACCESS_KEY '<redacted>' SESSION_TOKEN '<redacted>' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' GZIP MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF REGION 'eu-west-1';
-- DELETE
DELETE FROM "sales"."Orders" USING "re_dms_stage_0" WHERE "sales"."Orders"."id" = "re_dms_stage_0"."id";
-- drop staging table
DROP TABLE "re_dms_stage_0";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
