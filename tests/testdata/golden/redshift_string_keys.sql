-- schema change
CREATE SCHEMA IF NOT EXISTS "sales";
-- schema change
CREATE TABLE "sales"."Codes" ("doc" SUPER, "code" VARCHAR(65535), "blob" VARBYTE(1024000), "note" VARCHAR(256) ENCODE ZSTD, "label" VARCHAR(40), "n" INTEGER, PRIMARY KEY ("doc", "code", "blob")) DISTSTYLE KEY DISTKEY ("code") SORTKEY ("code");
-- create staging table
CREATE TEMP TABLE "re_dms_stage_0" ("doc" super, "code" VARCHAR(65535), "blob" varbyte(1024000));
-- COPY
COPY "re_dms_stage_0" ("doc", "code", "blob") FROM 's3://bucket/re_dms/000000000007-delete.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- create staging table
CREATE TEMP TABLE "re_dms_stage_1" ("doc" super, "code" VARCHAR(65535), "blob" varbyte(1024000), "note" VARCHAR(65535), "label" VARCHAR(65535), "n" integer);
-- COPY
COPY "re_dms_stage_1" ("doc", "code", "blob", "note", "label", "n") FROM 's3://bucket/re_dms/000000000007-upsert-0.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- measure VARCHAR widths
SELECT MAX(OCTET_LENGTH("note")), MAX(OCTET_LENGTH("label")) FROM "re_dms_stage_1";
-- create staging table
CREATE TEMP TABLE "re_dms_stage_2" ("doc" super, "code" VARCHAR(65535), "blob" varbyte(1024000), "n" integer);
-- COPY
COPY "re_dms_stage_2" ("doc", "code", "blob", "n") FROM 's3://bucket/re_dms/000000000007-upsert-1.manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/re_dms-load' CSV DELIMITER AS ',' QUOTE AS '"' NULL AS '\0' ZSTD MANIFEST DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;
-- DELETE
DELETE FROM "sales"."Codes" USING "re_dms_stage_0" WHERE JSON_SERIALIZE_TO_VARBYTE("sales"."Codes"."doc") = JSON_SERIALIZE_TO_VARBYTE("re_dms_stage_0"."doc") AND COLLATE("sales"."Codes"."code", 'case_sensitive') = COLLATE("re_dms_stage_0"."code", 'case_sensitive') AND OCTET_LENGTH("sales"."Codes"."code") = OCTET_LENGTH("re_dms_stage_0"."code") AND "sales"."Codes"."blob" = "re_dms_stage_0"."blob";
-- DELETE
DELETE FROM "sales"."Codes" USING "re_dms_stage_1" WHERE JSON_SERIALIZE_TO_VARBYTE("sales"."Codes"."doc") = JSON_SERIALIZE_TO_VARBYTE("re_dms_stage_1"."doc") AND COLLATE("sales"."Codes"."code", 'case_sensitive') = COLLATE("re_dms_stage_1"."code", 'case_sensitive') AND OCTET_LENGTH("sales"."Codes"."code") = OCTET_LENGTH("re_dms_stage_1"."code") AND "sales"."Codes"."blob" = "re_dms_stage_1"."blob";
-- INSERT
INSERT INTO "sales"."Codes" ("doc", "code", "blob", "note", "label", "n") SELECT "doc", "code", "blob", "note", "label", "n" FROM "re_dms_stage_1";
-- UPDATE
UPDATE "sales"."Codes" SET "n" = "re_dms_stage_2"."n" FROM "re_dms_stage_2" WHERE JSON_SERIALIZE_TO_VARBYTE("sales"."Codes"."doc") = JSON_SERIALIZE_TO_VARBYTE("re_dms_stage_2"."doc") AND COLLATE("sales"."Codes"."code", 'case_sensitive') = COLLATE("re_dms_stage_2"."code", 'case_sensitive') AND OCTET_LENGTH("sales"."Codes"."code") = OCTET_LENGTH("re_dms_stage_2"."code") AND "sales"."Codes"."blob" = "re_dms_stage_2"."blob";
-- drop staging table
DROP TABLE "re_dms_stage_0";
-- drop staging table
DROP TABLE "re_dms_stage_1";
-- drop staging table
DROP TABLE "re_dms_stage_2";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Codes';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Codes', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
