#!/usr/bin/env bash
# DDL capture end to end (issue 14): `re_dms ddl-capture install` at a
# scratch source, then a workload of DDL between and inside transactions --
# a rename, tables swapped by renames in one transaction, a column dropped
# and added again, a renamed column, a table dropped and re-created with
# another key, CREATE TABLE AS after a drop, a changed column type, a
# renamed schema move -- read afterwards by re_dms on its own slot
# (--endpos), through S3 (s3rver) into a PostgreSQL target. Every source
# table must equal its target table, under its source name, and the old
# names must be gone. Then `re_dms ddl-capture uninstall` leaves nothing.
# Under Bazel the re_dms binary comes from the data dependency; elsewhere set
# RE_DMS_BIN.
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
COMPARE_OPTIONS=$PGOPTIONS
unset PGOPTIONS

WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ddlcap.XXXXXX")
RUN=ddl_$$_$RANDOM
SOURCE=${RUN}_src
TARGET=${RUN}_tgt
SLOT=${RUN}_slot
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

psql_server() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER" "$@"; }
psql_db() {
  local db=$1
  shift
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$SERVER dbname=$db" "$@"
}
conninfo() { echo "$SERVER dbname=$1"; }
cleanup() {
  psql_server -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                  WHERE slot_name IN ('$SLOT', '${SLOT}_replay')" >/dev/null 2>&1 || true
  psql_server -c "DROP DATABASE IF EXISTS $SOURCE WITH (FORCE)" >/dev/null 2>&1 || true
  psql_server -c "DROP DATABASE IF EXISTS $TARGET WITH (FORCE)" >/dev/null 2>&1 || true
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

psql_server -c "CREATE DATABASE $SOURCE" -c "CREATE DATABASE $TARGET"
BUCKET=re-dms-${RUN//_/-}
curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"
psql_db "$SOURCE" <<'SQL'
CREATE TABLE public.kept (id int PRIMARY KEY, v text);
CREATE SCHEMA other;
SQL
"$RE_DMS" ddl-capture install --source="$(conninfo "$SOURCE")" 2>"$WORK/install.log" ||
  fail "ddl-capture install: $(cat "$WORK/install.log")"
psql_db "$SOURCE" -c "SELECT pg_create_logical_replication_slot('$SLOT', 'test_decoding')" >/dev/null
# A second slot from the same start replays everything into the same target
# at the end, as after a crash that lost every acknowledgement.
psql_db "$SOURCE" -c "SELECT pg_create_logical_replication_slot('${SLOT}_replay', 'test_decoding')" >/dev/null

# A first part, loaded before the DDL, so the renames and drops meet target
# tables with rows.
psql_db "$SOURCE" <<'SQL'
CREATE TABLE public.rn (id int PRIMARY KEY, v text);
CREATE TABLE public.sw (id int PRIMARY KEY, v text);
CREATE TABLE public.sw_next (id int PRIMARY KEY, v text);
CREATE TABLE public.da (id int PRIMARY KEY, c text, n int);
CREATE TABLE public.rc (id int PRIMARY KEY, k int);
CREATE TABLE public.ty (id int PRIMARY KEY, n int, s text);
CREATE TABLE public.mv (id int PRIMARY KEY, v text);
INSERT INTO public.kept SELECT g, 'k' || g FROM generate_series(1, 50) g;
INSERT INTO public.rn VALUES (1, 'O''Brien'), (2, E'line\nbreak'), (3, NULL);
INSERT INTO public.sw VALUES (1, 'old');
INSERT INTO public.sw_next VALUES (2, 'new');
INSERT INTO public.da VALUES (1, 'x', 1), (2, 'y', 2);
INSERT INTO public.rc VALUES (1, 10), (2, 20);
INSERT INTO public.ty VALUES (1, 5, '7'), (2, 6, '8');
INSERT INTO public.mv VALUES (1, 'moves');
SQL
MID=$(psql_db "$SOURCE" -At -c "SELECT pg_current_wal_insert_lsn()")
ARGS=(--source="$(conninfo "$SOURCE")" --target="$(conninfo "$TARGET")"
      --target-dialect=postgres --include-tables='public.*,other.*'
      --s3-bucket="$BUCKET" --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT"
      --s3-region=us-east-1 --flush-interval=1s --slot="$SLOT")
timeout 120 "$RE_DMS" "${ARGS[@]}" --endpos="$MID" </dev/null 2>"$WORK/first.log" ||
  fail "first run exited $?: $(tail -n 5 "$WORK/first.log")"

psql_db "$SOURCE" <<'SQL'
ALTER TABLE public.rn RENAME TO rn2;
INSERT INTO public.rn2 VALUES (4, 'after');
UPDATE public.rn2 SET v = 'changed' WHERE id = 1;
BEGIN;
ALTER TABLE public.sw RENAME TO sw_old;
ALTER TABLE public.sw_next RENAME TO sw;
INSERT INTO public.sw VALUES (3, 'newer');
COMMIT;
DROP TABLE public.sw_old;
ALTER TABLE public.da DROP COLUMN c;
ALTER TABLE public.da ADD COLUMN c text;
INSERT INTO public.da VALUES (3, 3, 'z');
ALTER TABLE public.da DROP COLUMN n, ADD COLUMN n int DEFAULT 7;
DROP TABLE public.rc;
CREATE TABLE public.rc (k int PRIMARY KEY, id int);
INSERT INTO public.rc VALUES (10, 1), (30, 3);
UPDATE public.rc SET k = 31 WHERE k = 30;
ALTER TABLE public.ty ALTER COLUMN n TYPE bigint, ALTER COLUMN s TYPE int USING s::int;
INSERT INTO public.ty VALUES (3, 30000000000, 9);
ALTER TABLE public.ty RENAME COLUMN s TO s2;
UPDATE public.ty SET s2 = 10 WHERE id = 1;
ALTER TABLE public.mv SET SCHEMA other;
INSERT INTO other.mv VALUES (2, 'moved');
BEGIN;
CREATE TABLE public.ctas AS SELECT g AS id, 'row ' || g AS v FROM generate_series(1, 5) g;
COMMIT;
UPDATE public.kept SET v = v || '!' WHERE id % 7 = 0;
SQL
END=$(psql_db "$SOURCE" -At -c "SELECT pg_current_wal_insert_lsn()")
timeout 120 "$RE_DMS" "${ARGS[@]}" --endpos="$END" </dev/null 2>"$WORK/second.log" ||
  fail "second run exited $?: $(tail -n 5 "$WORK/second.log")"

check_target() {
  PGOPTIONS=$COMPARE_OPTIONS compare_report "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")" ||
    fail "$1: the target does not equal the source"
  for gone in public.rn public.sw_next public.mv; do
    [[ "$(psql_db "$TARGET" -At -c "SELECT to_regclass('$gone') IS NULL")" == t ]] ||
      fail "$1: $gone is in the target"
  done
}
check_target "after the runs"
# --on-source-drop=keep (the default): the dropped table keeps its rows.
[[ "$(psql_db "$TARGET" -At -c "SELECT id || v FROM public.sw_old")" == 1old ]] ||
  fail "public.sw_old, dropped at the source, did not keep its row"
# Not vacuous: renamed tables kept the rows loaded before the rename.
[[ "$(psql_db "$TARGET" -At -c "SELECT v FROM public.rn2 WHERE id = 2")" == $'line\nbreak' ]] ||
  fail "public.rn2 lost the row loaded under its old name"
grep -v "RE_DMS_BIN" "$WORK/second.log" | grep -q " WARN " && fail "warnings with DDL capture: $(grep " WARN " "$WORK/second.log")"
echo "PASS DDL capture: renames, swaps, re-added and renamed columns, re-created tables, type changes, schema moves"

ARGS=("${ARGS[@]/--slot=$SLOT/--slot=${SLOT}_replay}")
timeout 120 "$RE_DMS" "${ARGS[@]}" --endpos="$END" </dev/null 2>"$WORK/replay.log" ||
  fail "the replay exited $?: $(tail -n 5 "$WORK/replay.log")"
check_target "after a replay of everything"
echo "PASS a replay of the whole stream changes nothing"

"$RE_DMS" ddl-capture uninstall --source="$(conninfo "$SOURCE")" 2>"$WORK/uninstall.log" ||
  fail "ddl-capture uninstall: $(cat "$WORK/uninstall.log")"
[[ "$(psql_db "$SOURCE" -At -c "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 're_dms%'")" == 0 ]] ||
  fail "event triggers left after uninstall"
[[ "$(psql_db "$SOURCE" -At -c "SELECT count(*) FROM pg_namespace WHERE nspname = 're_dms'")" == 0 ]] ||
  fail "schema re_dms left after uninstall"
echo "PASS ddl-capture uninstall"
