-- Session 1: every type and hostile values (the shared fixture, plus a row
-- whose text is 'NULL'), then updates (one changing the key) and deletes, one
-- transaction per statement.
\ir ../testdata/hostile_values/rows.sql
INSERT INTO "Weird Schema"."Mixed Case" VALUES (5, 'NULL', '', NULL);
UPDATE public.types SET c_text = E'new\nline', c_numeric = -0.5, c_text_arr = '{"x\\y"}'
 WHERE id = 2;
UPDATE public.types SET id = 30, c_text = 'moved' WHERE id = 3;
UPDATE public.types SET c_varchar = '', c_bool = NULL WHERE id = 1;
DELETE FROM public.types WHERE id = 4;
INSERT INTO public.types (id, c_text, c_jsonb) VALUES (4, E'\\N', '{"again": true}');
UPDATE "Weird Schema"."Mixed Case" SET "from" = 'updated', "we""ird" = NULL WHERE "select" = 1;
UPDATE "Weird Schema"."Mixed Case" SET "select" = 40 WHERE "select" = 4;
DELETE FROM "Weird Schema"."Mixed Case" WHERE "select" = 3;
BEGIN;
-- Several changes to one row inside one transaction: only the net effect lands.
INSERT INTO "Weird Schema"."Mixed Case" VALUES (6, 'six', 'a', 'b');
UPDATE "Weird Schema"."Mixed Case" SET "Mixed Col" = 'c' WHERE "select" = 6;
UPDATE "Weird Schema"."Mixed Case" SET "select" = 7 WHERE "select" = 6;
INSERT INTO "Weird Schema"."Mixed Case" VALUES (8, 'gone', 'soon', 'x');
DELETE FROM "Weird Schema"."Mixed Case" WHERE "select" = 8;
COMMIT;
