#!/usr/bin/env bash
# `re_dms` when S3 or the target stalls, against the real servers:
#   1. S3 black-holed (a listener that accepts and never answers): a second
#      SIGTERM cancels the upload in flight; exit 1 within 10 s, naming the
#      table not loaded.
#   2. The target table locked by another session (ACCESS EXCLUSIVE): a second
#      SIGINT cancels the statement waiting for the lock (PQcancel), rolls back;
#      exit 1 within 10 s.
#   3. --lock-timeout: each timeout is a retry warning naming the table and the
#      PID holding the lock, the status line says what is stalled since when,
#      and the batch loads once the lock is released.
#   4. The target's connections terminated: the retry is a warning, and the
#      batch loads.
# The 10 s bounds are generous on purpose: without the cancel, case 1 waits
# for S3's retry deadline (minutes) and case 2 for the lock (forever).
set -uo pipefail

RE_DMS=${TEST_SRCDIR:?}/re_dms/cli/re_dms
fail() { echo "FAIL: $*"; exit 1; }
[[ -x "$RE_DMS" ]] || fail "no re_dms binary at $RE_DMS"
: "${RE_DMS_TEST_PG_CONNINFO:?RE_DMS_TEST_PG_CONNINFO is not set: run through ./scripts/test}"
: "${RE_DMS_TEST_S3_ENDPOINT:?RE_DMS_TEST_S3_ENDPOINT is not set: run through ./scripts/test}"
PG_BIN=${RE_DMS_TEST_PG_BIN:?RE_DMS_TEST_PG_BIN is not set: run through ./scripts/test}
SERVER=$RE_DMS_TEST_PG_CONNINFO
RUN=stop_$$_$RANDOM
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli_stop.XXXXXX")
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
DBS=(src tgt1 tgt2 tgt3 tgt4)

