-- create staging table
CREATE TEMP TABLE "re_dms_stage_0" ("id" bigint, "customer" VARCHAR(65535), "total" numeric(38,10), "placed_at" timestamp with time zone, "doc" super, "blob" varbyte(1024000));
-- COPY
COPY "re_dms_stage_0" ("id", "customer", "total", "placed_at", "doc", "blob") FROM 's3://bucket/re_dms/000000000007-delete.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- measure VARCHAR widths
SELECT MAX(OCTET_LENGTH("customer")) FROM "re_dms_stage_0";
-- create staging table
CREATE TEMP TABLE "re_dms_stage_1" ("id" bigint, "customer" VARCHAR(65535), "total" numeric(38,10), "placed_at" timestamp with time zone, "doc" super, "blob" varbyte(1024000));
-- COPY
COPY "re_dms_stage_1" ("id", "customer", "total", "placed_at", "doc", "blob") FROM 's3://bucket/re_dms/000000000007-upsert-0.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- measure VARCHAR widths
SELECT MAX(OCTET_LENGTH("customer")) FROM "re_dms_stage_1";
-- DELETE
CREATE TEMP TABLE "re_dms_delete_counts" AS SELECT "id" AS "id", COLLATE("customer", 'case_sensitive') AS "customer", OCTET_LENGTH("customer") AS "re_dms_c1_1", "total" AS "total", "placed_at" AS "placed_at", JSON_SERIALIZE_TO_VARBYTE("doc") AS "doc", "blob" AS "blob", COUNT(*) AS "re_dms_n" FROM "re_dms_stage_0" GROUP BY 1, 2, 3, 4, 5, 6, 7;
-- DELETE
CREATE TEMP TABLE "re_dms_keep" AS SELECT "id", "customer", "total", "placed_at", "doc", "blob" FROM (SELECT "re_dms_t"."id", "re_dms_t"."customer", "re_dms_t"."total", "re_dms_t"."placed_at", "re_dms_t"."doc", "re_dms_t"."blob", ROW_NUMBER() OVER (PARTITION BY "re_dms_t"."id", COLLATE("re_dms_t"."customer", 'case_sensitive'), OCTET_LENGTH("re_dms_t"."customer"), "re_dms_t"."total", "re_dms_t"."placed_at", JSON_SERIALIZE_TO_VARBYTE("re_dms_t"."doc"), "re_dms_t"."blob") AS "re_dms_rn", "re_dms_delete_counts"."re_dms_n" FROM "sales"."Orders" AS "re_dms_t" JOIN "re_dms_delete_counts" ON ("re_dms_t"."id" = "re_dms_delete_counts"."id" OR ("re_dms_t"."id" IS NULL AND "re_dms_delete_counts"."id" IS NULL)) AND (COLLATE("re_dms_t"."customer", 'case_sensitive') = "re_dms_delete_counts"."customer" OR (COLLATE("re_dms_t"."customer", 'case_sensitive') IS NULL AND "re_dms_delete_counts"."customer" IS NULL)) AND (OCTET_LENGTH("re_dms_t"."customer") = "re_dms_delete_counts"."re_dms_c1_1" OR (OCTET_LENGTH("re_dms_t"."customer") IS NULL AND "re_dms_delete_counts"."re_dms_c1_1" IS NULL)) AND ("re_dms_t"."total" = "re_dms_delete_counts"."total" OR ("re_dms_t"."total" IS NULL AND "re_dms_delete_counts"."total" IS NULL)) AND ("re_dms_t"."placed_at" = "re_dms_delete_counts"."placed_at" OR ("re_dms_t"."placed_at" IS NULL AND "re_dms_delete_counts"."placed_at" IS NULL)) AND (JSON_SERIALIZE_TO_VARBYTE("re_dms_t"."doc") = "re_dms_delete_counts"."doc" OR (JSON_SERIALIZE_TO_VARBYTE("re_dms_t"."doc") IS NULL AND "re_dms_delete_counts"."doc" IS NULL)) AND ("re_dms_t"."blob" = "re_dms_delete_counts"."blob" OR ("re_dms_t"."blob" IS NULL AND "re_dms_delete_counts"."blob" IS NULL))) AS "re_dms_matches" WHERE "re_dms_rn" > "re_dms_n";
-- DELETE
DELETE FROM "sales"."Orders" USING "re_dms_delete_counts" WHERE ("sales"."Orders"."id" = "re_dms_delete_counts"."id" OR ("sales"."Orders"."id" IS NULL AND "re_dms_delete_counts"."id" IS NULL)) AND (COLLATE("sales"."Orders"."customer", 'case_sensitive') = "re_dms_delete_counts"."customer" OR (COLLATE("sales"."Orders"."customer", 'case_sensitive') IS NULL AND "re_dms_delete_counts"."customer" IS NULL)) AND (OCTET_LENGTH("sales"."Orders"."customer") = "re_dms_delete_counts"."re_dms_c1_1" OR (OCTET_LENGTH("sales"."Orders"."customer") IS NULL AND "re_dms_delete_counts"."re_dms_c1_1" IS NULL)) AND ("sales"."Orders"."total" = "re_dms_delete_counts"."total" OR ("sales"."Orders"."total" IS NULL AND "re_dms_delete_counts"."total" IS NULL)) AND ("sales"."Orders"."placed_at" = "re_dms_delete_counts"."placed_at" OR ("sales"."Orders"."placed_at" IS NULL AND "re_dms_delete_counts"."placed_at" IS NULL)) AND (JSON_SERIALIZE_TO_VARBYTE("sales"."Orders"."doc") = "re_dms_delete_counts"."doc" OR (JSON_SERIALIZE_TO_VARBYTE("sales"."Orders"."doc") IS NULL AND "re_dms_delete_counts"."doc" IS NULL)) AND ("sales"."Orders"."blob" = "re_dms_delete_counts"."blob" OR ("sales"."Orders"."blob" IS NULL AND "re_dms_delete_counts"."blob" IS NULL));
-- INSERT
INSERT INTO "sales"."Orders" ("id", "customer", "total", "placed_at", "doc", "blob") SELECT "id", "customer", "total", "placed_at", "doc", "blob" FROM "re_dms_keep";
-- drop staging table
DROP TABLE "re_dms_delete_counts";
-- drop staging table
DROP TABLE "re_dms_keep";
-- INSERT
INSERT INTO "sales"."Orders" ("id", "customer", "total", "placed_at", "doc", "blob") SELECT "id", "customer", "total", "placed_at", "doc", "blob" FROM "re_dms_stage_1";
-- drop staging table
DROP TABLE "re_dms_stage_0";
-- drop staging table
DROP TABLE "re_dms_stage_1";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
