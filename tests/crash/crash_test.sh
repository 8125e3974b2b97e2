#!/usr/bin/env bash
# The crash test: re_dms on its own replication slot is killed (SIGKILL) at
# random moments while concurrent sessions write every kind of table, and
# restarted each time; now and then the source walsender or the target's
# backends are terminated instead, and S3 answers a share of requests with
# errors (tests/tools/fault_proxy.py). At the end one run with --endpos
# drains the rest, and every target table must equal its source, compared as
# text with NULL apart from ''.
#
# After every kill the slot's confirmed_flush_lsn is checked against what the
# target has committed: every workload transaction that committed before it
# (read from a second slot, which only peeks) must be in the target's
# `progress` table, which each transaction writes a row to.
#
# CRASH_KILLS (default 20) sets the number of kills; scripts/crash-test runs a
# long version. CRASH_DDL_CAPTURE=1 installs DDL capture at the source first,
# and the rare transactions then also rename a table away and back inside a
# transaction and drop and re-create another. Needs RE_DMS_TEST_PG_CONNINFO, RE_DMS_TEST_PG_BIN and
# RE_DMS_TEST_S3_ENDPOINT (fails without them).
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for var in RE_DMS_TEST_PG_CONNINFO RE_DMS_TEST_PG_BIN RE_DMS_TEST_S3_ENDPOINT; do
  [[ -n "${!var:-}" ]] || fail "$var is not set: start the test servers with scripts/services (DEVELOPERS.md)"
done
if [[ -n "${TEST_SRCDIR:-}" ]]; then
  ROOT=$TEST_SRCDIR/re_dms
  RE_DMS=${RE_DMS_BIN:-$ROOT/cli/re_dms}
else
  ROOT=$(cd "$(dirname "$0")/../.." && pwd)
  RE_DMS=${RE_DMS_BIN:?set RE_DMS_BIN to the re_dms binary when running outside Bazel}
fi
HERE=$ROOT/tests/crash
[[ -x "$RE_DMS" ]] || fail "no re_dms binary at $RE_DMS"
PG_BIN=$RE_DMS_TEST_PG_BIN
SERVER=$RE_DMS_TEST_PG_CONNINFO
KILLS=${CRASH_KILLS:-20}
# shellcheck source=tests/e2e/table_compare.sh
source "$ROOT/tests/e2e/table_compare.sh"

WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/crash.XXXXXX")
RUN=crash_$$_$RANDOM
BUCKET=re-dms-${RUN//_/-}
SOURCE=${RUN}_src
TARGET=${RUN}_tgt
SLOT=${RUN}
AUDIT=${RUN}_audit
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for slot in "$SLOT" "$AUDIT"; do
    psql_server -c "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots
                    WHERE slot_name = '$slot' AND NOT active" >/dev/null 2>&1 || true
  done
  for db in "$SOURCE" "$TARGET"; do
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

psql_server -c "CREATE DATABASE $SOURCE" -c "CREATE DATABASE $TARGET"
psql_db "$SOURCE" -f "$HERE/crash_schema.sql"
DDL_CAPTURE=${CRASH_DDL_CAPTURE:-0}
if ((DDL_CAPTURE)); then
  "$RE_DMS" ddl-capture install --source="$(conninfo "$SOURCE")" 2>>"$WORK/re_dms.log" ||
    fail "ddl-capture install failed: $(tail -n 3 "$WORK/re_dms.log")"
fi
psql_db "$SOURCE" -c "SELECT pg_create_logical_replication_slot('$SLOT', 'test_decoding')" \
  -c "SELECT pg_create_logical_replication_slot('$AUDIT', 'test_decoding')" >/dev/null

# S3 through a proxy that fails 5% of requests (500, SlowDown, dropped
# connections).
python3 "$ROOT/tests/tools/fault_proxy.py" --upstream "$RE_DMS_TEST_S3_ENDPOINT" --port 0 \
  --fail-rate 0.05 --modes 500,503,drop --seed "$RANDOM" >"$WORK/proxy.out" 2>"$WORK/proxy.log" &
PIDS+=("$!")
for _ in $(seq 100); do grep -q '^PORT ' "$WORK/proxy.out" 2>/dev/null && break; sleep 0.1; done
S3_PROXY=http://127.0.0.1:$(awk '/^PORT /{print $2}' "$WORK/proxy.out")
curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

ARGS=(--source="$(conninfo "$SOURCE")" --target="$(conninfo "$TARGET")" --slot="$SLOT"
      --target-dialect=postgres --s3-bucket="$BUCKET" --s3-endpoint="$S3_PROXY"
      --s3-region=us-east-1 --flush-interval=1s --flush-bytes=1MiB --ack-interval=300ms
      --status-interval=1h)

# Workload: two sessions of small random transactions, and session 0's rare
# ones (a transaction cut into several batches, TRUNCATE, ADD/DROP COLUMN).
STOP_WORKLOAD=$WORK/stop
session() {
  local s=$1 n=0 i sql
  while [[ ! -e $STOP_WORKLOAD ]]; do
    # Ten transactions a connection: psql sends each line on its own.
    sql=""
    for i in $(seq 10); do sql+="SELECT crash_step($s, $((n + i)));"$'\n'; done
    n=$((n + 10))
    "$PG_BIN/psql" -X -q "$SERVER dbname=$SOURCE" <<<"$sql" >/dev/null 2>>"$WORK/session_$s.log" || true
    if ((s == 1 && n % 100 == 0)); then
      psql_db "$SOURCE" -v n=$((n / 100)) -v ddl_capture="$DDL_CAPTURE" -f "$HERE/crash_rare.sql" \
        >/dev/null 2>>"$WORK/session_0.log"
    fi
  done
}
session 1 &
PIDS+=("$!")
WORKLOAD_PIDS=("$!")
session 2 &
PIDS+=("$!")
WORKLOAD_PIDS+=("$!")

# Every workload transaction committed before `confirmed_flush_lsn` must be in
# the target: its progress row, as the audit slot decodes it, must be there.
check_acknowledged() {
  local confirmed
  confirmed=$(psql_db "$SOURCE" -At -c "SELECT confirmed_flush_lsn FROM pg_replication_slots
                                         WHERE slot_name = '$SLOT'")
  psql_db "$SOURCE" -At -c "SELECT data FROM pg_logical_slot_peek_changes('$AUDIT', '$confirmed', NULL)
                            WHERE data LIKE 'table public.progress: INSERT:%'" |
    sed -E 's/.*session\[integer\]:([0-9]+) n\[integer\]:([0-9]+).*/\1 \2/' | sort -u >"$WORK/acked"
  psql_db "$TARGET" -At -F ' ' -c "SELECT session, n FROM public.progress" 2>/dev/null |
    sort -u >"$WORK/loaded" || : >"$WORK/loaded"
  local missing
  missing=$(comm -23 "$WORK/acked" "$WORK/loaded" | head -5)
  [[ -z $missing ]] || fail "confirmed_flush_lsn $confirmed is past what the target committed; \
transactions acknowledged but not loaded (session n): $missing"
  echo "  confirmed_flush_lsn $confirmed: $(wc -l <"$WORK/acked") acknowledged transactions, all loaded"
}

start_re_dms() {
  "$RE_DMS" "${ARGS[@]}" "$@" 2>>"$WORK/re_dms.log" &
  RE_DMS_PID=$!
}
start_re_dms
for kill in $(seq "$KILLS"); do
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 3 + (r % 500) / 100 }')"
  if ! kill -0 "$RE_DMS_PID" 2>/dev/null; then
    wait "$RE_DMS_PID" && rc=0 || rc=$?
    fail "re_dms exited ($rc) on its own:
$(tail -n 20 "$WORK/re_dms.log")"
  fi
  case $((kill % 6)) in
    2)
      echo "kill $kill: terminating the walsender"
      psql_db "$SOURCE" -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                            WHERE slot_name = '$SLOT' AND active_pid IS NOT NULL" >/dev/null
      ;;
    4)
      echo "kill $kill: terminating the target's backends"
      psql_server -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = '$TARGET' AND pid <> pg_backend_pid()" >/dev/null
      ;;
  esac
  echo "kill $kill: SIGKILL"
  kill -9 "$RE_DMS_PID"
  wait "$RE_DMS_PID" 2>/dev/null || true
  check_acknowledged
  start_re_dms
done

touch "$STOP_WORKLOAD"
for pid in "${WORKLOAD_PIDS[@]}"; do wait "$pid"; done
kill -9 "$RE_DMS_PID"
wait "$RE_DMS_PID" 2>/dev/null || true
check_acknowledged

END=$(psql_db "$SOURCE" -At -c "SELECT pg_current_wal_insert_lsn()")
echo "draining to --endpos=$END"
timeout 300 "$RE_DMS" "${ARGS[@]}" --endpos="$END" 2>>"$WORK/re_dms.log" && rc=0 || rc=$?
((rc == 0)) || fail "the --endpos run exited $rc:
$(tail -n 20 "$WORK/re_dms.log")"
check_acknowledged
compare_report "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")" ||
  fail "the target differs from the source after $KILLS kills"
rows=$(psql_db "$SOURCE" -At -c "SELECT count(*) FROM progress")
echo "PASS: $KILLS kills, $rows workload transactions, every table equals its source"
