-- create staging table
CREATE TEMP TABLE "re_dms_stage_0" ("id" bigint);
-- COPY
COPY "re_dms_stage_0" ("id") FROM 's3://bucket/re_dms/000000000007-delete.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- create staging table
CREATE TEMP TABLE "re_dms_stage_1" ("id" bigint, "re_dms_from_id" bigint);
-- COPY
COPY "re_dms_stage_1" ("id", "re_dms_from_id") FROM 's3://bucket/re_dms/000000000007-move.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- create staging table
CREATE TEMP TABLE "re_dms_stage_2" ("id" bigint, "customer" VARCHAR(65535), "total" numeric(38,10), "placed_at" timestamp with time zone, "doc" super, "blob" varbyte(1024000));
-- COPY
COPY "re_dms_stage_2" ("id", "customer", "total", "placed_at", "doc", "blob") FROM 's3://bucket/re_dms/000000000007-upsert-0.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- measure VARCHAR widths
SELECT MAX(OCTET_LENGTH("customer")) FROM "re_dms_stage_2";
-- create staging table
CREATE TEMP TABLE "re_dms_stage_3" ("id" bigint, "customer" VARCHAR(65535), "total" numeric(38,10), "placed_at" timestamp with time zone);
-- COPY
COPY "re_dms_stage_3" ("id", "customer", "total", "placed_at") FROM 's3://bucket/re_dms/000000000007-upsert-1.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- measure VARCHAR widths
SELECT MAX(OCTET_LENGTH("customer")) FROM "re_dms_stage_3";
-- move row
CREATE TEMP TABLE "re_dms_moved_1" AS SELECT "re_dms_stage_1"."id" AS "id", "re_dms_t"."customer", "re_dms_t"."total", "re_dms_t"."placed_at", "re_dms_t"."doc", "re_dms_t"."blob" FROM "sales"."Orders" AS "re_dms_t" JOIN "re_dms_stage_1" ON "re_dms_t"."id" = "re_dms_stage_1"."re_dms_from_id";
-- move row
DELETE FROM "sales"."Orders" USING "re_dms_moved_1" WHERE "sales"."Orders"."id" = "re_dms_moved_1"."id";
-- move row
INSERT INTO "sales"."Orders" ("id", "customer", "total", "placed_at", "doc", "blob") SELECT "id", "customer", "total", "placed_at", "doc", "blob" FROM "re_dms_moved_1";
-- drop staging table
DROP TABLE "re_dms_moved_1";
-- DELETE
DELETE FROM "sales"."Orders" USING "re_dms_stage_0" WHERE "sales"."Orders"."id" = "re_dms_stage_0"."id";
-- DELETE
DELETE FROM "sales"."Orders" USING "re_dms_stage_2" WHERE "sales"."Orders"."id" = "re_dms_stage_2"."id";
-- INSERT
INSERT INTO "sales"."Orders" ("id", "customer", "total", "placed_at", "doc", "blob") SELECT "id", "customer", "total", "placed_at", "doc", "blob" FROM "re_dms_stage_2";
-- UPDATE
UPDATE "sales"."Orders" SET "customer" = "re_dms_stage_3"."customer", "total" = "re_dms_stage_3"."total", "placed_at" = "re_dms_stage_3"."placed_at" FROM "re_dms_stage_3" WHERE "sales"."Orders"."id" = "re_dms_stage_3"."id";
-- drop staging table
DROP TABLE "re_dms_stage_0";
-- drop staging table
DROP TABLE "re_dms_stage_1";
-- drop staging table
DROP TABLE "re_dms_stage_2";
-- drop staging table
DROP TABLE "re_dms_stage_3";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
