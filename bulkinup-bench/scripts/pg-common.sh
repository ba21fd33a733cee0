# Sourced by the PostgreSQL step scripts (pg-step.sh, pg-chunks.sh, pg-statements.sh): the
# paths, the psql command, and a scratch schema with the blog tables and the categories.
#
# Sets ROOT (the repository), IN (the inputs of `bulkinup-bench --write-inputs`, INPUTS or
# /tmp/pgstep/in), BIN (the bulkinup binary, BULKINUP_BIN or the release build), BASE (the
# server's URL without a query string, URL or postgres://postgres@127.0.0.1:5432/test), P
# (psql, stopping at the first error), TMP (a temporary directory removed on exit).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IN=${INPUTS:-/tmp/pgstep/in}
BIN=${BULKINUP_BIN:-$ROOT/target/release/bulkinup}
BASE=${URL:-postgres://postgres@127.0.0.1:5432/test}
P=(psql -X -q -v ON_ERROR_STOP=1)
TMP=$(mktemp -d)
S=
trap 'pg_drop; rm -rf "$TMP"' EXIT

# pg_scratch NAME: a fresh schema NAME with the blog tables and the categories; sets S and
# URL_S (the server's URL with that schema as the search path, plaintext).
pg_scratch() {
  S=$1
  URL_S="$BASE?sslmode=disable&options=-c%20search_path%3D$S"
  "${P[@]}" "$BASE?sslmode=disable" -c "SET client_min_messages = warning" \
    -c "DROP SCHEMA IF EXISTS $S CASCADE" -c "CREATE SCHEMA $S"
  "${P[@]}" "$URL_S" -f "$ROOT/examples/blog/postgres.sql"
  "${P[@]}" "$URL_S" -c "\\copy categories (id, name) FROM '$IN/categories.csv' WITH (FORMAT csv, HEADER true)"
}

# pg_rows: the rows of the six workload tables in the scratch schema.
pg_rows() {
  "${P[@]}" -tA "$URL_S" -c "select (select count(*) from authors)+(select count(*) from profiles)+(select count(*) from posts)+(select count(*) from comments)+(select count(*) from tags)+(select count(*) from posts_tags)"
}

# pg_drop: drops the scratch schema, if any.
pg_drop() {
  if [ -n "$S" ]; then
    "${P[@]}" "$BASE?sslmode=disable" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $S CASCADE" || true
    S=
  fi
}

# BULK: the flags of every timed bulkinup command (ARGS adds more).
BULK=(--schema "$ROOT/examples/blog/schema.toml" --root Author --timeout infinity -q ${ARGS:-})
