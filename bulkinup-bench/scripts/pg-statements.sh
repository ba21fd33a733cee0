#!/bin/bash
# The server's own time per statement of one bulkinup step, from the server's log with
# `log_min_duration_statement = 0` set for bulkinup's session alone (BENCHMARKS.md,
# "PostgreSQL upsert: the probe's sample"):
#
#   bulkinup-bench --write-inputs "$INPUTS"      # once
#   pg-statements.sh STEP                        # STEP: insert, upsert, upsert-existing
#
# upsert-existing runs an untimed, unlogged upsert first. EXTRA is appended to bulkinup's
# URL (e.g. EXTRA='&bulkinup_copy=off'), ARGS to its command line.
# Prints one line per statement (its first words): the server's time in ms (parse, bind and
# execute together), how many times it ran, then the total. Needs the server's log file
# (LOG, else the first /var/log/postgresql/*.log) readable on this machine, and a superuser
# (log_min_duration_statement is set in the URL's options).
. "$(dirname "$0")/pg-common.sh"
STEP=$1
LOG=${LOG:-$(ls /var/log/postgresql/*.log | head -n1)}
pg_scratch "bench_statements_$$"
case $STEP in
  insert|upsert) VERB=$STEP ;;
  upsert-existing)
    VERB=upsert
    DATABASE_URL=$URL_S${EXTRA:-} "$BIN" upsert "${BULK[@]}" "$IN/authors.ndjson" > /dev/null ;;
  *) echo "unknown step $STEP" >&2; exit 2 ;;
esac
FROM=$(( $(wc -l < "$LOG") + 1 ))
DATABASE_URL="$BASE?sslmode=disable&options=-c%20search_path%3D$S%20-c%20log_min_duration_statement%3D0${EXTRA:-}" \
  "$BIN" "$VERB" "${BULK[@]}" "$IN/authors.ndjson" > /dev/null
echo "$STEP${EXTRA:+ $EXTRA}${ARGS:+ $ARGS} | rows $(pg_rows)"
tail -n +"$FROM" "$LOG" | grep "duration: " | grep -v "statement: \(BEGIN\|COMMIT\)" \
  | sed -E 's/.*duration: ([0-9.]+) ms +(statement|execute|parse|bind)[^:]*: *(([A-Za-z_."]+ ?){1,3}).*/\1 \2 \3/' \
  | awk '{ ms = $1; kind = $2; $1 = ""; $2 = ""; key = substr($0, 3); t[key] += ms; all += ms
           if (kind == "execute" || kind == "statement") n[key]++ }
         END { for (k in t) printf "%10.1f ms %6d  %s\n", t[k], n[k], k; printf "%10.1f ms total\n", all }' \
  | sort -rn
