#!/usr/bin/env bash
# Exact values whatever the source's and target's session settings and the
# source's encoding (pipe mode): pg_recvlogical | re_dms -> S3 (s3rver) ->
# PostgreSQL, on the servers scripts/services starts.
#
# 1. A source database whose defaults print values in other styles
#    (DateStyle 'SQL, DMY', IntervalStyle sql_standard, TimeZone Asia/Kolkata,
#    whose abbreviation IST is Israel's in PostgreSQL's default abbreviations,
#    extra_float_digits 0, bytea_output escape):
#    a. pg_recvlogical without options: re_dms warns about extra_float_digits
#       at start-up, exits 1 naming DateStyle, the table, column, line and
#       byte offset, and loads nothing of the table with those values (a
#       transaction before them, with nothing style-dependent, is loaded).
#    b. Captured under each missing setting in turn: the message names it.
#    c. pg_recvlogical with the README's PGOPTIONS, into a target database
#       with non-default settings (DateStyle 'SQL, DMY', TimeZone
#       America/New_York, IntervalStyle sql_standard): every table equals
#       its source, floats to the last digit.
#    d. Slot mode (re_dms --slot), with no options: equal too.
# 2. A LATIN1 source database with accented names and text, including byte
#    pairs that are also valid UTF-8 (LATIN1 `Ã©` is C3 A9, UTF-8's `é`):
#    equal in the UTF-8 target, character for character.
# 3. A SQL_ASCII source database holding LATIN1 bytes: without
#    --source-encoding exit 1 naming the byte; with --source-encoding=LATIN1
#    equal.
#
# Needs RE_DMS_TEST_PG_CONNINFO, RE_DMS_TEST_PG_BIN and RE_DMS_TEST_S3_ENDPOINT
# (fails without them). Under Bazel the re_dms binary comes from the data
# dependency; elsewhere set RE_DMS_BIN.
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
# table_compare.sh exports PGOPTIONS for its own sessions; pg_recvlogical and
# re_dms must run without it here, or the source's defaults would not show.
COMPARE_OPTIONS=$PGOPTIONS
unset PGOPTIONS
COMPARE_TARGET_SCHEMA=public
# The options the README gives pg_recvlogical.
README_OPTIONS='-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3 -c bytea_output=hex'
grep -qF "PGOPTIONS='$README_OPTIONS'" "$HERE/../../README.md" ||
  fail "README.md does not show PGOPTIONS='$README_OPTIONS'"

WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/settings.XXXXXX")
RUN=set_$$_$RANDOM
BUCKET=re-dms-${RUN//_/-}
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

PIDS=()
DATABASES=()
SLOTS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for slot in "${SLOTS[@]}"; do
    psql_server -c "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots
                    WHERE slot_name = '$slot'" >/dev/null 2>&1 || true
  done
  for db in "${DATABASES[@]}"; do
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
# Rows of table public.$2 in database $1 (0 when it does not exist).
loaded_rows() {
  if [[ "$(psql_db "$1" -At -c "SELECT to_regclass('public.$2') IS NULL")" == t ]]; then
    echo 0
  else
    psql_db "$1" -At -c "SELECT count(*) FROM public.$2"
  fi
}
# Table comparisons in one fixed session setting on both sides (and, with
# COMPARE_ENCODING, one client encoding).
compare() {
  PGOPTIONS=$COMPARE_OPTIONS PGCLIENTENCODING=${COMPARE_ENCODING:-UTF8} "$@"
}

# Creates database $1 (dropped on exit) with CREATE DATABASE options $2.
create_database() {
  psql_server -c "CREATE DATABASE $1 ${2:-}"
  DATABASES+=("$1")
}
create_slot() {
  psql_db "$1" -c "SELECT pg_create_logical_replication_slot('$2', 'test_decoding')" >/dev/null
  SLOTS+=("$2")
}

# Sets ARGS to re_dms's flags for source $1, target database $2, prefix $3.
re_dms_args() {
  ARGS=(--source="$(conninfo "$1")" --target="$(conninfo "$2")"
        --target-schema=public --target-dialect=postgres
        --s3-bucket="$BUCKET" --s3-prefix="$3" --s3-endpoint="$RE_DMS_TEST_S3_ENDPOINT"
        --s3-region=us-east-1 --flush-interval=1s)
}

# Streams slot $2 of source $1 through pg_recvlogical (PGOPTIONS=$RECV_OPTIONS)
# into re_dms (log $WORK/$4.log) loading target $3, with extra flags after $4.
# Returns when re_dms has exited on its own, or once the target equals the
# source (then pg_recvlogical is stopped and re_dms must drain). Sets RC to
# re_dms's exit code.
pipe_run() {
  local src=$1 slot=$2 tgt=$3 name=$4
  shift 4
  rm -f "$WORK/stream"
  mkfifo "$WORK/stream"
  PGOPTIONS=${RECV_OPTIONS:-} "$PG_BIN/pg_recvlogical" -d "$(conninfo "$src")" --slot="$slot" \
    --start --no-loop -o include-timestamp=1 -f - >"$WORK/stream" 2>"$WORK/$name.recv.log" &
  local recv=$!
  PIDS+=("$recv")
  re_dms_args "$src" "$tgt" "$name"
  "$RE_DMS" "${ARGS[@]}" "$@" <"$WORK/stream" 2>"$WORK/$name.log" &
  local re_dms=$!
  PIDS+=("$re_dms")
  local deadline=$((SECONDS + 120))
  while kill -0 "$re_dms" 2>/dev/null; do
    if compare compare_all_equal "$(conninfo "$src")" "$(conninfo "$tgt")"; then break; fi
    ((SECONDS < deadline)) || break
    sleep 0.5
  done
  echo "$name: after $((SECONDS - deadline + 120)) s the target is $(compare compare_all_equal "$(conninfo "$src")" \
    "$(conninfo "$tgt")" && echo equal || echo 'not equal yet')"
  kill -INT "$recv" 2>/dev/null || true
  wait "$recv" 2>/dev/null || true
  wait "$re_dms" && RC=0 || RC=$?
}

curl -fsS -X PUT "$RE_DMS_TEST_S3_ENDPOINT/$BUCKET" >/dev/null || fail "cannot create bucket $BUCKET"

# --- 1. Non-default source settings -------------------------------------------
SOURCE=${RUN}_src
create_database "$SOURCE"
psql_server <<SQL
ALTER DATABASE $SOURCE SET datestyle = 'SQL, DMY';
ALTER DATABASE $SOURCE SET intervalstyle = 'sql_standard';
ALTER DATABASE $SOURCE SET timezone = 'Asia/Kolkata';
ALTER DATABASE $SOURCE SET extra_float_digits = 0;
ALTER DATABASE $SOURCE SET bytea_output = 'escape';
SQL
psql_db "$SOURCE" <<'SQL'
CREATE TABLE public.plain (id integer PRIMARY KEY, note text);
CREATE TABLE public.zones (id integer PRIMARY KEY, tz timestamptz);
CREATE TABLE public.vals (
  id integer PRIMARY KEY, d date, ts timestamp, ts3 timestamp(3), tz timestamptz, iv interval,
  iv_ym interval year to month, f4 real, f8 double precision, b bytea, da date[],
  tzr tstzrange, iva interval[]);
SQL
create_slot "$SOURCE" "${RUN}_bare"
create_slot "$SOURCE" "${RUN}_opts"
create_slot "$SOURCE" "${RUN}_peek"
create_slot "$SOURCE" "${RUN}_slotm"
psql_db "$SOURCE" <<'SQL'
INSERT INTO public.plain VALUES (1, 'loaded before the values that need settings');
-- Printed '04/03/2024 10:36:07.5 IST' under the database's defaults: IST is
-- Israel's abbreviation in PostgreSQL's default timezone_abbreviations.
INSERT INTO public.zones VALUES (1, '2024-03-04 05:06:07.5+00'), (2, '2024-07-01 00:00:00+00');
-- Day and month both <= 12: 4 March would load as 3 April under MDY.
INSERT INTO public.vals VALUES
  (1, '2024-03-04', '2024-03-04 05:06:07', '2024-03-04 05:06:07.125', '2024-03-04 05:06:07.5+00',
   '1 year 2 mons 3 days 04:05:06', '-1 year -2 mons', 0.1::real, 0.1::float8 + 0.2,
   '\x00ff27'::bytea, '{2024-03-04,NULL}', '[2024-03-04 05:06:07+00,)', '{"-1 day +02:00:00"}'),
  (2, '2024-12-25', '0044-03-15 10:00:00 BC', '2024-01-02 03:04:05', '1999-12-31 23:59:59.999999+00',
   '-1 days +02:03:00', '3 mons', 3.4028235e38, 1e-300, '\x5c78'::bytea, '{}', 'empty', '{}'),
  (3, 'infinity', '-infinity', NULL, 'infinity', '00:00:00', '0', -0.0, 2.2250738585072014e-308,
   '\x'::bytea, NULL, NULL, NULL),
  (4, '0001-01-01 BC', '2024-02-29 23:59:59.999999', '2024-02-29 00:00:00', '2024-03-31 02:30:00+02',
   '-3 days -04:05:06.789', '-11 mons', 123456.78, 1.0000000000000002, '\x80'::bytea,
   '{1999-01-02}', '("2024-01-01 00:00:00+05:30","2024-01-02 00:00:00-08")', '{"1 mon",00:00:01}');
UPDATE public.vals SET tz = '2024-04-03 10:36:07+05:30', d = '2024-04-03' WHERE id = 2;
DELETE FROM public.vals WHERE id = 3;
SQL

# a. Without the options.
create_database "${RUN}_bare"
RECV_OPTIONS='' pipe_run "$SOURCE" "${RUN}_bare" "${RUN}_bare" bare
((RC == 1)) || fail "without the options re_dms exited $RC, not 1: $(tail -n 5 "$WORK/bare.log")"
grep -q "WARN.*extra_float_digits = '0' (from ALTER DATABASE ... SET)" "$WORK/bare.log" ||
  fail "no start-up warning about extra_float_digits: $(head -n 5 "$WORK/bare.log")"
error=$(grep 'ERROR' "$WORK/bare.log" | tail -n 1)
for part in 'table public.zones, column tz (timestamp with time zone)' 'line ' 'byte offset ' \
            "'04/03/2024 10:36:07.5 IST'" "TimeZone abbreviation 'IST'" DateStyle \
            "PGOPTIONS='$README_OPTIONS'"; do
  [[ "$error" == *"$part"* ]] || fail "without the options, the error lacks \"$part\": $error"
done
echo "without the options: warning: $(grep -m 1 "extra_float_digits = '0'" "$WORK/bare.log")"
echo "without the options: exit 1: $error"
for table in zones vals; do
  (($(loaded_rows "${RUN}_bare" $table) == 0)) || fail "without the options some of public.$table was loaded"
done
(($(loaded_rows "${RUN}_bare" plain) == 1)) ||
  fail "without the options the transaction before the bad values was not loaded"

# b. Each setting alone: a stream captured (without consuming) by a session
# that has every needed setting but one names that one.
for missing in datestyle "datestyle timezone" intervalstyle bytea_output; do
  options=$README_OPTIONS
  for setting in $missing; do options=$(sed -E "s/-c $setting=[^ ]+ ?//" <<<"$options"); done
  name=${missing// /_}
  PGOPTIONS=$options psql_db "$SOURCE" -At -c "SELECT data FROM pg_logical_slot_peek_changes(
    '${RUN}_peek', NULL, NULL, 'include-timestamp', '1')" >"$WORK/$name.stream"
  create_database "${RUN}_$name"
  re_dms_args "$SOURCE" "${RUN}_$name" "$name"
  "$RE_DMS" "${ARGS[@]}" <"$WORK/$name.stream" 2>"$WORK/$name.log" && rc=0 || rc=$?
  error=$(grep 'ERROR' "$WORK/$name.log" | tail -n 1)
  ((rc == 1)) || fail "without $missing: exit $rc, not 1: $(tail -n 3 "$WORK/$name.log")"
  case $missing in
    datestyle) want="column tz (timestamp with time zone)*'04/03/2024 05:06:07.5 UTC'*DateStyle" ;;
    "datestyle timezone") want="'04/03/2024 10:36:07.5 IST'*TimeZone abbreviation 'IST'" ;;
    intervalstyle) want="table public.vals, column iv (interval)*'+1-2 +3 +4:05:06'*IntervalStyle" ;;
    bytea_output) want="table public.vals, column b (bytea)*bytea_output" ;;
  esac
  # shellcheck disable=SC2053 # $want is a pattern
  [[ "$error" == *$want* ]] || fail "without $missing the error does not match $want: $error"
  # Nothing of the transaction with the first bad value, everything before.
  (($(loaded_rows "${RUN}_$name" vals) == 0)) || fail "without $missing some of public.vals was loaded"
  zones=$(loaded_rows "${RUN}_$name" zones)
  if [[ $missing == datestyle* ]]; then
    ((zones == 0)) || fail "without $missing some of public.zones was loaded"
  else
    ((zones == 2)) || fail "without $missing public.zones (before the bad values) has $zones rows, not 2"
  fi
  echo "without $missing: exit 1: ${error:0:400}"
