#!/usr/bin/env bash
# `re_dms inspect` end to end: good input becomes the expected JSON lines, bad
# or truncated input exits 1 with the parser's error after the good records.
# Usage: inspect_test.sh path/to/re_dms
set -uo pipefail

RE_DMS=$1
TMP=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME EXPECTED_EXIT < input: runs inspect, keeping stdout/stderr in $TMP/NAME.{out,err}.
run() {
  local name=$1 expected=$2
  "$RE_DMS" inspect >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$?
  [[ $rc == "$expected" ]] || fail "$name: exit $rc, expected $expected; stderr: $(cat "$TMP/$name.err")"
}

expect_stdout() {
  local name=$1
  diff -u <(cat) "$TMP/$name.out" >"$TMP/$name.diff" || fail "$name: stdout differs: $(cat "$TMP/$name.diff")"
}

expect_stderr_has() {
  local name=$1 text=$2
  grep -qF -- "$text" "$TMP/$name.err" || fail "$name: stderr lacks \"$text\": $(cat "$TMP/$name.err")"
}

printf '%s\n' \
  'BEGIN 5' \
  "table \"My Schema\".t: INSERT: id[integer]:1 s[text]:'it''s" \
  "x' n[text]:null b[bit]:B'01'" \
  "table public.t: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 big[text]:unchanged-toast-datum" \
  'table public.a, public.b: TRUNCATE: restart_seqs cascade' \
  'message: transactional: 1 prefix: p, sz: 3 content:a' \
  'b' \
  "PREPARE TRANSACTION 'g', txid 5" \
  'COMMIT 5 (at 2020-01-01 00:00:00+05:30)' | run good 0
expect_stdout good <<'JSON'
{"offset":0,"line":1,"kind":"begin","xid":5}
{"offset":8,"line":2,"kind":"insert","schema":"My Schema","table":"t","columns":[{"name":"id","type":"integer","value":"1"},{"name":"s","type":"text","value":"it's\nx"},{"name":"n","type":"text","value":null},{"name":"b","type":"bit","value":"01"}]}
{"offset":95,"line":4,"kind":"update","schema":"public","table":"t","old_key":[{"name":"id","type":"integer","value":"1"}],"columns":[{"name":"id","type":"integer","value":"2"},{"name":"big","type":"text","unchanged_toast":true}]}
{"offset":199,"line":5,"kind":"truncate","truncated":[{"schema":"public","table":"a"},{"schema":"public","table":"b"}],"restart_seqs":true,"cascade":true}
{"offset":256,"line":6,"kind":"message","transactional":true,"prefix":"p","content":"a\nb"}
{"offset":311,"line":8,"kind":"two_phase","xid":5,"raw":"PREPARE TRANSACTION 'g', txid 5"}
{"offset":343,"line":9,"kind":"commit","xid":5,"commit_time":"2020-01-01 00:00:00+05:30"}
JSON

# Bytes that are not UTF-8 show as U+FFFD in the JSON; the run still succeeds.
printf "table public.t: INSERT: s[text]:'a\xffb'\n" | run invalid_utf8 0
expect_stdout invalid_utf8 <<'JSON'
{"offset":0,"line":1,"kind":"insert","schema":"public","table":"t","columns":[{"name":"s","type":"text","value":"a�b"}]}
JSON

printf 'BEGIN 1\nBOGUS 2\n' | run garbage 1
expect_stdout garbage <<'JSON'
{"offset":0,"line":1,"kind":"begin","xid":1}
JSON
expect_stderr_has garbage "unknown record at byte offset 8, line 2"

printf "BEGIN 1\ntable public.t: INSERT: s[text]:'never closed\n" | run truncated 1
expect_stderr_has truncated "ended inside a record"
expect_stderr_has truncated "byte offset 8, line 2"

printf 'BEGIN 1' | run no_final_newline 1
expect_stderr_has no_final_newline "ended inside a record"

: | run empty 0
expect_stdout empty </dev/null

"$RE_DMS" frobnicate >/dev/null 2>"$TMP/unknown.err"
[[ $? == 2 ]] || fail "unknown subcommand should exit 2"
grep -qF 'unknown subcommand' "$TMP/unknown.err" || fail "unknown subcommand not named"

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "PASS"
