-- schema change
CREATE SCHEMA IF NOT EXISTS "sales";
-- schema change
CREATE TABLE "sales"."Orders" ("id" BIGINT, "customer" VARCHAR(256) ENCODE ZSTD, "total" NUMERIC(38,10), "placed_at" TIMESTAMPTZ, "doc" SUPER, "blob" VARBYTE(1024000), PRIMARY KEY ("id")) DISTSTYLE KEY DISTKEY ("id") SORTKEY ("id");
