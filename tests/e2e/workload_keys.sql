-- Session 3: a table without any key (duplicate rows, NULLs in the identity)
-- and a composite key.
INSERT INTO public.events VALUES
 ('dup', 1.5, 'same', '2024-01-01 00:00:00+00'),
 ('dup', 1.5, 'same', '2024-01-01 00:00:00+00'),
 ('dup', 1.5, 'same', '2024-01-01 00:00:00+00'),
 ('nulls', NULL, NULL, NULL),
 ('nulls', NULL, NULL, NULL),
 ('empty', 0, '', NULL),
 ('quote', 2, 'O''Brien', '2024-06-01 12:00:00+02');
-- One of three identical rows changes, one goes: two rows remain alike.
UPDATE public.events SET amount = 2.5
 WHERE ctid = (SELECT ctid FROM public.events WHERE kind = 'dup' LIMIT 1);
DELETE FROM public.events
 WHERE ctid = (SELECT ctid FROM public.events WHERE kind = 'dup' AND amount = 1.5 LIMIT 1);
DELETE FROM public.events
 WHERE ctid = (SELECT ctid FROM public.events WHERE kind = 'nulls' LIMIT 1);
UPDATE public.events SET note = NULL WHERE kind = 'empty';
INSERT INTO public.events SELECT 'many', g % 3, NULL, NULL FROM generate_series(1, 300) AS g;
DELETE FROM public.events WHERE kind = 'many' AND amount = 0;

INSERT INTO public.order_lines
SELECT o, l, 'SKU-' || (o * 10 + l), l, CASE WHEN l = 2 THEN NULL ELSE 'line ' || l END
FROM generate_series(1, 50) AS o, generate_series(1, 4) AS l;
UPDATE public.order_lines SET qty = qty * 10 WHERE order_id % 5 = 0;
UPDATE public.order_lines SET line_no = line_no + 10 WHERE order_id = 7;
UPDATE public.order_lines SET order_id = 1000, note = 'moved order' WHERE order_id = 8;
DELETE FROM public.order_lines WHERE order_id = 9 OR (order_id = 10 AND line_no = 3);
BEGIN;
-- A key that is deleted and inserted again in one transaction.
DELETE FROM public.order_lines WHERE order_id = 11 AND line_no = 1;
INSERT INTO public.order_lines VALUES (11, 1, 'SKU-again', 99, E're\ninserted');
COMMIT;
