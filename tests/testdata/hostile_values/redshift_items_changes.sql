-- The changes to the tables of redshift_items.sql (see there), each statement
-- its own transaction. The result on the target must equal the source.
INSERT INTO public.item_string_keys VALUES
 ('a', 'plain'), ('a ', 'trailing blank'), ('A', 'upper'), (repeat('k', 300), '300-byte key');
DELETE FROM public.item_string_keys WHERE k = 'a ';
UPDATE public.item_string_keys SET v = 'updated' WHERE k = 'A';
UPDATE public.item_string_keys SET v = 'long key updated' WHERE k = repeat('k', 300);
INSERT INTO public.item_json_key VALUES ('{"a": 1}', '\x01', 'one'), ('{"a": 2}', '\x01', 'two');
DELETE FROM public.item_json_key WHERE k = '{"a": 1}';
INSERT INTO public.item_multiset VALUES
 ('x', '{"n": 1}'), ('x ', '{"n": 1}'), ('X', '{"n": 1}'), ('x', '{"n": 1}'),
 ('big', jsonb_build_object('a', repeat('y', 40000), 'b', repeat('z', 40000))),
 ('big', jsonb_build_object('a', repeat('y', 40000), 'b', repeat('z', 40000)));
DELETE FROM public.item_multiset WHERE s = 'x ';
DELETE FROM public.item_multiset WHERE s = 'X';
-- Deletes one of the two equal 'big' rows (REPLICA IDENTITY FULL: one change).
DELETE FROM public.item_multiset WHERE ctid = (SELECT min(ctid) FROM public.item_multiset WHERE s = 'big');
INSERT INTO public.item_super_duplicate_name VALUES (1, '{"a": 1, "a": 2}');
INSERT INTO public.item_super_long_string VALUES (1, json_build_object('s', repeat('z', 70000)));
INSERT INTO public.item_numeric_scale VALUES (1, 0.12345678901234567890123456789012345678, 0.00012, 12300);
INSERT INTO public.item_five_digit_year VALUES (1, '10000-01-01 00:00:00+00');
INSERT INTO public.item_timetz_offset VALUES (1, '13:14:15+15:30');
INSERT INTO public.item_real_subnormal VALUES (1, 1e-45, 5e-324);
