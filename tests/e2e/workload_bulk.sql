-- Session 4: one transaction of 200 000 rows, with updates and deletes
-- inside it, then a few more small transactions on the same table.
BEGIN;
INSERT INTO public.bulk
SELECT g, CASE WHEN g % 10 = 0 THEN E'quote '' and\nnewline' WHEN g % 10 = 1 THEN NULL
               WHEN g % 10 = 2 THEN '' ELSE 'value ' || md5(g::text) END,
       g / 7.0, g % 2 = 0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 200000) AS g;
UPDATE public.bulk SET flag = NULL, v = 'updated in the same transaction' WHERE id % 1000 = 0;
DELETE FROM public.bulk WHERE id % 777 = 0;
COMMIT;
UPDATE public.bulk SET n = -n WHERE id BETWEEN 100 AND 5000;
DELETE FROM public.bulk WHERE id > 199000;
