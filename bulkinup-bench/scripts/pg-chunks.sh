#!/bin/bash
# `psql \copy` of the workload's CSVs in one transaction, three ways, to see what splitting the
# load as bulkinup does costs the server (BENCHMARKS.md, "PostgreSQL insert: where the server's
# extra time is not"):
#
#   pg-chunks.sh whole       one COPY per table, as `--loaders` and pg-step.sh copy run it
#   pg-chunks.sh chunked     each table's rows in NCHUNK pieces (default 20, as bulkinup's
#                            chunks of 1,000 authors), interleaved piece by piece over the
#                            tables in write order (all tags with the first piece)
#   pg-chunks.sh savepoint   as chunked, each piece of all tables inside SAVEPOINT … RELEASE
#
# Prints: mode | psql's user s, system s, wall s | the backend's own CPU s (user + system, from
# its /proc/PID/stat just before the transaction ends) | rows | load average.
# Inputs from `bulkinup-bench --write-inputs "$INPUTS"` (default /tmp/pgstep/in). Needs psql,
# split, /usr/bin/time, and a server on 127.0.0.1:5432 (user postgres, database test) on this
# machine (the backend's /proc entry is read locally).
. "$(dirname "$0")/pg-common.sh"
MODE=$1
N=${NCHUNK:-20}
case $MODE in whole|chunked|savepoint) ;; *) echo "unknown mode $MODE" >&2; exit 2 ;; esac
pg_scratch "bench_chunks_$$"
T=(authors profiles tags posts comments posts_tags)
for t in "${T[@]}"; do
  tail -n +2 "$IN/$t.csv" > "$TMP/$t.body"
  lines=$(wc -l < "$TMP/$t.body")
  split -d -a 3 -l $(( (lines + N - 1) / N )) "$TMP/$t.body" "$TMP/$t.part."
done
copy() { echo "\\copy $1 ($(head -n1 "$IN/$1.csv")) FROM '$2' WITH (FORMAT csv)"; }
{
  echo "SELECT pg_backend_pid() \\g (format=unaligned tuples_only) $TMP/pid"
  if [ "$MODE" = whole ]; then
    for t in "${T[@]}"; do copy "$t" "$TMP/$t.body"; done
  else
    for k in $(seq 0 $((N - 1))); do
      part=$(printf %03d "$k")
      if [ "$MODE" = savepoint ]; then echo "SAVEPOINT piece;"; fi
      for t in "${T[@]}"; do
        if [ "$t" = tags ]; then
          if [ "$k" = 0 ]; then copy tags "$TMP/tags.body"; fi
        elif [ -f "$TMP/$t.part.$part" ]; then
          copy "$t" "$TMP/$t.part.$part"
        fi
      done
      if [ "$MODE" = savepoint ]; then echo "RELEASE SAVEPOINT piece;"; fi
    done
  fi
  printf '%s\n' "\\! awk -v hz=\$(getconf CLK_TCK) '{ print (\$14 + \$15) / hz }' /proc/\$(cat $TMP/pid)/stat > $TMP/backend"
} > "$TMP/load.psql"
"${P[@]}" "$URL_S" -c "CHECKPOINT"
sync
/usr/bin/time -o "$TMP/time" -f '%U %S %e' "${P[@]}" -1 -f "$TMP/load.psql" "$URL_S"
ROWS=$(pg_rows)
echo "$MODE (N=$N) | $(cat "$TMP/time") | backend $(cat "$TMP/backend") CPU s | rows $ROWS | load $(cut -d' ' -f1 /proc/loadavg)"
