#!/bin/bash
# One timed step on MariaDB/MySQL into a fresh database with the blog tables and the
# categories, as measured in BENCHMARKS.md ("Where the MariaDB and SQLite time goes").
#
#   bulkinup-bench --write-inputs "$INPUTS"      # once (the NDJSON, the CSVs, load-data/)
#   mariadb-step.sh STEP [PERF_PREFIX]
#
# STEP: load (the mariadb client's LOAD DATA LOCAL INFILE of load-data/*.csv), insert,
# upsert (into empty tables) or upsert-existing (an untimed upsert first, then the timed
# one). CHUNK=N passes --chunk-size N to bulkinup. With PERF_PREFIX, `perf record -e
# cpu-clock -g` samples the server (PREFIX.server.data) and bulkinup (PREFIX.client.data).
# Prints: step | user s, system s, wall s, peak RSS KiB of the timed process | the server
# process's CPU seconds over the step (all its threads) | rows written, NULL inserted_at |
# LOAD DATA's @@warning_count per table or bulkinup's summary | load average.
# Needs: mariadb client, /usr/bin/time, bc; a server on 127.0.0.1:3306 as root without a
# password, its pid in /run/mysqld/mysqld.pid (MYSQLD_PID overrides).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IN=${INPUTS:-/tmp/floors/in}
BIN=${BULKINUP_BIN:-$ROOT/target/release/bulkinup}
STEP=$1
PERF=${2:-}
CHUNK=${CHUNK:-}
DB=bench_step_$$
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
M=(mariadb -uroot -h127.0.0.1 -P3306)
"${M[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
"${M[@]}" "$DB" < "$ROOT/examples/blog/mysql.sql"
"${M[@]}" --local-infile=1 "$DB" -e "LOAD DATA LOCAL INFILE '$IN/categories.csv' INTO TABLE categories CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\n' IGNORE 1 LINES (id, name)"
export DATABASE_URL=mysql://root@127.0.0.1:3306/$DB
ARGS=()
if [ -n "$CHUNK" ]; then ARGS=(--chunk-size "$CHUNK"); fi
BULK=("$BIN" --schema "$ROOT/examples/blog/schema.toml" --root Author --timeout infinity -q)
case $STEP in
  load) CMD=("${M[@]}" --local-infile=1 --batch --skip-column-names "$DB"); STDIN=$IN/load-data/load.sql ;;
  insert|upsert) CMD=("$BIN" "$STEP" "${BULK[@]:1}" "${ARGS[@]}" "$IN/authors.ndjson"); STDIN=/dev/null ;;
  upsert-existing)
    "$BIN" upsert "${BULK[@]:1}" "$IN/authors.ndjson" > /dev/null
    CMD=("$BIN" upsert "${BULK[@]:1}" "${ARGS[@]}" "$IN/authors.ndjson"); STDIN=/dev/null ;;
  *) echo "unknown step $STEP" >&2; exit 2 ;;
esac
SPID=${MYSQLD_PID:-$(cat /run/mysqld/mysqld.pid)}
cpu() { awk '{print $14+$15}' "/proc/$SPID/stat"; }
sync
PP=
if [ -n "$PERF" ]; then
  perf record -q -e cpu-clock -F 999 -g -p "$SPID" -o "$PERF.server.data" 2>/dev/null & PP=$!
  sleep 0.5
fi
PRE=()
if [ -n "$PERF" ] && [ "$STEP" != load ]; then
  PRE=(perf record -q -e cpu-clock -F 999 -g -o "$PERF.client.data" --)
fi
c0=$(cpu)
/usr/bin/time -o "$TMP/time" -f '%U %S %e %M' "${PRE[@]}" "${CMD[@]}" < "$STDIN" > "$TMP/out" 2>&1
c1=$(cpu)
if [ -n "$PP" ]; then kill -INT "$PP"; wait "$PP" 2>/dev/null || true; fi
SRV=$(echo "scale=2; ($c1-$c0)/$(getconf CLK_TCK)" | bc)
COUNTS=$("${M[@]}" -N "$DB" -e "select (select count(*) from authors)+(select count(*) from profiles)+(select count(*) from posts)+(select count(*) from comments)+(select count(*) from tags)+(select count(*) from posts_tags), (select count(*) from authors where inserted_at is null)+(select count(*) from posts where inserted_at is null)")
echo "$STEP${CHUNK:+ chunk=$CHUNK} | $(cat "$TMP/time") | server_cpu $SRV | rows,nulls $COUNTS | $(tail -c 200 "$TMP/out" | tr '\n' ' ') | load $(cut -d' ' -f1 /proc/loadavg)"
"${M[@]}" -e "DROP DATABASE $DB"
