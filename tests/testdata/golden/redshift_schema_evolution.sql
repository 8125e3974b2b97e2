-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "Note ""quoted""" VARCHAR(65535);
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "region" VARCHAR(65535);
-- UPDATE
UPDATE "sales"."Orders" SET "region" = CAST('O''Brien \\ x' AS VARCHAR(65535));
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "rate" NUMERIC(10,2);
-- UPDATE
UPDATE "sales"."Orders" SET "rate" = CAST('1.5' AS NUMERIC(10,2));
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "sig" VARBYTE(1024000);
-- UPDATE
UPDATE "sales"."Orders" SET "sig" = TO_VARBYTE('0aff', 'hex');
-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "meta" SUPER;
-- UPDATE
UPDATE "sales"."Orders" SET "meta" = JSON_PARSE('{"k": [1, "x"]}');
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "blob";
-- widen
ALTER TABLE "sales"."Orders" ALTER COLUMN "customer" TYPE VARCHAR(1024);
