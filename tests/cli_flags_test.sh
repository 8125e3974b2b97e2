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
REQUIRED=(--source="$DEAD" --target="$DEAD" --s3-bucket=bucket --s3-region=us-east-1)

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
expect_usage_error "--workers=0: must be between 1 and 64, e.g. --workers=4" "${REQUIRED[@]}" --workers=0
expect_usage_error "--flush-bytes=lots" "${REQUIRED[@]}" --flush-bytes=lots
expect_usage_error "--flush-interval=0: must be positive, e.g. --flush-interval=10s" "${REQUIRED[@]}" --flush-interval=0s
expect_usage_error "--flush-rows=0: must be at least 1" "${REQUIRED[@]}" --flush-rows=0
# Values the flags library rejects: the flag as written, what is expected and
# a valid example -- never Abseil's "Illegal value ... for flag 'flush_interval'".
expect_usage_error "--flush-interval=10: expected a duration with a unit (ms, s, m or h), e.g. --flush-interval=10s" \
  "${REQUIRED[@]}" --flush-interval=10
expect_usage_error "--flush-interval=abc: expected a duration" "${REQUIRED[@]}" --flush-interval=abc
expect_usage_error "--flush_interval=abc: expected a duration" "${REQUIRED[@]}" --flush_interval=abc
expect_usage_error "--workers=many: expected a whole number, e.g. --workers=4" "${REQUIRED[@]}" --workers=many
expect_usage_error "--status-interval=5: expected a duration" "${REQUIRED[@]}" --status-interval 5
expect_usage_error "--lock-timeout=soon: expected a duration" "${REQUIRED[@]}" --lock-timeout=soon
expect_usage_error "--statement-timeout=0: must be at least 1s, e.g. --statement-timeout=30m" \
  "${REQUIRED[@]}" --statement-timeout=0
expect_usage_error "--delete-uploaded=maybe: expected true or false" "${REQUIRED[@]}" --delete-uploaded=maybe
run "${REQUIRED[@]}" --flush-interval=10
[[ "$ERR" != *"Illegal value"* && "$ERR" != *"flush_interval'"* ]] || fail "Abseil's message leaks: $ERR"
# Bucket names follow S3's rules, checked before anything starts.
for bucket in b My_Bucket -bucket bucket- a..b 192.168.1.1 xn--bucket bucket-s3alias \
              "$(printf 'b%.0s' {1..64})"; do
  expect_usage_error "--s3-bucket=$bucket: not a valid S3 bucket name" \
    --source="$DEAD" --target="$DEAD" --s3-region=us-east-1 --s3-bucket="$bucket"
done
# A conninfo libpq cannot parse: libpq's reason, with no value of it shown.
expect_usage_error 'not a valid conninfo: missing "=" after "..."' \
  --source="host=db password=hunter 2" --target="$DEAD" --s3-bucket=bucket --s3-region=us-east-1
[[ "$ERR" != *hunter* && "$ERR" != *'"2"'* ]] || fail "conninfo error shows the password: $ERR"
expect_usage_error '--target: not a valid conninfo: invalid connection option "passwrd"' \
  --source="$DEAD" --target="host=db passwrd=hunter2" --s3-bucket=bucket --s3-region=us-east-1
[[ "$ERR" != *hunter2* ]] || fail "conninfo error shows the password: $ERR"
expect_usage_error '--source: not a valid conninfo: invalid URI query parameter' \
  --source="postgresql://u:hunter2@db/app?hunter3=x" --target="$DEAD" --s3-bucket=bucket --s3-region=us-east-1
