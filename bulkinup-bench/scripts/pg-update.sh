#!/bin/bash
# The server's time to update 400,000 existing `comments` rows two ways (BENCHMARKS.md, "Every
# server's own loader at `1f1a8e0`"): `INSERT … SELECT … ON CONFLICT (id) DO UPDATE` (what an
# upsert over existing rows runs) against `UPDATE … FROM` (hash join, then nested loop on the
# primary key), from a table `src` holding the same rows in random order. Each statement runs
# on a fresh copy `t` of the loaded `comments` (same primary key and foreign key, vacuumed),
# so none meets another's dead row versions; ROUNDS rounds (default 2).
#
#   bulkinup-bench --write-inputs "$INPUTS"      # once
#   pg-update.sh
. "$(dirname "$0")/pg-common.sh"
pg_scratch "bench_update_$$"
DATABASE_URL=$URL_S "$BIN" upsert "${BULK[@]}" "$IN/authors.ndjson" > /dev/null
"${P[@]}" "$URL_S" -c "CREATE TABLE src AS SELECT * FROM comments ORDER BY random()" -c "VACUUM ANALYZE src"
timed() { # LABEL SQL...: the last statement's time, on a fresh t
  local label=$1; shift
  "${P[@]}" "$URL_S" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS t" \
    -c "CREATE TABLE t (LIKE comments INCLUDING ALL)" -c "INSERT INTO t SELECT * FROM comments" \
    -c "ALTER TABLE t ADD FOREIGN KEY (post_id) REFERENCES posts (id)" -c "VACUUM ANALYZE t" -c CHECKPOINT
  local args=(-c '\timing on')
  for sql in "$@"; do args+=(-c "$sql"); done
  echo "$label: $("${P[@]}" "$URL_S" "${args[@]}" | grep "^Time:" | sort -t" " -k2 -n | tail -n1)"
}
for r in $(seq "${ROUNDS:-2}"); do
  timed "ON CONFLICT DO UPDATE" "INSERT INTO t SELECT id, post_id, body FROM src ON CONFLICT (id) DO UPDATE SET post_id = EXCLUDED.post_id, body = EXCLUDED.body"
  timed "UPDATE … FROM, hash join" "UPDATE t SET post_id = u.post_id, body = u.body FROM src u WHERE t.id = u.id"
  timed "UPDATE … FROM, nested loop" "BEGIN" "SET LOCAL enable_hashjoin = off" "SET LOCAL enable_mergejoin = off" "UPDATE t SET post_id = u.post_id, body = u.body FROM src u WHERE t.id = u.id" "COMMIT"
done
