--- postgres: rename to sales
-- schema change
DROP TABLE IF EXISTS "sales"."Orders 2024";
-- schema change
ALTER TABLE "sales"."Orders" RENAME TO "Orders 2024";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 0, (now() AT TIME ZONE 'UTC'));
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders 2024';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders 2024', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, (now() AT TIME ZONE 'UTC'));
--- postgres: rename to archive
-- schema change
DROP TABLE IF EXISTS "archive"."Orders 2024";
-- schema change
CREATE SCHEMA IF NOT EXISTS "archive";
-- schema change
ALTER TABLE "sales"."Orders" SET SCHEMA "archive";
-- schema change
ALTER TABLE "archive"."Orders" RENAME TO "Orders 2024";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 0, (now() AT TIME ZONE 'UTC'));
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'archive' AND "target_table" = 'Orders 2024';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('archive', 'Orders 2024', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, (now() AT TIME ZONE 'UTC'));
--- postgres: renamed and added-again columns
-- schema change
ALTER TABLE "sales"."Orders" RENAME COLUMN "customer" TO "client";
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "total";
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "total" numeric;
-- UPDATE
UPDATE "sales"."Orders" SET "total" = CAST('0' AS numeric);
--- redshift: rename to sales
-- schema change
DROP TABLE IF EXISTS "sales"."Orders 2024";
-- schema change
ALTER TABLE "sales"."Orders" RENAME TO "Orders 2024";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 0, SYSDATE);
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders 2024';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders 2024', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
--- redshift: rename to archive
-- schema change
DROP TABLE IF EXISTS "archive"."Orders 2024";
-- schema change
CREATE SCHEMA IF NOT EXISTS "archive";
-- schema change
CREATE TABLE "archive"."Orders 2024" (LIKE "sales"."Orders" INCLUDING DEFAULTS);
-- INSERT
INSERT INTO "archive"."Orders 2024" SELECT * FROM "sales"."Orders";
-- schema change
DROP TABLE "sales"."Orders";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 0, SYSDATE);
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'archive' AND "target_table" = 'Orders 2024';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('archive', 'Orders 2024', 23803720, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
--- redshift: renamed and added-again columns
-- schema change
ALTER TABLE "sales"."Orders" RENAME COLUMN "customer" TO "client";
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "total";
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "total" NUMERIC(38,10);
-- UPDATE
UPDATE "sales"."Orders" SET "total" = CAST('0' AS NUMERIC(38,10));
