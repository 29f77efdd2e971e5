#!/usr/bin/env bash
# make perf-scrape: what scraping /metrics every 100 ms costs the engine
# under full load. tw-loadgen drives the engine over memif (closed loop,
# noop, 5 s per run) alternately without and with a scraper (a Python
# stdlib loop on CPU 0, fetching /metrics every 100 ms), 3 runs each; the
# report gives each run's rate and the mean change. Writes
# perf/results/scrape.md. Stops everything it started.
set -euo pipefail
. "$(dirname "$0")/perf-lib.sh"
out=$TW_ROOT/perf/results/scrape.md
runs=${SCRAPE_RUNS:-3}
mkdir -p "$(dirname "$out")"

perf_engine_start perfscrape || exit 1
dir=$TW_DIR
trap 'tw_engine_stop "$dir"' EXIT
"$TW_BUILD/twctl" --socket "$dir/control.sock" queue declare bench >/dev/null
metrics=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$dir/control.log")
rate() { grep -o '"results_per_sec": [0-9]*' "$1" | awk '{ print $2 }'; }

# started in this shell (not in $(...), whose pipe it would hold open): $! is its pid
scraper() {
	taskset -c 0 /usr/bin/python3 -c '
import sys, time, urllib.request
url, n = "http://%s/metrics" % sys.argv[1], 0
while True:
    t = time.time()
    urllib.request.urlopen(url, timeout=5).read()
    n += 1
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
' "$metrics" >/dev/null 2>&1 &
}

rows=()
sum_off=0
sum_on=0
for ((i = 1; i <= runs; i++)); do
	perf_loadgen "$dir" --duration 5 --window 4096 --json "$dir/off-$i.json" 2>"$dir/lg.err" ||
		{ cat "$dir/lg.err"; exit 1; }
	scraper
	s=$!
	perf_loadgen "$dir" --duration 5 --window 4096 --json "$dir/on-$i.json" 2>"$dir/lg.err" ||
		{ cat "$dir/lg.err"; exit 1; }
	tw_stop_pid "$s" || true
	off=$(rate "$dir/off-$i.json")
	on=$(rate "$dir/on-$i.json")
	rows+=("| $i | $off | $on | $(awk -v a="$off" -v b="$on" 'BEGIN { printf "%+.2f%%", (b - a) * 100 / a }') |")
	sum_off=$((sum_off + off))
	sum_on=$((sum_on + on))
done
{
	echo "# Scraping /metrics every 100 ms under full load ($(date -u +%Y-%m-%dT%H:%MZ), \`make perf-scrape\`)"
	echo
	echo "tw-loadgen over memif, closed loop, noop, 64 B args, 1 task per frame, 5 s per run;"
	echo "runs alternate without and with the scraper."
	echo
	echo "| run | tasks/s, no scraping | tasks/s, scraping every 100 ms | change |"
	echo "| ---: | ---: | ---: | ---: |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Mean change: $(awk -v a="$sum_off" -v b="$sum_on" 'BEGIN { printf "%+.2f%%", (b - a) * 100 / a }')"
} | tee "$out"
