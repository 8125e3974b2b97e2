#!/usr/bin/env bash
# `re_dms` flag handling: a bad flag or combination is one line on stderr and
# exit 2 before anything starts; RE_DMS_* environment variables set flags and
# command-line flags win; --help is grouped for people; conninfo passwords
# never reach the log.
set -uo pipefail

RE_DMS=${TEST_SRCDIR:?}/re_dms/cli/re_dms
[[ -x "$RE_DMS" ]] || { echo "FAIL: no re_dms binary at $RE_DMS"; exit 1; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A source nobody listens on: connecting fails at once.
DEAD="host=127.0.0.1 port=1 connect_timeout=2"
REQUIRED=(--source="$DEAD" --target="$DEAD" --s3-bucket=b --s3-region=us-east-1)

# Runs re_dms with "$@" (stdin from /dev/null); sets RC and ERR.
run() {
  ERR=$("$RE_DMS" "$@" </dev/null 2>&1 >/dev/null)
  RC=$?
}

# expect_usage_error "<substring>" args...: exit 2, one line naming the problem.
expect_usage_error() {
  local want=$1
  shift
  run "$@"
  ((RC == 2)) || fail "re_dms $*: exit $RC, want 2 (stderr: $ERR)"
  [[ $(printf '%s\n' "$ERR" | wc -l) -eq 1 ]] || fail "re_dms $*: not one line: $ERR"
  [[ "$ERR" == *"$want"* ]] || fail "re_dms $*: '$ERR' does not mention '$want'"
}

expect_usage_error "--source is required" --target=x --s3-bucket=b
expect_usage_error "--target is required" --source=x --s3-bucket=b
expect_usage_error "--s3-bucket is required" --source=x --target=y
expect_usage_error "unknown flag --s3-buckett" "${REQUIRED[@]}" --s3-buckett=b
expect_usage_error "unexpected argument" "${REQUIRED[@]}" stray
expect_usage_error "--compression=lz4: expected zstd, gzip or none" "${REQUIRED[@]}" --compression=lz4
expect_usage_error "--log-format=xml" "${REQUIRED[@]}" --log-format=xml
expect_usage_error "--target-dialect=oracle" "${REQUIRED[@]}" --target-dialect=oracle
expect_usage_error "--workers must be between 1 and 64" "${REQUIRED[@]}" --workers=0
expect_usage_error "--workers" "${REQUIRED[@]}" --workers=many
expect_usage_error "--flush-bytes=lots" "${REQUIRED[@]}" --flush-bytes=lots
expect_usage_error "--flush-interval must be positive" "${REQUIRED[@]}" --flush-interval=0s
expect_usage_error "--flush-rows must be at least 1" "${REQUIRED[@]}" --flush-rows=0
expect_usage_error "--partition-pattern" "${REQUIRED[@]}" '--partition-pattern=(unclosed'
expect_usage_error "--on-source-drop=forget: expected keep or drop" "${REQUIRED[@]}" --on-source-drop=forget
expect_usage_error "--spool-dir=/nonexistent/dir: not a directory" "${REQUIRED[@]}" --spool-dir=/nonexistent/dir
expect_usage_error "--s3-prefix needs a value" "${REQUIRED[@]}" --s3-prefix
expect_usage_error "no AWS region" --source=x --target=y --s3-bucket=b
# The environment sets flags...
RE_DMS_COMPRESSION=lz4 expect_usage_error "--compression=lz4" "${REQUIRED[@]}"
RE_DMS_WORKERS=many expect_usage_error "RE_DMS_WORKERS" "${REQUIRED[@]}"
RE_DMS_S3_BUCKET= expect_usage_error "--s3-bucket is required" --source=x --target=y

# ...and flags on the command line beat it: these pass validation and fail
# only when connecting (exit 1), never on the flags.
RE_DMS_COMPRESSION=lz4 RE_DMS_TARGET=ignored run "${REQUIRED[@]}" --compression=gzip
((RC == 1)) || fail "flag over env: exit $RC, want 1 (stderr: $ERR)"
[[ "$ERR" == *"cannot start"* && "$ERR" != *"lz4"* ]] || fail "flag over env: $ERR"
# Required flags from the environment alone.
RE_DMS_SOURCE=$DEAD RE_DMS_TARGET=$DEAD RE_DMS_S3_BUCKET=b RE_DMS_S3_REGION=us-east-1 run
((RC == 1)) || fail "flags from env: exit $RC, want 1 (stderr: $ERR)"
[[ "$ERR" == *"source"* ]] || fail "flags from env: the error should name the source: $ERR"

# A password in a conninfo is never printed, in text or JSON logs.
for format in text json; do
  run --source="$DEAD password=hunter2" --target="$DEAD password=hunter2" --s3-bucket=b \
    --s3-region=us-east-1 --log-format=$format
  ((RC == 1)) || fail "$format: exit $RC, want 1"
  [[ "$ERR" != *hunter2* ]] || fail "$format log shows the password: $ERR"
done
run --source="$DEAD" --target="$DEAD" --s3-bucket=b --s3-region=us-east-1 --log-format=json
printf '%s\n' "$ERR" | python3 -c '
import json, sys
lines = [json.loads(line) for line in sys.stdin if line.strip()]
assert lines and all({"time", "level", "msg"} <= set(l) for l in lines), lines
assert lines[-1]["level"] == "error", lines
' || fail "--log-format=json does not write JSON lines: $ERR"

# --help: exit 0, grouped, on stdout.
HELP=$("$RE_DMS" --help)
RC=$?
((RC == 0)) || fail "--help: exit $RC"
for heading in "Source and target:" "Tables:" "S3 staging:" "Batching:" "Output:" \
               "Stopping and guarantees:" "RE_DMS_"; do
  [[ "$HELP" == *"$heading"* ]] || fail "--help lacks '$heading'"
done
for flag in source target target-schema target-dialect s3-bucket s3-prefix s3-region \
            s3-endpoint iam-role flush-interval flush-rows flush-bytes include-tables \
            exclude-tables partition-pattern compression spool-dir log-format workers \
            delete-uploaded on-source-drop; do
  [[ "$HELP" == *"--$flag"* ]] || fail "--help does not describe --$flag"
done
# `inspect` is still a subcommand.
OUT=$(printf 'BEGIN 1\nCOMMIT 1\n' | "$RE_DMS" inspect)
[[ "$OUT" == *'"kind":"begin"'* ]] || fail "re_dms inspect: $OUT"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
