#!/usr/bin/env bash
# The table bench/fanout.sh prints from a results file: medians over repeated runs (odd and even
# counts, a failed run left out), the ratios to soketi and to the one-write floor, and every run
# listed in the order it ran. The figures in fanout_runs.txt are chosen so that each median and
# ratio in fanout_table.expected can be checked by hand. A single run per server prints the
# table as before, without the medians line or the list of runs; bad --repeat and --duration
# values are refused before anything runs.
# usage: fanout_table.sh <source dir>
set -euo pipefail
SRC=$1
HERE=$(cd "$(dirname "$0")" && pwd)
FANOUT=$SRC/bench/fanout.sh
export NICE=0
fail() { echo "FAIL: $*" >&2; exit 1; }

got=$(bash "$FANOUT" --table "$HERE/fanout_runs.txt")
if ! diff -u "$HERE/fanout_table.expected" <(printf '%s\n' "$got"); then
  fail "the table of repeated runs differs from fanout_table.expected"
fi

# One run per server and scenario: the first four lines of the fixture.
one=$(mktemp)
trap 'rm -f "$one"' EXIT
head -4 "$HERE/fanout_runs.txt" > "$one"
got=$(bash "$FANOUT" --table "$one")
grep -q '^medians' <<<"$got" && fail "a single run printed a medians line"
grep -q '^every run' <<<"$got" && fail "a single run printed the list of runs"
line=$(grep '^  latency p99 ms' <<<"$got")
[ "$line" = "  latency p99 ms                        30.00      40.00     1.33x     20.00     26.00     1.50x" ] ||
  fail "single-run p99 row: '$line'"

for bad in "--repeat 0" "--repeat x" "--repeat -1" "--duration 0" "--duration 3s"; do
  set +e
  err=$(bash "$FANOUT" $bad --table "$one" 2>&1 >/dev/null)
  rc=$?
  set -e
  [ "$rc" = 2 ] || fail "$bad: exit $rc, expected 2"
  grep -q "takes a positive whole number" <<<"$err" || fail "$bad: message '$err'"
done
echo "fanout table: ok"