psql_db() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER dbname=$db" "$@"; }
cleanup() {
  [[ -n "${PID:-}" ]] && kill -9 "$PID" 2>/dev/null
  [[ -n "${HOLE:-}" ]] && kill "$HOLE" 2>/dev/null
  [[ -n "${LOCKER:-}" ]] && kill "$LOCKER" 2>/dev/null
  exec 3>&- 2>/dev/null
  for db in "${DBS[@]}"; do
    "$PG_BIN/psql" -X -q "$SERVER" -c "DROP DATABASE IF EXISTS ${RUN}_$db WITH (FORCE)" >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for db in "${DBS[@]}"; do
  "$PG_BIN/psql" -X -q "$SERVER" -c "CREATE DATABASE ${RUN}_$db" || fail "createdb"
done
psql_db "${RUN}_src" -c "CREATE TABLE t (id integer PRIMARY KEY, v text)" || fail "create table"
BUCKET=re-dms-${RUN//_/-}
curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

# A TCP listener that accepts connections and never answers.
python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' >"$WORK/hole.port" &
HOLE=$!
for _ in $(seq 1 100); do [[ -s "$WORK/hole.port" ]] && break; sleep 0.1; done
HOLE_PORT=$(cat "$WORK/hole.port")
[[ -n "$HOLE_PORT" ]] || fail "the black-hole listener did not start"

# Starts re_dms into target $1 with S3 at $2 and extra flags; fd 3 writes the
# stream.
start() {
  local target=$1 endpoint=$2
  shift 2
  rm -f "$WORK/stream"
  mkfifo "$WORK/stream"
  "$RE_DMS" --source="$SERVER dbname=${RUN}_src" --target="$SERVER dbname=$target" \
    --target-dialect=postgres --s3-bucket="$BUCKET" --s3-prefix="$target" \
    --s3-endpoint="$endpoint" --s3-region=us-east-1 --status-interval=100ms \
    --flush-interval=100ms "$@" <"$WORK/stream" 2>"$WORK/$target.log" &
  PID=$!
  exec 3>"$WORK/stream"
}
# Waits until log $1 has a line matching $2.
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -q -- "$2" "$1" && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# Waits up to $1 seconds for re_dms to exit; sets RC (or fails).
exits_within() {
  for _ in $(seq 1 $(($1 * 10))); do
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID"
      RC=$?
      PID=
      exec 3>&-
      return 0
    fi
    sleep 0.1
  done
  return 1
}
rows() { psql_db "$1" -At -c "SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ',' ORDER BY id) FROM t"; }
# Backends of re_dms's loaders in database $1 waiting for a lock.
lock_waiters() {
  psql_db "$1" -At -c "SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 're_dms_loader' AND datname = '$1' AND wait_event_type = 'Lock'"
}
ONE="BEGIN 1\ntable public.t: INSERT: id[integer]:1 v[text]:'one'\nCOMMIT 1\n"

# 1. S3 black-holed, two SIGTERMs.
T=${RUN}_tgt1
start "$T" "http://127.0.0.1:$HOLE_PORT"
printf "$ONE" >&3
wait_for_log "$WORK/$T.log" 'in_flight=1' || fail "1: no batch in flight: $(cat "$WORK/$T.log")"
sleep 1  # The upload is waiting for an answer that never comes.
kill -TERM "$PID"
wait_for_log "$WORK/$T.log" 'stop requested' || fail "1: no stop logged"
kill -TERM "$PID"
exits_within 10 || fail "1: still running 10 s after the second SIGTERM with S3 black-holed: $(tail -n 3 "$WORK/$T.log")"
((RC == 1)) || fail "1: exit $RC, want 1: $(tail -n 3 "$WORK/$T.log")"
grep -q 'ERROR stopped on an error.*cancelled by a second stop request.*not loaded: public.t (1 batch' \
  "$WORK/$T.log" || fail "1: the error does not say what was not loaded: $(tail -n 2 "$WORK/$T.log")"

# 2. The target table locked, two SIGINTs while the load waits for the lock.
T=${RUN}_tgt2
psql_db "$T" -c "CREATE TABLE t (id integer PRIMARY KEY, v text)" || fail "2: create target table"
"$PG_BIN/psql" -X -q "$SERVER dbname=$T" \
  -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)" >/dev/null 2>&1 &
LOCKER=$!
start "$T" "$RE_DMS_TEST_S3_ENDPOINT"
printf "$ONE" >&3
for _ in $(seq 1 300); do [[ $(lock_waiters "$T") -ge 1 ]] && break; sleep 0.1; done
[[ $(lock_waiters "$T") -ge 1 ]] || fail "2: the load never waited for the lock: $(cat "$WORK/$T.log")"
kill -INT "$PID"
wait_for_log "$WORK/$T.log" 'stop requested' || fail "2: no stop logged"
kill -INT "$PID"
exits_within 10 || fail "2: still running 10 s after the second SIGINT with the table locked: $(tail -n 3 "$WORK/$T.log")"
((RC == 1)) || fail "2: exit $RC, want 1: $(tail -n 3 "$WORK/$T.log")"
grep -q 'ERROR stopped on an error.*cancelled by a second stop request.*not loaded: public.t' \
  "$WORK/$T.log" || fail "2: the error does not say what was not loaded: $(tail -n 2 "$WORK/$T.log")"
[[ $(lock_waiters "$T") == 0 ]] || fail "2: a statement still waits for the lock after the exit"
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=

# 3. --lock-timeout=1s: retries are warnings naming the table and the lock's
#    holder; once the lock is released the batch loads.
T=${RUN}_tgt3
psql_db "$T" -c "CREATE TABLE t (id integer PRIMARY KEY, v text)" || fail "3: create target table"
"$PG_BIN/psql" -X -q "$SERVER dbname=$T" \
  -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)" >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 1 100); do
  HOLDER=$(psql_db "$T" -At -c "SELECT pid FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock'
    AND relation = 't'::regclass")
  [[ -n "$HOLDER" ]] && break
  sleep 0.1
done
[[ -n "$HOLDER" ]] || fail "3: the lock was not taken"
start "$T" "$RE_DMS_TEST_S3_ENDPOINT" --lock-timeout=1s
printf "$ONE" >&3
wait_for_log "$WORK/$T.log" "WARN target retrying" || fail "3: no retry warning: $(cat "$WORK/$T.log")"
grep 'WARN target retrying' "$WORK/$T.log" | head -n 1 >"$WORK/warning"
for want in 'operation="load of table public.t batch 1' 'attempt=1 ' 'spent=' \
            'waiting for a lock on table public.t timed out after 1s' "t by PID $HOLDER (AccessExclusiveLock)"; do
  grep -qF -- "$want" "$WORK/warning" || fail "3: the retry warning lacks '$want': $(cat "$WORK/warning")"
done
wait_for_log "$WORK/$T.log" 'INFO status .*stalled="target load of table public.t batch 1.*stalled_since=' ||
  fail "3: the status line does not show the stall: $(grep status "$WORK/$T.log" | tail -n 1)"
psql_db "$T" -c "SELECT pg_terminate_backend($HOLDER)" >/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
wait_for_log "$WORK/$T.log" 'INFO loaded table=public.t' || fail "3: not loaded after the lock was released"
grep -q 'INFO target recovered' "$WORK/$T.log" || fail "3: the recovery is not logged"
exec 3>&-
exits_within 10 || fail "3: still running after the end of input"
((RC == 0)) || fail "3: exit $RC: $(tail -n 3 "$WORK/$T.log")"
[[ $(rows "$T") == "1=one" ]] || fail "3: the target holds '$(rows "$T")'"
# The last status lines, once loaded, show no stall.
grep 'INFO done' "$WORK/$T.log" | grep -q stalled && fail "3: a stall is still shown at the end"

# 4. The target's connections terminated: the load's retry is a warning.
T=${RUN}_tgt4
start "$T" "$RE_DMS_TEST_S3_ENDPOINT"
wait_for_log "$WORK/$T.log" 'started' || fail "4: re_dms did not start: $(cat "$WORK/$T.log")"
terminated=$(psql_db "$T" -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
  WHERE application_name = 're_dms_loader' AND datname = '$T'")
((terminated >= 1)) || fail "4: no loader connection to terminate"
printf "$ONE" >&3
wait_for_log "$WORK/$T.log" 'WARN target retrying' || fail "4: no retry warning: $(cat "$WORK/$T.log")"
grep 'WARN target retrying' "$WORK/$T.log" | head -n 1 |
  grep -q 'operation="load of table public.t batch 1.*attempt=1 .*cause=' ||
  fail "4: the warning lacks operation, attempt or cause: $(grep WARN "$WORK/$T.log")"
wait_for_log "$WORK/$T.log" 'INFO loaded table=public.t' || fail "4: not loaded after the retry"
exec 3>&-
exits_within 10 || fail "4: still running after the end of input"
((RC == 0)) || fail "4: exit $RC: $(tail -n 3 "$WORK/$T.log")"
[[ $(rows "$T") == "1=one" ]] || fail "4: the target holds '$(rows "$T")'"
echo PASS
