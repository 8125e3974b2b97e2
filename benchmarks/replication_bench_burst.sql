-- The replication benchmark's burst on the parser benchmark's table shape
-- (scripts/make-bench-stream): :rows inserts, then updates of a quarter and
-- deletes of a tenth of them, in transactions of 10 000 rows, then the
-- sentinel row id 0 whose arrival in a target means the burst arrived (each
-- target applies a table's changes in commit order). Run with
-- psql -v rows=N; the table exists and is empty.
\set batch 10000
SELECT :rows / :batch AS chunks \gset

-- Inserts: some notes hold quotes and newlines, some are NULL.
SELECT format($$
INSERT INTO orders
SELECT g,
       ((g * 7919) %% 1000)::integer,
       'customer-' || md5(g::text),
       ((g * 104729) %% 10000000) / 100.0,
       CASE WHEN g %% 10 = 0 THEN 'O''Brien said: "deliver' || chr(10) || 'to the back door"'
            WHEN g %% 10 = 1 THEN NULL
            ELSE 'order note ' || substr(md5((g * 3)::text), 1, 20) END,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
       CASE WHEN g %% 3 = 0 THEN NULL ELSE timestamptz '2024-06-01 00:00:00+00' END,
       g %% 2 = 0,
       jsonb_build_object('sku', 'SKU-' || (g %% 5000), 'tags', jsonb_build_array('a', 'b"c'),
                          'weight', (g %% 97) / 7.0)
FROM generate_series(%s::bigint, %s) AS g$$, c * :batch + 1, (c + 1) * :batch)
FROM generate_series(0, :chunks - 1) AS c \gexec

-- Updates of every fourth row and deletes of every tenth, 10 000 rows a transaction.
SELECT format($$
UPDATE orders SET quantity = quantity + 1, note = 'updated ' || id,
                  updated_at = timestamptz '2024-07-01 00:00:00+00'
WHERE id %% 4 = 1 AND id BETWEEN %s AND %s$$, c * :batch * 4 + 1, (c + 1) * :batch * 4)
FROM generate_series(0, (:chunks + 3) / 4 - 1) AS c \gexec

SELECT format('DELETE FROM orders WHERE id %% 10 = 3 AND id BETWEEN %s AND %s',
              c * :batch * 10 + 1, (c + 1) * :batch * 10)
FROM generate_series(0, (:chunks + 9) / 10 - 1) AS c \gexec

INSERT INTO orders VALUES (0, 0, 'sentinel', NULL, NULL, now(), NULL, false, NULL);