[[ "$ERR" != *hunter* ]] || fail "conninfo error shows the password: $ERR"
expect_usage_error "--partition-pattern" "${REQUIRED[@]}" '--partition-pattern=(unclosed'
expect_usage_error "--on-source-drop=forget: expected keep or drop" "${REQUIRED[@]}" --on-source-drop=forget
expect_usage_error "--spool-dir=/nonexistent/dir: not a directory" "${REQUIRED[@]}" --spool-dir=/nonexistent/dir
expect_usage_error "--s3-prefix needs a value" "${REQUIRED[@]}" --s3-prefix
expect_usage_error "no AWS region" --source="$DEAD" --target="$DEAD" --s3-bucket=bucket
# The environment sets flags, and its messages name the variable...
RE_DMS_COMPRESSION=lz4 expect_usage_error "RE_DMS_COMPRESSION=lz4: expected zstd, gzip or none" "${REQUIRED[@]}"
RE_DMS_WORKERS=many expect_usage_error "RE_DMS_WORKERS=many: expected a whole number, e.g. RE_DMS_WORKERS=4" \
  "${REQUIRED[@]}"
RE_DMS_WORKERS=0 expect_usage_error "RE_DMS_WORKERS=0: must be between 1 and 64" "${REQUIRED[@]}"
RE_DMS_FLUSH_INTERVAL=10 expect_usage_error "RE_DMS_FLUSH_INTERVAL=10: expected a duration" "${REQUIRED[@]}"
RE_DMS_S3_BUCKET= expect_usage_error "--s3-bucket is required" --source=x --target=y
# ...and a misspelled one warns (by name only: values may be secrets).
RE_DMS_S3_BUKET=hunter2 RE_DMS_TEST_SOMETHING=1 run "${REQUIRED[@]}"
[[ "$ERR" == *"WARN RE_DMS_S3_BUKET is set but is not a re_dms setting"*"did you mean RE_DMS_S3_BUCKET?"* ]] ||
  fail "no warning for RE_DMS_S3_BUKET: $ERR"
[[ "$ERR" != *hunter2* && "$ERR" != *RE_DMS_TEST_SOMETHING* ]] || fail "unknown variable warning: $ERR"

# ...and flags on the command line beat it: these pass validation and fail
# only when connecting (exit 1), never on the flags.
RE_DMS_COMPRESSION=lz4 RE_DMS_TARGET=ignored run "${REQUIRED[@]}" --compression=gzip
((RC == 1)) || fail "flag over env: exit $RC, want 1 (stderr: $ERR)"
[[ "$ERR" == *"cannot start"* && "$ERR" != *"lz4"* ]] || fail "flag over env: $ERR"
# Required flags from the environment alone.
RE_DMS_SOURCE=$DEAD RE_DMS_TARGET=$DEAD RE_DMS_S3_BUCKET=bucket RE_DMS_S3_REGION=us-east-1 run
((RC == 1)) || fail "flags from env: exit $RC, want 1 (stderr: $ERR)"
[[ "$ERR" == *"source"* ]] || fail "flags from env: the error should name the source: $ERR"

# A password in a conninfo is never printed, in text or JSON logs.
for format in text json; do
  run --source="$DEAD password=hunter2" --target="$DEAD password=hunter2" --s3-bucket=bucket \
    --s3-region=us-east-1 --log-format=$format
  ((RC == 1)) || fail "$format: exit $RC, want 1"
  [[ "$ERR" != *hunter2* ]] || fail "$format log shows the password: $ERR"
done
run --source="$DEAD" --target="$DEAD" --s3-bucket=bucket --s3-region=us-east-1 --log-format=json
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
            delete-uploaded lock-timeout statement-timeout s3-ca-file on-source-drop; do
  [[ "$HELP" == *"--$flag"* ]] || fail "--help does not describe --$flag"
done
# `inspect` is still a subcommand.
OUT=$(printf 'BEGIN 1\nCOMMIT 1\n' | "$RE_DMS" inspect)
[[ "$OUT" == *'"kind":"begin"'* ]] || fail "re_dms inspect: $OUT"
# Its errors are messages for people, without status code names.
ERR=$(printf 'BEGIN 1\nnot a record\n' | "$RE_DMS" inspect 2>&1 >/dev/null)
[[ "$ERR" == "re_dms inspect: "*"line 2"* ]] || fail "re_dms inspect error: $ERR"
[[ ! "$ERR" =~ [A-Z_]{6,}: ]] || fail "re_dms inspect error carries a status code: $ERR"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
