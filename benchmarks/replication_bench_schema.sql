-- The replication benchmark's table, as scripts/make-bench-stream creates it.
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  quantity integer NOT NULL,
  customer text NOT NULL,
  amount numeric(12, 2),
  note text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz,
  shipped boolean NOT NULL,
  attributes jsonb
);