done

# c. With the README's options, into a target with non-default settings.
TARGET=${RUN}_tgt
create_database "$TARGET"
psql_server <<SQL
ALTER DATABASE $TARGET SET datestyle = 'SQL, DMY';
ALTER DATABASE $TARGET SET timezone = 'America/New_York';
ALTER DATABASE $TARGET SET intervalstyle = 'sql_standard';
ALTER DATABASE $TARGET SET extra_float_digits = 0;
SQL
RECV_OPTIONS=$README_OPTIONS pipe_run "$SOURCE" "${RUN}_opts" "$TARGET" opts
((RC == 0)) || fail "with the README's options re_dms exited $RC: $(tail -n 5 "$WORK/opts.log")"
compare compare_report "$(conninfo "$SOURCE")" "$(conninfo "$TARGET")" ||
  fail "with the README's options the target does not equal the source"
# Not vacuous: the values that need the settings are there.
[[ "$(compare compare_psql "$(conninfo "$TARGET")" -c \
      "SELECT d || ' ' || f8 FROM public.vals WHERE id = 1")" == '2024-03-04 0.30000000000000004' ]] ||
  fail "public.vals row 1 is not 4 March with float8 0.30000000000000004 in the target"
echo "PASS non-default source and target settings"

# d. Slot mode, with no options anywhere: re_dms sets its own replication
#    session (DateStyle ISO, IntervalStyle postgres, TimeZone UTC,
#    extra_float_digits 3, bytea_output hex) whatever the database's defaults.
create_database "${RUN}_slotm"
END=$(psql_db "$SOURCE" -At -c "SELECT pg_current_wal_insert_lsn()")
re_dms_args "$SOURCE" "${RUN}_slotm" slotm
timeout 120 "$RE_DMS" "${ARGS[@]}" --slot="${RUN}_slotm" --endpos="$END" </dev/null \
  2>"$WORK/slotm.log" && RC=0 || RC=$?
