-- The rare transactions of the crash workload, run now and then by session 0:
-- one big enough to be cut into several batches, a TRUNCATE, column changes.
-- psql variable :n numbers the round.
BEGIN;
INSERT INTO progress VALUES (0, :n);
INSERT INTO keyed SELECT 9000000 + :n * 10000 + g, repeat('x', 200), NULL FROM generate_series(1, 6000) g;
UPDATE keyed SET v = 'big ' || :n WHERE id BETWEEN 9000000 + :n * 10000 AND 9000000 + :n * 10000 + 3000;
DELETE FROM keyed WHERE id BETWEEN 9000000 + (:n - 1) * 10000 AND 9000000 + (:n - 1) * 10000 + 5000;
COMMIT;
BEGIN;
INSERT INTO progress VALUES (0, :n + 100000);
TRUNCATE truncated;
INSERT INTO truncated SELECT g, 'after truncate ' || :n FROM generate_series(1, 50) g;
ALTER TABLE reshaped ADD COLUMN c:n int DEFAULT :n;
INSERT INTO reshaped VALUES (:n, 'with c' || :n);
COMMIT;
BEGIN;
INSERT INTO progress VALUES (0, :n + 200000);
UPDATE reshaped SET v = 'before drop' WHERE id = :n;
ALTER TABLE reshaped DROP COLUMN c:n;
INSERT INTO reshaped VALUES (:n + 100000, 'dropped c' || :n);
COMMIT;
\if :ddl_capture
-- With DDL capture: a rename away and back inside one transaction, and a
-- table dropped and re-created with another key.
BEGIN;
INSERT INTO progress VALUES (0, :n + 300000);
ALTER TABLE truncated RENAME TO truncated_moving;
UPDATE truncated_moving SET v = v || ' moved' WHERE id % 10 = :n % 10;
ALTER TABLE truncated_moving RENAME TO truncated;
COMMIT;
BEGIN;
INSERT INTO progress VALUES (0, :n + 400000);
DROP TABLE IF EXISTS churn;
CREATE TABLE churn (k text PRIMARY KEY, n int);
INSERT INTO churn SELECT 'k' || g, :n FROM generate_series(1, 20) g;
COMMIT;
\endif
