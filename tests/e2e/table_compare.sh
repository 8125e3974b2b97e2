# Compares tables of two PostgreSQL databases row by row, as text. Sourced by
# the end-to-end test and the replication benchmark; needs PG_BIN.
#
# A row's text names each column and prints its value through the column
# type's output function (format('%s'), which keeps char(n) padding), quoted,
# or NULL: so NULL differs from '', and the target may hold a column as text
# (enums, domains, composites) or in another position. Newlines and carriage
# returns print as \n and \r, unambiguously (quote_literal doubles the
# backslashes of the value), so that a row is one line. Columns are those of
# the source table, so the target may keep extra ones (a column the source
# dropped stays in the target).

# Both sides print values under the same settings, whatever the databases'
# defaults are.
export PGOPTIONS="-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1 -c bytea_output=hex"

compare_psql() {
  local conn=$1
  shift
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$conn" "$@"
}

# The user tables of a database, one `schema<TAB>table` a line.
compare_list_tables() {
  compare_psql "$1" -F $'\t' -c "
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 're_dms')
      AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
}

# The SELECT list that renders one row of source table $2.$3 (in database $1)
# as text, columns ordered by name.
compare_row_expression() {
  compare_psql "$1" -v schema="$2" -v table="$3" <<'SQL'
SELECT 'concat_ws('', '', ' || string_agg(
         format('%1$L || ''='' || CASE WHEN %1$I::text IS NULL THEN ''NULL'' ELSE '
                'replace(replace(quote_literal(format(''%%s'', %1$I)), E''\n'', ''\n''), '
                'E''\r'', ''\r'') END', attname),
         ', ' ORDER BY attname COLLATE "C") || ')'
FROM pg_attribute
WHERE attrelid = format('%I.%I', :'schema', :'table')::regclass AND attnum > 0 AND NOT attisdropped
SQL
}

# The rendered rows of table $2 (a quoted qualified name) in database $1, by
# expression $3, as a subquery with one column r. A table that does not exist
# has no rows: re_dms creates a target table with its first batch, so a source
# table that never changed has none.
compare_rows() {
  if [[ "$(compare_psql "$1" -v name="$2" <<<"SELECT to_regclass(:'name') IS NOT NULL")" == t ]]; then
    echo "(SELECT $3 AS r FROM $2)"
  else
    echo "(SELECT ''::text AS r WHERE false)"
  fi
}

# Prints `rows md5` of the rendered rows of table $2 in database $1, by
# expression $3. The md5 is of the text in the client encoding, so databases
# of different encodings (a LATIN1 source, a UTF-8 target) compare as text.
compare_digest() {
  local rows
  rows=$(compare_rows "$@") || return 1
  compare_psql "$1" -c "
    SELECT count(*) || ' ' || md5(convert_to(coalesce(string_agg(r, E'\n' ORDER BY r COLLATE \"C\"),
                                                      ''), pg_client_encoding()))
    FROM $rows AS rows"
}

# Prints the rendered rows of table $2 in database $1, sorted, one a line.
compare_dump() {
  local rows
  rows=$(compare_rows "$@") || return 1
  compare_psql "$1" -c "SELECT r FROM $rows AS rows ORDER BY r COLLATE \"C\""
}

# A quoted qualified name from an unquoted schema and table.
compare_qualified() {
  local schema=${1//\"/\"\"} table=${2//\"/\"\"}
  printf '"%s"."%s"' "$schema" "$table"
}

# Whether every table of source $1 has a target table in $2 with the same rows
# (see compare_target_name). Quiet; returns 1 on the first difference.
compare_all_equal() {
  local src=$1 tgt=$2 schema table expr source_name target_name
  while IFS=$'\t' read -r schema table; do
    expr=$(compare_row_expression "$src" "$schema" "$table") || return 1
    source_name=$(compare_qualified "$schema" "$table")
    target_name=$(compare_target_name "$schema" "$table")
    [[ "$(compare_digest "$src" "$source_name" "$expr")" == \
       "$(compare_digest "$tgt" "$target_name" "$expr" 2>/dev/null)" ]] || return 1
  done < <(compare_list_tables "$src")
}

# Prints, for every table of source $1 that differs in target $2, the first
# lines of the diff between the source's and the target's rows (`<` source,
# `>` target). Returns 1 when some table differs.
compare_report() {
  local src=$1 tgt=$2 status=0 schema table expr source_name target_name
  local dir
  dir=$(mktemp -d)
  while IFS=$'\t' read -r schema table; do
    expr=$(compare_row_expression "$src" "$schema" "$table")
    source_name=$(compare_qualified "$schema" "$table")
    target_name=$(compare_target_name "$schema" "$table")
    compare_dump "$src" "$source_name" "$expr" >"$dir/source" 2>&1
    if ! compare_dump "$tgt" "$target_name" "$expr" >"$dir/target" 2>&1 ||
       ! cmp -s "$dir/source" "$dir/target"; then
      status=1
      echo "table $source_name -> $target_name differs: $(wc -l <"$dir/source") source rows," \
           "$(wc -l <"$dir/target") target lines"
      diff "$dir/source" "$dir/target" | head -n 20 | cut -c 1-400
    else
      echo "table $source_name -> $target_name: $(wc -l <"$dir/source") rows equal"
    fi
  done < <(compare_list_tables "$src")
  rm -rf "$dir"
  return "$status"
}

# The target table for a source table: by default the same schema and name.
# Callers that load into one schema set COMPARE_TARGET_SCHEMA.
compare_target_name() {
  compare_qualified "${COMPARE_TARGET_SCHEMA:-$1}" "$2"
}

# Saves the rows of every table of source $1 into directory $2, to compare a
# target against this moment of the source later (compare_snapshot_report).
compare_snapshot() {
  local src=$1 dir=$2 schema table n=0
  mkdir -p "$dir"
  while IFS=$'\t' read -r schema table; do
    n=$((n + 1))
    printf '%s\t%s\n' "$schema" "$table" >"$dir/$n.name"
    compare_row_expression "$src" "$schema" "$table" >"$dir/$n.expr"
    compare_dump "$src" "$(compare_qualified "$schema" "$table")" "$(cat "$dir/$n.expr")" \
      >"$dir/$n.rows"
  done < <(compare_list_tables "$src")
}

# Compares target $2 with snapshot directory $1 like compare_report.
compare_snapshot_report() {
  local dir=$1 tgt=$2 status=0 name schema table target_name
  for name in "$dir"/*.name; do
    IFS=$'\t' read -r schema table <"$name"
    target_name=$(compare_target_name "$schema" "$table")
    if ! compare_dump "$tgt" "$target_name" "$(cat "${name%.name}.expr")" >"$dir/target" 2>&1 ||
       ! cmp -s "${name%.name}.rows" "$dir/target"; then
      status=1
      echo "table $target_name differs from the snapshot (< snapshot, > target):"
      diff "${name%.name}.rows" "$dir/target" | head -n 20 | cut -c 1-400
    else
      echo "table $target_name: $(wc -l <"$dir/target") rows equal the snapshot"
    fi
  done
  rm -f "$dir/target"
  return "$status"
}
