#!/usr/bin/env bash
# A pipe restarted from an older position replays transactions re_dms had
# loaded already (pg_recvlogical confirms only every few seconds). For keyed
# tables that must do no harm: each run below feeds re_dms, through a pipe, a
# stream that begins with what the previous run loaded, and the target must
# equal what the stream's last commit says.
set -uo pipefail

RE_DMS=${TEST_SRCDIR:?}/re_dms/cli/re_dms
fail() { echo "FAIL: $*"; exit 1; }
[[ -x "$RE_DMS" ]] || fail "no re_dms binary at $RE_DMS"
: "${RE_DMS_TEST_PG_CONNINFO:?RE_DMS_TEST_PG_CONNINFO is not set: run through ./scripts/test}"
: "${RE_DMS_TEST_S3_ENDPOINT:?RE_DMS_TEST_S3_ENDPOINT is not set: run through ./scripts/test}"
PG_BIN=${RE_DMS_TEST_PG_BIN:?RE_DMS_TEST_PG_BIN is not set: run through ./scripts/test}
SERVER=$RE_DMS_TEST_PG_CONNINFO
RUN=replay_$$_$RANDOM
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli_replay.XXXXXX")
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

psql_db() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER dbname=$db" "$@"; }
cleanup() {
  for db in src tgt; do
    "$PG_BIN/psql" -X -q "$SERVER" -c "DROP DATABASE IF EXISTS ${RUN}_$db WITH (FORCE)" >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for db in src tgt; do "$PG_BIN/psql" -X -q "$SERVER" -c "CREATE DATABASE ${RUN}_$db" || fail "createdb"; done
psql_db "${RUN}_src" -c "CREATE TABLE t (id integer PRIMARY KEY, v text)" || fail "create table"
BUCKET=re-dms-${RUN//_/-}
curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

# Feeds stdin to one run of re_dms, which must exit 0.
run=0
feed() {
  run=$((run + 1))
  "$RE_DMS" --source="$SERVER dbname=${RUN}_src" --target="$SERVER dbname=${RUN}_tgt" \
    --target-dialect=postgres --s3-bucket="$BUCKET" --s3-prefix="run$run" \
    --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT" --s3-region=us-east-1 2>"$WORK/run$run.log" ||
    fail "run $run exited $?: $(tail -n 3 "$WORK/run$run.log")"
}
rows() { psql_db "${RUN}_tgt" -At -c "SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ',' ORDER BY id) FROM public.t"; }
insert() { echo "table public.t: INSERT: id[integer]:$1 v[text]:'$2'"; }
delete() { echo "table public.t: DELETE: id[integer]:$1"; }
rekey() { echo "table public.t: UPDATE: old-key: id[integer]:$1 new-tuple: id[integer]:$2 v[text]:'$3'"; }

T100="BEGIN 100
$(insert 5 five)
$(insert 7 seven)
$(insert 9 "O''Brien")
COMMIT 100"
printf '%s\n' "$T100" | feed
[[ "$(rows)" == "5=five,7=seven,9=O'Brien" ]] || fail "after the first run the target holds '$(rows)'"

# The replay of 100, then: delete 5; key change 7 -> 8.
T101="BEGIN 101
$(delete 5)
$(rekey 7 8 eight)
COMMIT 101"
printf '%s\n' "$T100" "$T101" | feed
[[ "$(rows)" == "8=eight,9=O'Brien" ]] || fail "after replaying 100 with 101 the target holds '$(rows)'"

# Both again, then 102 re-inserts 5, and the replay of an insert + delete of
# 11 within one transaction.
T102="BEGIN 102
$(insert 5 again)
$(insert 11 eleven)
$(delete 11)
COMMIT 102"
printf '%s\n' "$T100" "$T101" "$T102" | feed
[[ "$(rows)" == "5=again,8=eight,9=O'Brien" ]] || fail "after replaying 100-101 with 102 the target holds '$(rows)'"
printf '%s\n' "$T101" "$T102" | feed
[[ "$(rows)" == "5=again,8=eight,9=O'Brien" ]] || fail "after replaying 101-102 the target holds '$(rows)'"
echo PASS
