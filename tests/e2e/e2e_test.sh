#!/usr/bin/env bash
# The end-to-end test: a real PostgreSQL source with a test_decoding slot ->
# pg_recvlogical -> re_dms -> S3 (s3rver) -> PostgreSQL target (another
# database of the same server), on the servers scripts/services starts.
#
# 1. Live: five psql sessions run the workload_*.sql files concurrently while
#    the pipe streams; when every target table equals its source (polled, with
#    a bound), pg_recvlogical is stopped and re_dms must drain and exit 0.
# 2. Broken input, from captured stream parts: a stream cut in the middle of a
#    record (into a target an earlier run loaded), and garbage inside a
#    transaction. re_dms must exit 1 with an error naming the byte offset and
#    line where the input broke, and the target must equal the source as of
#    the last complete transaction before the break: what came before is
#    loaded, nothing of the broken transaction is.
# 3. Tables dropped before re_dms reads their changes, among others: exit 0,
#    a warning per dropped table, every other table equal to its source.
#
# Needs RE_DMS_TEST_PG_CONNINFO, RE_DMS_TEST_PG_BIN and RE_DMS_TEST_S3_ENDPOINT
# (fails without them). Under Bazel the re_dms binary comes from the data
# dependency; elsewhere set RE_DMS_BIN.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for var in RE_DMS_TEST_PG_CONNINFO RE_DMS_TEST_PG_BIN RE_DMS_TEST_S3_ENDPOINT; do
  [[ -n "${!var:-}" ]] || fail "$var is not set: start the test servers with scripts/services (DEVELOPERS.md)"
done

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  HERE=$TEST_SRCDIR/re_dms/tests/e2e
  RE_DMS=${RE_DMS_BIN:-$TEST_SRCDIR/re_dms/cli/re_dms}
else
  HERE=$(cd "$(dirname "$0")" && pwd)
  RE_DMS=${RE_DMS_BIN:?set RE_DMS_BIN to the re_dms binary when running outside Bazel}
fi
[[ -x "$RE_DMS" ]] || fail "no re_dms binary at $RE_DMS"
PG_BIN=$RE_DMS_TEST_PG_BIN
SERVER=$RE_DMS_TEST_PG_CONNINFO
# shellcheck source=tests/e2e/table_compare.sh
source "$HERE/table_compare.sh"
# re_dms runs with --target-schema=public: every table lands in public.
COMPARE_TARGET_SCHEMA=public

WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/e2e.XXXXXX")
RUN=e2e_$$_$RANDOM
BUCKET=re-dms-${RUN//_/-}
# s3rver accepts any credentials; re_dms reads them from the environment.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

PIDS=()
DATABASES=()
SLOTS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for slot in "${SLOTS[@]}"; do
    psql_server -c "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots
                    WHERE slot_name = '$slot'" >/dev/null 2>&1 || true
  done
  for db in "${DATABASES[@]}"; do
    psql_server -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

psql_server() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER" "$@"; }
psql_db() {
  local db=$1
  shift
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER dbname=$db" "$@"
}
conninfo() { echo "$SERVER dbname=$1"; }

# Creates database $1 (dropped on exit), with the session settings $2.
create_database() {
  psql_server -c "CREATE DATABASE $1"
  DATABASES+=("$1")
  if [[ -n "${2:-}" ]]; then psql_server -c "ALTER DATABASE $1 SET $2"; fi
}

# Creates the test_decoding slot $2 in database $1 (dropped on exit).
create_slot() {
  psql_db "$1" -c "SELECT pg_create_logical_replication_slot('$2', 'test_decoding')" >/dev/null
  SLOTS+=("$2")
}

# Sets ARGS to re_dms's flags for target database $1 and S3 prefix $2.
re_dms_args() {
  ARGS=(--source="$(conninfo "$SOURCE")" --target="$(conninfo "$1")"
        --target-schema=public --target-dialect=postgres
        --s3-bucket="$BUCKET" --s3-prefix="$2" --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT"
        --s3-region=us-east-1 --flush-interval=1s)
}

curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

# --- 1. Live ----------------------------------------------------------------
# The source prints timestamps at a half-hour offset and the target runs in
# another zone: instants must survive both.
SOURCE=${RUN}_src
TARGET=${RUN}_tgt
create_database "$SOURCE" "TimeZone = 'Asia/Kolkata'"
create_database "$TARGET" "TimeZone = 'America/New_York'"
psql_db "$SOURCE" -f "$HERE/schema.sql"
create_slot "$SOURCE" "${RUN}_live"

mkfifo "$WORK/stream"
"$PG_BIN/pg_recvlogical" -d "$(conninfo "$SOURCE")" --slot="${RUN}_live" --start --no-loop \
  -o include-timestamp=1 -f - >"$WORK/stream" 2>"$WORK/pg_recvlogical.log" &
RECV_PID=$!
PIDS+=("$RECV_PID")
re_dms_args "$TARGET" live
"$RE_DMS" "${ARGS[@]}" <"$WORK/stream" 2>"$WORK/re_dms.log" &
RE_DMS_PID=$!
PIDS+=("$RE_DMS_PID")

echo "running the workload: five concurrent sessions"
SESSIONS=()
for session in types docs keys bulk ddl; do
  psql_db "$SOURCE" -f "$HERE/workload_$session.sql" >"$WORK/session_$session.log" 2>&1 &
  SESSIONS+=("$!:$session")
done
for entry in "${SESSIONS[@]}"; do
  wait "${entry%%:*}" || fail "workload session ${entry#*:} failed: $(cat "$WORK/session_${entry#*:}.log")"
done

echo "waiting for the target to catch up"
deadline=$((SECONDS + 240))
until compare_all_equal "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")"; do
  if ! kill -0 "$RE_DMS_PID" 2>/dev/null; then
    wait "$RE_DMS_PID" && rc=0 || rc=$?
    fail "re_dms exited ($rc) before the target caught up:
$(tail -n 30 "$WORK/re_dms.log")"
  fi
  if ((SECONDS >= deadline)); then
    compare_report "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")" || true
    fail "the target did not equal the source within 240 s; re_dms log:
