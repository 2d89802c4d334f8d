#!/bin/sh
# tests/fuzz/run.sh: `make fuzz`: runs each fuzz target for a time and/or a number of executions, then a table of what each did.
#
#   sh tests/fuzz/run.sh BUILD SECONDS RUNS TARGET...
#
# SECONDS: libFuzzer's -max_total_time (0: no time limit).  RUNS: -runs
# (empty or 0: no limit); at least one of the two must limit the run.
# FUZZ_ONLY=WORD (environment): only targets whose name contains WORD.
# Each target keeps its corpus in BUILD/fuzz-corpus/NAME (it writes its own
# seeds there at start), its log in BUILD/fuzz-logs/NAME.log, and a crashing
# input in BUILD/fuzz-artifacts/.  Exit 1 if any target crashed.
set -u
build=$1 seconds=$2 runs=$3
shift 3
case $runs in ""|0) runs= ;; esac
if [ "$seconds" = 0 ] && [ -z "$runs" ]; then
	echo "fuzz: FUZZ_SECONDS=0 needs FUZZ_RUNS (or the fuzzers never stop)" >&2
	exit 2
fi
mkdir -p "$build/fuzz-logs" "$build/fuzz-artifacts" || exit 1
table=$(mktemp) || exit 1
trap 'rm -f "$table"' EXIT
crashed=0

for f in "$@"; do
	name=$(basename "$f")
	case $name in *"${FUZZ_ONLY:-}"*) ;; *) continue ;; esac
	corpus=$build/fuzz-corpus/$name log=$build/fuzz-logs/$name.log
	mkdir -p "$corpus" || exit 1
	limits=${runs:+$runs runs}
	[ "$seconds" != 0 ] && limits="${limits:+$limits, }at most $seconds s"
	echo "fuzz: $name: $limits ..."
	start=$(date +%s)
	"$f" -max_total_time="$seconds" ${runs:+-runs=$runs} \
		-artifact_prefix="$build/fuzz-artifacts/$name-" "$corpus" >"$log" 2>&1
	status=$?
	took=$(( $(date +%s) - start ))
	# libFuzzer's last words: "Done N runs in S second(s)"; after a crash, its last "#N" line.
	done_line=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
	if [ -n "$done_line" ]; then
		execs=$(echo "$done_line" | awk '{print $2}')
		secs=$(echo "$done_line" | awk '{print $5}')
	else
		execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
		secs=$took
	fi
	execs=${execs:-0}
	rate=-
	[ "$secs" -gt 0 ] && rate=$(( execs / secs ))
	if [ "$status" = 0 ]; then
		result="ok"
	else
		crashed=$((crashed + 1))
		result="CRASH: $(grep -m1 -E 'ERROR|runtime error|deadly signal' "$log")"
		artifact=$(grep -Eo "$build/fuzz-artifacts/[^ ]+" "$log" | tail -1)
		[ -n "$artifact" ] && result="$result (input: $artifact)"
	fi
	echo "fuzz: $name: $execs runs in $secs s ($rate/s): $result"
	printf '%-18s %12s %8s %9s  %s\n' "$name" "$execs" "$secs" "$rate" "$result" >>"$table"
done

echo
printf '%-18s %12s %8s %9s  %s\n' target runs seconds runs/s result
cat "$table"
[ "$crashed" = 0 ] || { echo "$crashed target(s) crashed"; exit 1; }
