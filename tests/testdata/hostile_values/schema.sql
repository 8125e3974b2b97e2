-- Every built-in type family plus an enum, a domain and a composite type
-- (public.types, 38 columns), and hostile identifiers: a reserved word, a
-- quote, mixed case and spaces. Our own fixture, the one source of truth for
-- tests/parser_pg_test.cc and the end-to-end test (tests/e2e/schema.sql
-- includes it): plain SQL, no psql meta-commands, so libpq can run it too.
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
CREATE SCHEMA "Weird Schema";
CREATE TABLE "Weird Schema"."Mixed Case" (
  "select" integer PRIMARY KEY, "we""ird" text, "Mixed Col" text, "from" text
);
