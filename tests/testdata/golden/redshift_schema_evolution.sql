-- schema change
ALTER TABLE "sales"."Orders" ADD COLUMN "Note ""quoted""" VARCHAR(65535);
-- schema change
ALTER TABLE "sales"."Orders" DROP COLUMN "blob";
-- widen
ALTER TABLE "sales"."Orders" ALTER COLUMN "customer" TYPE VARCHAR(1024);
