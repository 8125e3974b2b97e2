#!/usr/bin/env bash
# `re_dms` and SIGTERM/SIGINT, against the real servers: a stop inside a
# transaction reads on to its commit, loads everything read, and exits 0; a
# second signal inside a transaction exits 1 without loading it.
set -uo pipefail

RE_DMS=${TEST_SRCDIR:?}/re_dms/cli/re_dms
fail() { echo "FAIL: $*"; exit 1; }
[[ -x "$RE_DMS" ]] || fail "no re_dms binary at $RE_DMS"
: "${RE_DMS_TEST_PG_CONNINFO:?RE_DMS_TEST_PG_CONNINFO is not set: run through ./scripts/test}"
: "${RE_DMS_TEST_S3_ENDPOINT:?RE_DMS_TEST_S3_ENDPOINT is not set: run through ./scripts/test}"
PG_BIN=${RE_DMS_TEST_PG_BIN:?RE_DMS_TEST_PG_BIN is not set: run through ./scripts/test}
SERVER=$RE_DMS_TEST_PG_CONNINFO
RUN=sig_$$_$RANDOM
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli_signal.XXXXXX")
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

psql_db() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER dbname=$db" "$@"; }
cleanup() {
  [[ -n "${PID:-}" ]] && kill "$PID" 2>/dev/null
  exec 3>&- 2>/dev/null
  for db in src tgt1 tgt2; do
    "$PG_BIN/psql" -X -q "$SERVER" -c "DROP DATABASE IF EXISTS ${RUN}_$db WITH (FORCE)" >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for db in src tgt1 tgt2; do "$PG_BIN/psql" -X -q "$SERVER" -c "CREATE DATABASE ${RUN}_$db" || fail "createdb"; done
psql_db "${RUN}_src" -c "CREATE TABLE t (id integer PRIMARY KEY, v text)" || fail "create table"
BUCKET=re-dms-${RUN//_/-}
curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

# Starts re_dms into target $1 reading the fifo; fd 3 writes the stream.
start() {
  rm -f "$WORK/stream"
  mkfifo "$WORK/stream"
  "$RE_DMS" --source="$SERVER dbname=${RUN}_src" --target="$SERVER dbname=$1" \
    --target-dialect=postgres --s3-bucket="$BUCKET" --s3-prefix="$1" \
    --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT" --s3-region=us-east-1 --status-interval=100ms \
    <"$WORK/stream" 2>"$WORK/$1.log" &
  PID=$!
  exec 3>"$WORK/stream"
}
# Waits until re_dms's log has a line matching $2 (log $1).
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -q "$2" "$1" && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
rows() { psql_db "$1" -At -c "SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ',' ORDER BY id) FROM t"; }

# 1. One SIGTERM inside transaction 2: it is read to its commit and loaded;
#    transaction 3, sent after, is not read.
start "${RUN}_tgt1"
printf "BEGIN 1\ntable public.t: INSERT: id[integer]:1 v[text]:'one'\nCOMMIT 1\n" >&3
printf "BEGIN 2\ntable public.t: INSERT: id[integer]:2 v[text]:null\n" >&3
wait_for_log "$WORK/${RUN}_tgt1.log" 'started' || fail "re_dms did not start: $(cat "$WORK/${RUN}_tgt1.log")"
sleep 0.5  # Let it read what was written; the result does not depend on it.
kill -TERM "$PID"
wait_for_log "$WORK/${RUN}_tgt1.log" 'stop requested' || fail "no stop logged: $(cat "$WORK/${RUN}_tgt1.log")"
printf "table public.t: INSERT: id[integer]:3 v[text]:'O''Brien'\nCOMMIT 2\n" >&3
printf "BEGIN 3\ntable public.t: INSERT: id[integer]:4 v[text]:'after the stop'\nCOMMIT 3\n" >&3
wait "$PID"
rc=$?
PID=
exec 3>&-
((rc == 0)) || fail "exit $rc after SIGTERM, want 0: $(tail -n 5 "$WORK/${RUN}_tgt1.log")"
got=$(rows "${RUN}_tgt1")
[[ "$got" == "1=one,2=NULL,3=O'Brien" ]] || fail "after SIGTERM the target holds '$got'"
# The status line (printed while it ran, which was over half a second) and
# the last line carry the figures.
grep -Eq 'INFO status changes=[0-9]+ changes_per_s=[0-9]+ batches_loaded=[0-9]+ .*tables=[0-9]+ .*durable=.* lag=' \
  "$WORK/${RUN}_tgt1.log" || fail "no status line: $(cat "$WORK/${RUN}_tgt1.log")"
grep -Eq 'INFO done changes=3 .*batches_loaded=1 .*tables=1 .*durable="commit #2' \
  "$WORK/${RUN}_tgt1.log" || fail "final line: $(tail -n 1 "$WORK/${RUN}_tgt1.log")"

# 2. Two SIGINTs inside a transaction: exit 1, the transaction not loaded,
#    the committed one before it (same table) loaded.
start "${RUN}_tgt2"
printf "BEGIN 1\ntable public.t: INSERT: id[integer]:1 v[text]:'one'\nCOMMIT 1\n" >&3
wait_for_log "$WORK/${RUN}_tgt2.log" 'started' || fail "re_dms did not start: $(cat "$WORK/${RUN}_tgt2.log")"
printf "BEGIN 2\ntable public.t: INSERT: id[integer]:2 v[text]:'open'\n" >&3
sleep 0.5
kill -INT "$PID"
wait_for_log "$WORK/${RUN}_tgt2.log" 'stop requested' || fail "no stop logged"
kill -INT "$PID"
wait "$PID"
rc=$?
PID=
exec 3>&-
((rc == 1)) || fail "exit $rc after two SIGINTs inside a transaction, want 1"
grep -q 'ERROR.*second request' "$WORK/${RUN}_tgt2.log" ||
  fail "no error naming the second request: $(tail -n 3 "$WORK/${RUN}_tgt2.log")"
# The open transaction was held apart until its COMMIT: the committed row
# loads, the open one does not.
got=$(rows "${RUN}_tgt2")
[[ "$got" == "1=one" ]] || fail "after the second SIGINT the target holds '$got'"
echo PASS