((RC == 0)) || fail "slot mode exited $RC: $(tail -n 5 "$WORK/slotm.log")"
compare compare_report "$(conninfo "$SOURCE")" "$(conninfo "${RUN}_slotm")" ||
  fail "slot mode: the target does not equal the source"
[[ "$(compare compare_psql "$(conninfo "${RUN}_slotm")" -c \
      "SELECT d || ' ' || f8 FROM public.vals WHERE id = 1")" == '2024-03-04 0.30000000000000004' ]] ||
  fail "slot mode: public.vals row 1 is not 4 March with float8 0.30000000000000004 in the target"
echo "PASS slot mode sets its own session"

# --- 2. LATIN1 source -----------------------------------------------------------
LATIN=${RUN}_latin
create_database "$LATIN" "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
PGCLIENTENCODING=UTF8 psql_db "$LATIN" <<'SQL'
CREATE TABLE public."Übung" (id integer PRIMARY KEY, "straße" text, note varchar(20), "fällig" date);
SQL
create_slot "$LATIN" "${RUN}_latin"
create_slot "$LATIN" "${RUN}_latin_peek"
# 'Ã©' is stored as C3 A9, which a reader taking LATIN1 bytes for UTF-8 would
# load as 'é'.
PGCLIENTENCODING=UTF8 psql_db "$LATIN" <<'SQL'
INSERT INTO public."Übung" VALUES (1, 'café naïve façade', 'Ã©', '2024-03-04'),
  (2, 'plain', '¿¡«»ÿ', NULL), (3, 'Ã¼ber', NULL, '2024-12-25');
