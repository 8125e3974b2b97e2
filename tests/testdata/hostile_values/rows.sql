-- The hostile values of the tables of schema.sql (same fixture, same users):
-- extremes, NaN and infinities, empty strings and arrays, the text 'null'
-- beside real NULLs, quotes, backslashes, newlines, and values that look
-- like test_decoding's own framing. "Mixed Case" rows 1-4: each user adds
-- its own row 5. Plain SQL, no psql meta-commands.
INSERT INTO public.types VALUES
 (1, 1, 2, 3, 12.5, 1.5, 0.1, true, 'plain', 'vc', 'ab', '\x00ff27'::bytea,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": "b\"c", "d": "it''s"}',
  '{"k": "v\\w", "n": [1, null]}', '{1,NULL,3}', '{"a\"b",NULL,"it''s","x,y","NULL"}',
  '2024-02-29', '13:14:15.5', '13:14:15+02', '2024-01-01 10:00:00.123456',
  '2024-01-01 10:00:00+00', '1 year 2 mons 3 days 04:05:06.7', '192.168.0.1/24', '10.0.0.0/8',
  '08:00:2b:01:02:03', 'it''s "fine"', 42, B'1010', B'10101', 12.34,
  '<a b="c">it''s &amp; more</a>', '[1,10)', '[2024-01-01 00:00:00+00,2024-02-01 00:00:00+00)',
  '(1.5,-2)', 4242, ROW(7, 'x y'), 'the quick brown fox'),
 (2, -32768, -2147483648, -9223372036854775808, 'NaN', 'NaN', '-Infinity', false, '',
  '', '', '\x'::bytea, '00000000-0000-0000-0000-000000000000', '"just a string"', 'null',
  '{}', '{"",""}', '0044-03-15 BC', '00:00', '00:00+00', 'infinity', '-infinity',
  '-178000000 years', '::1', '::/0', 'ff:ff:ff:ff:ff:ff', 'sad', 1, B'0000', B'', -12.34,
  '<x/>', 'empty', '(,)', '(0,0)', 0, ROW(NULL, NULL), ''),
 (3, 0, 0, 0, 'Infinity', 'Infinity', 'Infinity', NULL, 'null', 'null', 'nul', NULL,
  NULL, 'null', '{"a": null}', '{{1,2},{3,4}}', '{NULL}', '4713-01-01 BC', '24:00', NULL,
  '0001-01-01 00:00:00 BC', '1999-12-31 23:59:59.999999+05:30', '-1 days +02:00', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO "Weird Schema"."Mixed Case" VALUES
 (1, 'O''Brien', 'back\slash \\ and \n not a newline', 'null'),
 (2, E'line1\nBEGIN 7\nCOMMIT 7\ntable public.x: INSERT: a[text]:''y''\nnull\n', E'cr\r\nlf\ttab',
  ''),
 (3, NULL, '😀 emoji and ünïcödé', ''''''),
 (4, 'x'' y[text]:''z', ' new-tuple: id[integer]:1 ', E'trailing\n');
