-- Tables for what Redshift reads differently from PostgreSQL (issue 12), one
-- finding per table so that a value Redshift refuses fails only its own
-- table: scripts/redshift-check creates them before its replication slot and
-- runs redshift_items_changes.sql after it. Plain SQL, no psql meta-commands.

-- Keys longer than 256 bytes, and keys that differ only in trailing blanks or
-- case (Redshift compares 'a' = 'a ', and 'A' = 'a' in a CASE_INSENSITIVE database).
CREATE TABLE public.item_string_keys (k varchar PRIMARY KEY, v text);
-- Key columns whose Redshift types cannot be DISTKEY/SORTKEY (SUPER, VARBYTE).
CREATE TABLE public.item_json_key (k jsonb, b bytea, v text, PRIMARY KEY (k, b));
-- A multiset: trailing-blank and case twins, and a document whose
-- serialization is longer than 65535 bytes (JSON_SERIALIZE's limit).
CREATE TABLE public.item_multiset (s text, j jsonb);
ALTER TABLE public.item_multiset REPLICA IDENTITY FULL;
-- SUPER limits: a repeated attribute name, a string of more than 65535 bytes.
CREATE TABLE public.item_super_duplicate_name (id integer PRIMARY KEY, j json);
CREATE TABLE public.item_super_long_string (id integer PRIMARY KEY, j json);
-- NUMERIC scales Redshift does not have: above 37, above the precision, negative.
CREATE TABLE public.item_numeric_scale (id integer PRIMARY KEY, a numeric(38,38),
                                        b numeric(2,5), c numeric(3,-2));
-- Forms outside COPY's documented lists.
CREATE TABLE public.item_five_digit_year (id integer PRIMARY KEY, ts timestamptz);
CREATE TABLE public.item_timetz_offset (id integer PRIMARY KEY, tt timetz);
CREATE TABLE public.item_real_subnormal (id integer PRIMARY KEY, r real, f double precision);
