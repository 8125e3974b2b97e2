-- The crash test's source tables: one of each kind the replicator must keep
-- exact through kills, reconnects and replays. crash_step() is one random
-- transaction of a workload session.
CREATE TABLE keyed (id int PRIMARY KEY, v text, big text);
-- Unchanged TOAST values: kept out of line and uncompressed.
ALTER TABLE keyed ALTER big SET STORAGE EXTERNAL;
CREATE TABLE composite (a int, b text, v int, PRIMARY KEY (a, b));
CREATE TABLE keyless (x int, y text);
ALTER TABLE keyless REPLICA IDENTITY FULL;
CREATE TABLE truncated (id int PRIMARY KEY, v text);
CREATE TABLE reshaped (id int PRIMARY KEY, v text);
-- One row per workload transaction: what the slot acknowledged must be here.
CREATE TABLE progress (session int, n int, PRIMARY KEY (session, n));

CREATE FUNCTION big_value() RETURNS text LANGUAGE sql AS
  $$ SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 80) $$;

CREATE FUNCTION crash_step(session int, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  base int := session * 1000000;
  k int;
BEGIN
  INSERT INTO progress VALUES (session, n);
  FOR i IN 1 .. 1 + (random() * 4)::int LOOP
    k := base + (random() * 300)::int;
    CASE (random() * 8)::int
      WHEN 0 THEN
        INSERT INTO keyed VALUES (k, 'ins ' || n, big_value()) ON CONFLICT (id) DO NOTHING;
      WHEN 1 THEN
        -- The TOASTed column is unchanged.
        UPDATE keyed SET v = E'upd\n' || n || ' O''Brien' WHERE id = k;
      WHEN 2 THEN
        -- A key change.
        UPDATE keyed SET id = base + 500000 + (k % 300), v = NULL, big = big_value()
         WHERE id = k AND NOT EXISTS (SELECT 1 FROM keyed WHERE id = base + 500000 + (k % 300));
      WHEN 3 THEN
        DELETE FROM keyed WHERE id = k OR id = base + 500000 + (k % 300);
      WHEN 7 THEN
        -- A key change with the TOASTed column unchanged: only the target has
        -- its value (move row).
        UPDATE keyed SET id = base + 500000 + (k % 300), v = 'moved ' || n
         WHERE id = k AND NOT EXISTS (SELECT 1 FROM keyed WHERE id = base + 500000 + (k % 300));
      WHEN 4 THEN
        INSERT INTO composite VALUES (k % 50, 'b' || (k % 7), n)
          ON CONFLICT (a, b) DO UPDATE SET v = excluded.v;
      WHEN 5 THEN
        -- Duplicate rows, and the deletion of one of them.
        INSERT INTO keyless VALUES (k % 20, CASE WHEN n % 3 = 0 THEN NULL ELSE '' END);
        DELETE FROM keyless WHERE ctid = (SELECT ctid FROM keyless WHERE x = (k + 1) % 20 LIMIT 1);
      ELSE
        UPDATE keyless SET y = 'u' || n
         WHERE ctid = (SELECT ctid FROM keyless WHERE x = k % 20 LIMIT 1);
        DELETE FROM composite WHERE a = k % 50 AND b = 'b' || ((k + 3) % 7);
    END CASE;
  END LOOP;
END
$$;