UPDATE public."Übung" SET "straße" = 'Straße ß' WHERE id = 2;
SQL
[[ "$(PGCLIENTENCODING=UTF8 psql_db "$LATIN" -At -c \
      "SELECT encode(convert_to(note, 'LATIN1'), 'hex') FROM public.\"Übung\" WHERE id = 1")" == c3a9 ]] ||
  fail "the LATIN1 source does not hold C3 A9"
create_database "${RUN}_latin_tgt"
RECV_OPTIONS=$README_OPTIONS pipe_run "$LATIN" "${RUN}_latin" "${RUN}_latin_tgt" latin
((RC == 0)) || fail "LATIN1 source: re_dms exited $RC: $(tail -n 5 "$WORK/latin.log")"
compare compare_report "$(conninfo "$LATIN")" "$(conninfo "${RUN}_latin_tgt")" ||
  fail "LATIN1 source: the UTF-8 target does not equal it"
[[ "$(compare compare_psql "$(conninfo "${RUN}_latin_tgt")" -c \
      "SELECT encode(convert_to(note, 'UTF8'), 'hex') FROM public.\"Übung\" WHERE id = 1")" == c383c2a9 ]] ||
  fail "LATIN1 source: 'Ã©' did not become the two UTF-8 characters C3 83 C2 A9"
# A style error about a LATIN1 table names it in UTF-8, like every log line
# (JSON logs must be valid UTF-8).
PGOPTIONS='-c datestyle=SQL,DMY' psql_db "$LATIN" -At -c "SELECT data FROM
  pg_logical_slot_peek_changes('${RUN}_latin_peek', NULL, NULL, 'include-timestamp', '1')" \
  >"$WORK/latin-dmy.stream"
create_database "${RUN}_latin_dmy"
re_dms_args "$LATIN" "${RUN}_latin_dmy" latin-dmy
"$RE_DMS" "${ARGS[@]}" --log-format=json <"$WORK/latin-dmy.stream" 2>"$WORK/latin-dmy.log" && rc=0 ||
  rc=$?
((rc == 1)) || fail "LATIN1 source, DateStyle SQL: exit $rc, not 1: $(tail -n 3 "$WORK/latin-dmy.log")"
grep -q '"error":"table public.Übung, column fällig (date), in the insert' "$WORK/latin-dmy.log" ||
  fail "LATIN1 source, DateStyle SQL: the error does not name public.Übung and fällig in UTF-8: $(tail -n 2 "$WORK/latin-dmy.log")"
echo "PASS LATIN1 source into a UTF-8 target"

# --- 3. SQL_ASCII source ----------------------------------------------------------
ASCII=${RUN}_ascii
create_database "$ASCII" "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
psql_db "$ASCII" -c "CREATE TABLE public.t (id integer PRIMARY KEY, v text)"
create_slot "$ASCII" "${RUN}_ascii"
# LATIN1 bytes, which SQL_ASCII stores as they are. Committed synchronously:
# the peek below decodes only flushed WAL, and the test servers run with
# synchronous_commit = off.
printf "INSERT INTO public.t VALUES (1, 'caf\xe9'), (2, 'plain');\n" |
  PGOPTIONS='-c synchronous_commit=on' psql_db "$ASCII"
PGOPTIONS=$README_OPTIONS psql_db "$ASCII" -At -c "SELECT data FROM pg_logical_slot_peek_changes(
  '${RUN}_ascii', NULL, NULL, 'include-timestamp', '1')" >"$WORK/ascii.stream"
create_database "${RUN}_ascii_bare"
re_dms_args "$ASCII" "${RUN}_ascii_bare" ascii-bare
"$RE_DMS" "${ARGS[@]}" <"$WORK/ascii.stream" 2>"$WORK/ascii-bare.log" && rc=0 || rc=$?
error=$(grep 'ERROR' "$WORK/ascii-bare.log" | tail -n 1)
((rc == 1)) || fail "SQL_ASCII without --source-encoding: exit $rc, not 1"
[[ "$error" == *"byte 0xE9"*"SQL_ASCII"*"--source-encoding"* ]] ||
  fail "SQL_ASCII without --source-encoding: unclear error: $error"
echo "SQL_ASCII without --source-encoding: exit 1: $error"
create_database "${RUN}_ascii_tgt"
re_dms_args "$ASCII" "${RUN}_ascii_tgt" ascii
"$RE_DMS" "${ARGS[@]}" --source-encoding=LATIN1 <"$WORK/ascii.stream" 2>"$WORK/ascii.log" ||
  fail "SQL_ASCII with --source-encoding=LATIN1 failed: $(tail -n 3 "$WORK/ascii.log")"
# The source's bytes read as LATIN1 on both sides.
COMPARE_ENCODING=LATIN1 compare compare_report "$(conninfo "$ASCII")" "$(conninfo "${RUN}_ascii_tgt")" ||
  fail "SQL_ASCII source read as LATIN1: the target differs"
echo "PASS SQL_ASCII source with a stated encoding"
