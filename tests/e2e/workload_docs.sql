-- Session 2: TOASTed bodies of 128 kB of random hex, then updates that leave
-- them alone (streamed as unchanged-toast-datum), one of them changing the
-- key, updates that replace them, and deletes.
INSERT INTO public.docs
SELECT d, 'doc ' || d,
       (SELECT string_agg(md5(random()::text || d || g), '') FROM generate_series(1, 4000) AS g),
       1
FROM generate_series(1, 12) AS d;
UPDATE public.docs SET revision = revision + 1, title = title || E' \'rev\'' WHERE id % 2 = 0;
UPDATE public.docs SET revision = NULL WHERE id = 5;
UPDATE public.docs SET id = 105, title = 'renumbered' WHERE id = 3;
UPDATE public.docs SET body = 'short now' WHERE id = 7;
UPDATE public.docs SET body = NULL WHERE id = 8;
BEGIN;
UPDATE public.docs SET revision = 10 WHERE id = 9;
UPDATE public.docs SET title = 'twice in one transaction' WHERE id = 9;
COMMIT;
DELETE FROM public.docs WHERE id = 11;
INSERT INTO public.docs VALUES
 (13, 'big again', (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 4000)), 0);
UPDATE public.docs SET revision = 2 WHERE id = 13;
