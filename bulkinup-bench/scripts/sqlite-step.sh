#!/bin/bash
# One timed step on SQLite into a fresh file with the blog tables and the categories, as
# measured in BENCHMARKS.md ("Where the MariaDB and SQLite time goes").
#
#   bulkinup-bench --write-inputs "$INPUTS"      # once
#   sqlite-step.sh STEP [PERF_PREFIX]
#
# STEP: import (the sqlite3 shell's .import --csv of the six tables in one transaction,
# foreign keys on, then the two UPDATEs that set inserted_at back to NULL, as
# `bulkinup-bench --loaders` runs it), import-bare (the same imports, foreign keys off, no
# UPDATE), insert or upsert (the bulkinup binary on the NDJSON). With PERF_PREFIX, the timed
# process runs under `perf record -e cpu-clock -g` (PREFIX.data). Prints: step | user s,
# system s, wall s, peak RSS KiB | rows written, NULL inserted_at | bulkinup's summary |
# load average. Both sides run with synchronous = FULL and journal_mode = delete.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IN=${INPUTS:-/tmp/floors/in}
BIN=${BULKINUP_BIN:-$ROOT/target/release/bulkinup}
STEP=$1
PERF=${2:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F=$TMP/blog.db
sqlite3 "$F" < "$ROOT/examples/blog/sqlite.sql"
sqlite3 "$F" ".import --csv --skip 1 $IN/categories.csv categories"
TABLES="authors profiles posts comments tags posts_tags"
case $STEP in
  import)
    { echo "PRAGMA foreign_keys = ON;"; echo "BEGIN;"
      for t in $TABLES; do echo ".import --csv --skip 1 $IN/$t.csv $t"; done
      echo "UPDATE authors SET inserted_at = NULL WHERE inserted_at = '';"
      echo "UPDATE posts SET inserted_at = NULL WHERE inserted_at = '';"
      echo "COMMIT;"; } > "$TMP/script"
    CMD=(sqlite3 -bail -cmd 'PRAGMA synchronous = 2' "$F"); STDIN=$TMP/script ;;
  import-bare)
    { echo "BEGIN;"; for t in $TABLES; do echo ".import --csv --skip 1 $IN/$t.csv $t"; done; echo "COMMIT;"; } > "$TMP/script"
    CMD=(sqlite3 -bail -cmd 'PRAGMA synchronous = 2' "$F"); STDIN=$TMP/script ;;
  insert|upsert)
    CMD=("$BIN" "$STEP" --database-url "sqlite://$F" --schema "$ROOT/examples/blog/schema.toml" --root Author --timeout infinity -q "$IN/authors.ndjson"); STDIN=/dev/null ;;
  *) echo "unknown step $STEP" >&2; exit 2 ;;
esac
PRE=()
if [ -n "$PERF" ]; then PRE=(perf record -q -e cpu-clock -F 999 -g -o "$PERF.data" --); fi
sync
/usr/bin/time -o "$TMP/time" -f '%U %S %e %M' "${PRE[@]}" "${CMD[@]}" < "$STDIN" > "$TMP/out" 2>&1
COUNTS=$(sqlite3 "$F" "select (select count(*) from authors)+(select count(*) from profiles)+(select count(*) from posts)+(select count(*) from comments)+(select count(*) from tags)+(select count(*) from posts_tags), (select count(*) from authors where inserted_at is null)+(select count(*) from posts where inserted_at is null)")
echo "$STEP | $(cat "$TMP/time") | rows,nulls $COUNTS | $(tail -c 150 "$TMP/out" | tr '\n' ' ') | load $(cut -d' ' -f1 /proc/loadavg)"
