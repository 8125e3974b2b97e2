-- Session 5: a truncate, an added and a dropped column, and a table created
-- while the stream runs.
INSERT INTO public.scratch SELECT g, 'before truncate ' || g, 'd' FROM generate_series(1, 100) AS g;
TRUNCATE public.scratch;
INSERT INTO public.scratch SELECT g, 'after truncate ' || g, 'doomed ' || g
FROM generate_series(1, 20) AS g;
-- No default: rows already there are NULL in the new column on both sides
-- (a default would fill them in the source without streaming any change).
ALTER TABLE public.scratch ADD COLUMN added text;
UPDATE public.scratch SET added = 'added ' || id WHERE id <= 10;
INSERT INTO public.scratch VALUES (21, 'with added', 'doomed', '');
ALTER TABLE public.scratch DROP COLUMN doomed;
UPDATE public.scratch SET v = 'after drop' WHERE id % 3 = 0;
INSERT INTO public.scratch VALUES (22, 'no doomed column', NULL);
DELETE FROM public.scratch WHERE id = 1;

CREATE TABLE public.late (id integer PRIMARY KEY, label text, at date);
INSERT INTO public.late SELECT g, 'late ' || g, date '2024-01-01' + g FROM generate_series(1, 30) AS g;
UPDATE public.late SET label = NULL WHERE id = 5;
DELETE FROM public.late WHERE id = 6;
