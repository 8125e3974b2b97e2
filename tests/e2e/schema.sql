-- The end-to-end test's source tables, created before the replication slot.
-- The target database starts empty: re_dms creates every table it loads.

-- Every built-in type family plus an enum, a domain and a composite type,
-- which a PostgreSQL target holds as text, and hostile names: the fixture
-- tests/parser_pg_test.cc decodes too.
\ir ../testdata/hostile_values/schema.sql

-- Large values stored out of line: EXTERNAL skips compression, so every body
-- of more than ~2 kB is TOASTed and an update that leaves it alone streams it
-- as an unchanged-toast-datum.
CREATE TABLE public.docs (id integer PRIMARY KEY, title text, body text, revision integer);
ALTER TABLE public.docs ALTER COLUMN body SET STORAGE EXTERNAL;

-- No key at all: rows are a multiset, identified by their whole content.
CREATE TABLE public.events (kind text, amount numeric, note text, at timestamptz);
ALTER TABLE public.events REPLICA IDENTITY FULL;

-- A composite key, whose second column some updates change.
CREATE TABLE public.order_lines (
  order_id bigint, line_no integer, sku text, qty integer, note text,
  PRIMARY KEY (order_id, line_no)
);

-- The 200 000-row transaction.
CREATE TABLE public.bulk (id bigint PRIMARY KEY, v text, n numeric, flag boolean,
                          at timestamptz);

-- Truncated, then altered: a column added and one dropped mid-stream.
CREATE TABLE public.scratch (id integer PRIMARY KEY, v text, doomed text);
