#!/usr/bin/env bash
# Runs the example against the real PostgreSQL of scripts/services: two
# transactions come out with their commit LSNs, and the slot is confirmed
# exactly through the last one printed.
set -euo pipefail
BIN=${TEST_SRCDIR:?}/re_dms/examples/replicate_slot
: "${RE_DMS_TEST_PG_CONNINFO:?run through ./scripts/test or scripts/services}"
PSQL="${RE_DMS_TEST_PG_BIN:?}/psql -X -q -v ON_ERROR_STOP=1 -At"
DB=replicate_slot_$$
$PSQL "$RE_DMS_TEST_PG_CONNINFO" -c "CREATE DATABASE $DB"
trap '$PSQL "$RE_DMS_TEST_PG_CONNINFO" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true' EXIT
CONNINFO="$RE_DMS_TEST_PG_CONNINFO dbname=$DB"
$PSQL "$CONNINFO" -c "CREATE TABLE t (id int PRIMARY KEY)"
$PSQL "$CONNINFO" -c "SELECT 1 FROM pg_create_logical_replication_slot('example', 'test_decoding')"
$PSQL "$CONNINFO" -c "INSERT INTO t VALUES (1), (2)"
$PSQL "$CONNINFO" -c "DELETE FROM t WHERE id = 1"
OUT=$(timeout 60 "$BIN" "$CONNINFO" example --commits=2)
[[ $(grep -c '^commit xid [0-9]* at [0-9A-F]*/[0-9A-F]*: ' <<<"$OUT") == 2 ]] ||
  { printf 'FAIL: want two commits, got\n%s\n' "$OUT"; exit 1; }
[[ $(head -1 <<<"$OUT") == *": 2 changes" && $(tail -1 <<<"$OUT") == *": 1 changes" ]] ||
  { printf 'FAIL: change counts\n%s\n' "$OUT"; exit 1; }
LAST=$(tail -1 <<<"$OUT" | sed 's/.* at \([0-9A-F/]*\):.*/\1/')
CONFIRMED=$($PSQL "$CONNINFO" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'example'")
[[ "$CONFIRMED" == "$LAST" ]] || { echo "FAIL: slot confirmed $CONFIRMED, last commit $LAST"; exit 1; }
# A missing slot: the error names it and the flag.
if ERR=$("$BIN" "$CONNINFO" nosuch 2>&1); then echo "FAIL: exit 0 without a slot"; exit 1; fi
[[ "$ERR" == *'"nosuch"'*--create-slot* ]] || { echo "FAIL: $ERR"; exit 1; }
$PSQL "$CONNINFO" -c "SELECT pg_drop_replication_slot('example')"

# print_batches runs a Pipeline on a slot up to an end position: the rows come
# out, and the slot is confirmed through the last durable commit (or, once
# everything read was loaded, the WAL position read through).
PRINT=${TEST_SRCDIR:?}/re_dms/examples/print_batches
$PSQL "$CONNINFO" -c "SELECT 1 FROM pg_create_logical_replication_slot('pipeline_$$', 'test_decoding')"
$PSQL "$CONNINFO" -c "INSERT INTO t VALUES (10), (11)"
$PSQL "$CONNINFO" -c "DELETE FROM t WHERE id = 10"
END=$($PSQL "$CONNINFO" -c "SELECT pg_current_wal_insert_lsn()")
OUT=$(timeout 60 "$PRINT" "$CONNINFO" "pipeline_$$" "$END")
grep -q '^  upsert "11"$' <<<"$OUT" && grep -q '^  delete "10"$' <<<"$OUT" ||
  { printf 'FAIL: print_batches on a slot printed\n%s\n' "$OUT"; exit 1; }
DURABLE=$(grep '^durable through commit #[0-9]* at ' <<<"$OUT" | tail -1 | sed 's/.* at //')
CONFIRMED=$($PSQL "$CONNINFO" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'pipeline_$$'")
[[ -n "$DURABLE" && $($PSQL "$CONNINFO" -c "SELECT '$CONFIRMED'::pg_lsn >= '$DURABLE'::pg_lsn") == t ]] ||
  { printf 'FAIL: slot confirmed %s, durable %s:\n%s\n' "$CONFIRMED" "$DURABLE" "$OUT"; exit 1; }
$PSQL "$CONNINFO" -c "SELECT pg_drop_replication_slot('pipeline_$$')"
echo PASS
