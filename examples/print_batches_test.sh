#!/usr/bin/env bash
# Runs the example on a small stream and checks what it prints.
set -euo pipefail
BIN=${TEST_SRCDIR:?}/re_dms/examples/print_batches
OUT=$(printf '%s\n' \
  'BEGIN 10' \
  "table public.orders: INSERT: id[integer]:1 note[text]:'O''Brien'" \
  "table public.orders: INSERT: id[integer]:2 note[text]:null" \
  "table public.orders: INSERT: id[integer]:3 note[text]:'gone'" \
  'COMMIT 10' \
  'BEGIN 11' \
  'table public.orders: DELETE: id[integer]:3' \
  "table public.orders: UPDATE: id[integer]:2 note[text]:''" \
  'COMMIT 11' | "$BIN")
expected='public.orders batch 1 (through commit #2): rows
  delete "3"
  upsert "1","O'"'"'Brien"
  upsert "2",""
durable through commit #2'
if [[ "$OUT" != "$expected" ]]; then
  printf 'FAIL: got\n%s\nwant\n%s\n' "$OUT" "$expected"
  exit 1
fi
# Garbage: the parser's error, exit 1.
if ERR=$(printf 'BEGIN 1\nnot a record\n' | "$BIN" 2>&1); then
  echo "FAIL: exit 0 on garbage: $ERR"
  exit 1
fi
[[ "$ERR" == *"line 2"* ]] || { echo "FAIL: error does not name line 2: $ERR"; exit 1; }
echo PASS