$(tail -n 30 "$WORK/re_dms.log")"
  fi
  sleep 0.5
done
compare_report "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")"

# End of input: pg_recvlogical stops on SIGINT and closes the pipe; re_dms
# must load what it read and exit 0.
kill -INT "$RECV_PID"
wait "$RECV_PID" || true
wait "$RE_DMS_PID" && rc=0 || rc=$?
((rc == 0)) || fail "re_dms exited $rc at the end of its input:
$(tail -n 30 "$WORK/re_dms.log")"
PIDS=()
compare_all_equal "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")" ||
  fail "the target changed after re_dms drained"
# The batches went through S3 (re_dms keeps loaded objects by default).
objects=$(curl -fsS "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET?list-type=2&prefix=live/" | grep -o '<Key>' | wc -l)
((objects > 0)) || fail "no staged objects under s3://$BUCKET/live/"
echo "staged through S3: $objects objects under s3://$BUCKET/live/"
echo "PASS live: every table equals its source"

# --- 2. Broken input ----------------------------------------------------------
# The source is captured in three parts, each up to the WAL position after its
# phase: part 1 and part 2 are complete transactions, part 3 is the
# transaction the input breaks in.
SOURCE=${RUN}_brk
create_database "$SOURCE" "TimeZone = 'Asia/Kolkata'"
psql_db "$SOURCE" -f "$HERE/schema.sql"
create_slot "$SOURCE" "${RUN}_brk"

# pg_logical_slot_get_changes decodes only WAL that is flushed, and the
# servers run with synchronous_commit = off: so the sessions of this part
# commit synchronously, and every commit is in the capture that follows it.
export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=on"

# Captures every change the slot holds so far into $1, byte for byte as
# pg_recvlogical writes them (each message followed by a newline): psql's
# unaligned output prints values verbatim. Not `pg_recvlogical --endpos`: on
# PostgreSQL 15 it can quit on a keepalive past the end position while output
# is still in flight, and the capture would end inside a transaction.
capture() {
  psql_db "$SOURCE" -At -c "SELECT data FROM pg_logical_slot_get_changes('${RUN}_brk', NULL, NULL,
    'include-timestamp', '1')" >"$1"
}

psql_db "$SOURCE" -f "$HERE/workload_types.sql"
capture "$WORK/part1"
psql_db "$SOURCE" -f "$HERE/workload_keys.sql"
capture "$WORK/part2"
compare_snapshot "$(conninfo "$SOURCE")" "$WORK/before_break"
psql_db "$SOURCE" <<'SQL'
BEGIN;
INSERT INTO public.scratch VALUES (900, 'first of the broken transaction', NULL);
INSERT INTO public.scratch VALUES (901, E'a value that spans\nlines: cut-here and more\n', 'x');
UPDATE "Weird Schema"."Mixed Case" SET "from" = 'must not land' WHERE "select" = 1;
DELETE FROM public.order_lines WHERE order_id = 1;
COMMIT;
SQL
capture "$WORK/part3"
grep -q 'cut-here' "$WORK/part3" || fail "part 3 of the stream lacks its marker"

