#!/usr/bin/env bash
# scripts/redshift-check against PostgreSQL (--target-dialect=postgres), on the
# servers scripts/services starts: the check users run against their Redshift
# cluster reads the end-to-end test's inputs, so it runs here too and cannot
# rot. Every line must be `equal` (a PostgreSQL target keeps every value), the
# scratch source database and target schema must be gone afterwards.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for var in RE_DMS_TEST_PG_CONNINFO RE_DMS_TEST_PG_BIN RE_DMS_TEST_S3_ENDPOINT; do
  [[ -n "${!var:-}" ]] || fail "$var is not set: start the test servers with scripts/services (DEVELOPERS.md)"
done
ROOT=${TEST_SRCDIR:?run under bazel test}/re_dms
SERVER=$RE_DMS_TEST_PG_CONNINFO
psql_server() { "$RE_DMS_TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$SERVER" "$@"; }

RUN=rscheck_$$_$RANDOM
BUCKET=re-dms-${RUN//_/-}
TARGET_DB=${RUN}_tgt
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
cleanup() { psql_server -c "DROP DATABASE IF EXISTS $TARGET_DB WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"
psql_server -c "CREATE DATABASE $TARGET_DB"
# The target session runs in another zone than UTC: applied_at must still be UTC.
psql_server -c "ALTER DATABASE $TARGET_DB SET TimeZone = 'America/New_York'"

OUT=$TEST_TMPDIR/report
RE_DMS_BIN=$ROOT/cli/re_dms python3 "$ROOT/scripts/redshift-check" \
  --target="$SERVER dbname=$TARGET_DB" --target-dialect=postgres --source-server="$SERVER" \
  --s3-bucket="$BUCKET" --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT" --s3-region=us-east-1 \
  >"$OUT" 2>&1 && rc=0 || rc=$?
cat "$OUT"
((rc == 0)) || fail "redshift-check exited $rc"
grep -q '(c_varchar) *equal' "$OUT" ||
  fail "no per-type line for c_varchar"
grep -q 'public.item_string_keys *equal' "$OUT" || fail "no line for item_string_keys"
grep -q 'checkpoint applied_at is UTC *equal' "$OUT" || fail "no applied_at line"
if grep -Eq ' (differs|refused)(: |$)' "$OUT"; then fail "something differs on PostgreSQL"; fi
lines=$(grep -c ' equal$' "$OUT")
((lines >= 45)) || fail "only $lines equal lines"
left=$(psql_server -c "SELECT count(*) FROM pg_database WHERE datname LIKE 're_dms_check_%'")
[[ "$left" == 0 ]] || echo "note: $left re_dms_check_ databases exist (maybe of a concurrent run)"
schemas=$("$RE_DMS_TEST_PG_BIN/psql" -X -At "$SERVER dbname=$TARGET_DB" -c \
  "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 're_dms_check_%'")
[[ "$schemas" == 0 ]] || fail "the target schema was not dropped"
echo "PASS: $lines lines equal"
