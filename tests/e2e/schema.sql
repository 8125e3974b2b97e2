-- The end-to-end test's source tables, created before the replication slot.
-- The target database starts empty: re_dms creates every table it loads.

-- The values of the foundation test (tests/parser_pg_test.cc): every built-in
-- type family plus an enum, a domain and a composite type, which a PostgreSQL
-- target holds as text.
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'it''s "fine"');
CREATE DOMAIN public.posint AS integer CHECK (VALUE > 0);
CREATE TYPE public.pair AS (a integer, b text);
CREATE TABLE public.types (
  id integer PRIMARY KEY,
  c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric,
  c_real real, c_double double precision, c_bool boolean, c_text text,
  c_varchar varchar(20), c_char char(5), c_bytea bytea, c_uuid uuid, c_json json,
  c_jsonb jsonb, c_int_arr integer[], c_text_arr text[], c_date date, c_time time,
  c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_mood public.mood, c_posint public.posint,
  c_bit bit(4), c_varbit varbit, c_money money, c_xml xml, c_int4range int4range,
  c_tstzrange tstzrange, c_point point, c_oid oid, c_pair public.pair, c_tsvector tsvector
);

-- Hostile names: a reserved word, a quote, mixed case and spaces.
CREATE SCHEMA "Weird Schema";
CREATE TABLE "Weird Schema"."Mixed Case" (
  "select" integer PRIMARY KEY, "we""ird" text, "Mixed Col" text, "from" text
);

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
