-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "re_dms_new_customer" INTEGER;
-- schema change
UPDATE "sales"."Orders" SET "re_dms_new_customer" = CAST(CAST("customer" AS VARCHAR(65535)) AS INTEGER);
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "customer";
-- schema change
ALTER TABLE "sales"."Orders" RENAME COLUMN "re_dms_new_customer" TO "customer";
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "re_dms_new_total" BIGINT;
-- schema change
UPDATE "sales"."Orders" SET "re_dms_new_total" = CAST(CAST("total" AS VARCHAR(65535)) AS BIGINT);
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "total";
-- schema change
ALTER TABLE "sales"."Orders" RENAME COLUMN "re_dms_new_total" TO "total";
