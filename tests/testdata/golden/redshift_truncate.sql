-- TRUNCATE
DELETE FROM "sales"."Orders";
-- checkpoint
DELETE FROM "re_dms"."re_dms_checkpoints" WHERE "target_schema" = 'sales' AND "target_table" = 'Orders';
-- checkpoint
INSERT INTO "re_dms"."re_dms_checkpoints" ("target_schema", "target_table", "lsn", "xid", "sequence", "commit_time", "batch_sequence", "applied_at") VALUES ('sales', 'Orders', NULL, 750, 12, '2026-11-27 23:00:00.123456+00', 7, SYSDATE);
