#!/bin/bash
# One timed step on PostgreSQL into a fresh schema with the blog tables and the categories,
# as measured in BENCHMARKS.md ("Where the PostgreSQL time goes").
#
#   bulkinup-bench --write-inputs "$INPUTS"      # once (the NDJSON and the CSVs)
#   pg-step.sh STEP [PERF_PREFIX]
#
# STEP: copy (`psql \copy` of the CSVs in one transaction, as `--loaders` runs it), insert,
# upsert (into empty tables) or upsert-existing (an untimed upsert first, then the timed
# one). With PERF_PREFIX, `perf record -a -e cpu-clock` samples the whole machine during the
# step (PREFIX.data; `perf report --sort comm` splits it between the server's backends,
# bulkinup's threads and psql), so run it on an otherwise idle machine.
# Prints: step | user s, system s, wall s, peak RSS KiB of the timed process | the server's
# CPU s (its backends that exited during the step; PGPID names the postmaster's pid file
# if not /var/run/postgresql/*.pid) | rows written | load average.
# Needs: psql, /usr/bin/time; a server on 127.0.0.1:5432 (user postgres, database test,
# trust auth). URL overrides the server's URL (without a query string); EXTRA is appended to
# bulkinup's URL only (e.g. EXTRA='&bulkinup_copy=off' for the `unnest` path).
# ARGS adds flags to bulkinup's command line (e.g. ARGS="--chunk-size 5000").
# FIRST_EXTRA, if set, replaces EXTRA for upsert-existing's untimed first upsert alone.
. "$(dirname "$0")/pg-common.sh"
STEP=$1
PERF=${2:-}
pg_scratch "bench_step_$$"
for t in authors profiles posts comments tags posts_tags; do
  echo "\\copy $t ($(head -n1 "$IN/$t.csv")) FROM '$IN/$t.csv' WITH (FORMAT csv, HEADER true)"
done > "$TMP/load.psql"
export DATABASE_URL=$URL_S${EXTRA:-}
case $STEP in
  copy) CMD=("${P[@]}" -1 -f "$TMP/load.psql" "$URL_S") ;;
  insert|upsert) CMD=("$BIN" "$STEP" "${BULK[@]}" "$IN/authors.ndjson") ;;
  upsert-existing)
    DATABASE_URL=$URL_S${FIRST_EXTRA-${EXTRA:-}} "$BIN" upsert "${BULK[@]}" "$IN/authors.ndjson" > /dev/null
    CMD=("$BIN" upsert "${BULK[@]}" "$IN/authors.ndjson") ;;
  *) echo "unknown step $STEP" >&2; exit 2 ;;
esac
PRE=()
if [ -n "$PERF" ]; then
  PRE=(perf record -q -a ${PERFG:-} -e cpu-clock -F 999 -o "$PERF.data" --)
fi
# The server's CPU: the backends that exited during the step, whose user + system time the
# postmaster (their parent) collects (fields 16 and 17 of its /proc/PID/stat, in ticks).
server_cpu() {
  local pm
  pm=$(head -n1 "${PGPID:-$(ls /var/run/postgresql/*.pid | head -n1)}" 2>/dev/null) || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{ print ($16 + $17) / hz }' "/proc/$pm/stat" 2>/dev/null || echo 0
}
sync
BEFORE=$(server_cpu)
/usr/bin/time -o "$TMP/time" -f '%U %S %e %M' "${PRE[@]}" "${CMD[@]}" < /dev/null > "$TMP/out" 2>&1
AFTER=$(server_cpu)
ROWS=$(pg_rows)
echo "$STEP${EXTRA:+ $EXTRA}${ARGS:+ $ARGS} | $(cat "$TMP/time") | server $(awk -v a="$AFTER" -v b="$BEFORE" 'BEGIN { printf "%.2f", a - b }') CPU s | rows $ROWS | $(tail -c 200 "$TMP/out" | tr '\n' ' ') | load $(cut -d' ' -f1 /proc/loadavg)"