# Runs re_dms into target $1 (prefix $2) on stdin: it must exit 1 with an
# error that says where the input broke. Prints that error.
expect_failure() {
  local log=$WORK/$2.log rc
  re_dms_args "$1" "$2"
  "$RE_DMS" "${ARGS[@]}" 2>"$log" && rc=0 || rc=$?
  ((rc == 1)) || fail "$2: re_dms exited $rc on broken input, not 1: $(tail -n 5 "$log")"
  grep -Eq 'ERROR.*byte offset [0-9]+, line [0-9]+' "$log" ||
    fail "$2: re_dms's error does not name the byte offset and line: $(tail -n 5 "$log")"
  echo "$2: exit $rc: $(grep 'ERROR' "$log" | tail -n 1)"
}

# Cut inside a multi-line quoted value, after part 1 was loaded by an earlier
# run that ended cleanly.
create_database "${RUN}_cut"
re_dms_args "${RUN}_cut" cut-first
"$RE_DMS" "${ARGS[@]}" <"$WORK/part1" 2>"$WORK/cut-first.log" ||
  fail "loading part 1 failed: $(tail -n 5 "$WORK/cut-first.log")"
cut_at=$(($(grep -b -o 'cut-here' "$WORK/part3" | head -n 1 | cut -d: -f1) + 3))
cat "$WORK/part2" <(head -c "$cut_at" "$WORK/part3") | expect_failure "${RUN}_cut" cut
compare_snapshot_report "$WORK/before_break" "$(conninfo "${RUN}_cut")" ||
  fail "after a stream cut mid-record the target is not the source before the broken transaction"

# Garbage inside the broken transaction, after some of its valid changes.
create_database "${RUN}_garbage"
cat "$WORK/part1" "$WORK/part2" <(head -n 2 "$WORK/part3") \
  <(printf 'garbage \001\377 that is no test_decoding line\n') "$WORK/part3" |
  expect_failure "${RUN}_garbage" garbage
compare_snapshot_report "$WORK/before_break" "$(conninfo "${RUN}_garbage")" ||
  fail "after garbage on stdin the target is not the source before the broken transaction"

echo "PASS broken input: clear errors, targets equal the source before the break"

# --- 3. Tables the source no longer has ---------------------------------------
# A lagging replicator: tables written, then dropped before re_dms reads their
# changes, among other tables. re_dms must exit 0 with a warning naming each
# dropped table, and every table the source still has must equal its source.
SOURCE=${RUN}_drop
create_database "$SOURCE"
create_slot "$SOURCE" "${RUN}_drop"
psql_db "$SOURCE" <<'SQL'
CREATE TABLE public.kept_a (id int PRIMARY KEY, v text);
CREATE TABLE public.staging_gone (id int PRIMARY KEY, v text);
CREATE TABLE public.bag_gone (v text);
ALTER TABLE public.bag_gone REPLICA IDENTITY FULL;
CREATE TABLE public.kept_b (id int PRIMARY KEY, v text);
INSERT INTO public.kept_a VALUES (1, 'a'), (2, 'b');
INSERT INTO public.staging_gone SELECT g, 'row ' || g FROM generate_series(1, 50) g;
INSERT INTO public.bag_gone VALUES ('x'), ('x'), (NULL);
UPDATE public.staging_gone SET v = 'changed' WHERE id <= 10;
DELETE FROM public.staging_gone WHERE id > 40;
UPDATE public.staging_gone SET id = id + 100 WHERE id <= 5;
DELETE FROM public.bag_gone WHERE v = 'x';
INSERT INTO public.kept_b VALUES (1, 'c');
UPDATE public.kept_a SET v = 'b2' WHERE id = 2;
DROP TABLE public.staging_gone;
DROP TABLE public.bag_gone;
INSERT INTO public.kept_b VALUES (2, 'd');
DELETE FROM public.kept_a WHERE id = 1;
SQL
psql_db "$SOURCE" -At -c "SELECT data FROM pg_logical_slot_get_changes('${RUN}_drop', NULL, NULL,
  'include-timestamp', '1')" >"$WORK/dropped"
create_database "${RUN}_drop_tgt"
re_dms_args "${RUN}_drop_tgt" dropped
"$RE_DMS" "${ARGS[@]}" --flush-rows=1 <"$WORK/dropped" 2>"$WORK/dropped.log" && rc=0 || rc=$?
((rc == 0)) || fail "re_dms exited $rc on a stream of tables dropped since: $(tail -n 5 "$WORK/dropped.log")"
for table in staging_gone bag_gone; do
  grep -q "\"public\".\"$table\" no longer exists in the source" "$WORK/dropped.log" ||
    fail "no warning names the dropped table $table: $(tail -n 5 "$WORK/dropped.log")"
done
compare_all_equal "$(conninfo "$SOURCE")" "$(conninfo "${RUN}_drop_tgt")" || {
  compare_report "$(conninfo "$SOURCE")" "$(conninfo "${RUN}_drop_tgt")" || true
  fail "with dropped tables in the stream, the other tables differ from their source"
}
echo "PASS dropped tables: exit 0, warned, every other table equals its source"
