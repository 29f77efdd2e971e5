#!/usr/bin/env bash
# runs alone: it bounds twctl's round trips under attack against a baseline (run.sh)
# The control socket under hostile clients, through the real binaries:
#  1. while clients hold connections open with half a request, a length
#     prefix and no body, half a length, a stream of requests whose replies
#     they never read, and 150 idle connections (reconnecting whenever
#     tw-control cuts them off), a status request from another client is
#     answered at once (median under 100 ms, none over 1 s), and `twctl
#     status` takes at most 100 ms more than without the attack (its own
#     start-up is most of it on a busy machine); figures printed;
#     the cut-offs are counted in `twctl status`;
#  2. a 4 MiB request of two million empty bindings is refused for what it
#     would decode to (a message, a counter) and tw-control's memory stays
#     within a bound (it grew by about 1 GB before): an import of more
#     bindings than the engine holds is refused before it is decoded, and
#     4 MiB of bindings with empty arguments (within the count) for what
#     they would decode to;
#  3. a length above the 4 MiB limit gets a message naming the limit.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
here=$(dirname "$0")
py=/usr/bin/python3
now_ns() { date +%s%N; }

stats() { # numbers on stdin -> "median max"
	sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)], v[NR]}'
}
twctl_times() { # N: wall time of N `twctl status` runs, in ms, one a line
	local i t0 t1
	for i in $(seq 1 "$1"); do
		t0=$(now_ns)
		twctl status >/dev/null || fail "twctl status failed (sample $i)"
		t1=$(now_ns)
		echo $(((t1 - t0) / 1000000))
		sleep 0.2
	done
}

# 0. the baseline on this machine, no attack: a twctl run's own cost (exec,
# dynamic linking) is part of every figure below
read -r base_med base_max < <(twctl_times 10 | stats)
echo "twctl status, no attack: median ${base_med} ms, max ${base_max} ms"

# 1. status while hostile clients hold the socket: first the stalling kinds
# (under the connection limit, so each is cut off by its own deadline), then
# far more connections than the limit
attack() { # label seconds idle-connections
	local label=$1 median max tmed tmax rtts
	$py "$here/ctl_hostile.py" "$TW_SOCKET" hold "$2" "$3" >"$TW_DIR/hostile.txt" 2>&1 &
	hostile=$!
	trap 'kill $hostile 2>/dev/null || true' EXIT
	sleep 1.5 # every attack in place
	rtts=$($py "$here/ctl_hostile.py" "$TW_SOCKET" probe 20) || fail "probe: $rtts"
	twctl_times 15 >"$TW_DIR/times.txt"
	wait $hostile || fail "hostile clients: $(cat "$TW_DIR/hostile.txt")"
	trap - EXIT
	echo "[$label] $(cat "$TW_DIR/hostile.txt")"
	read -r median max < <(tr ' ' '\n' <<<"$rtts" | stats)
	echo "[$label] status round trip (connect to last byte): median ${median} ms, max ${max} ms (all: $rtts)"
	read -r tmed tmax < <(stats <"$TW_DIR/times.txt")
	echo "[$label] twctl status: median ${tmed} ms, max ${tmax} ms (all: $(tr '\n' ' ' <"$TW_DIR/times.txt"))"
	awk -v m="$median" -v x="$max" 'BEGIN { exit !(m < 100 && x < 1000) }' ||
		fail "[$label] status round trip: median ${median} ms, max ${max} ms"
	[ "$tmed" -lt $((base_med + 100)) ] || fail "[$label] twctl median ${tmed} ms (baseline ${base_med} ms)"
	[ "$tmax" -lt 1000 ] || fail "[$label] twctl max ${tmax} ms"
}
attack "stalling clients" 12 30
rt=$(control_counter ctl_request_timeouts)
pt=$(control_counter ctl_reply_timeouts)
echo "counted: ctl_request_timeouts $rt, ctl_reply_timeouts $pt"
[ "$rt" -ge 2 ] || fail "partial requests not cut off (ctl_request_timeouts $rt)"
[ "$pt" -ge 1 ] || fail "a client that never reads not cut off (ctl_reply_timeouts $pt)"
attack "150 more connections than the limit" 6 150
ev=$(control_counter ctl_evicted)
echo "counted: ctl_evicted $ev"
[ "$ev" -ge 1 ] || fail "no connection made room past the limit (ctl_evicted $ev)"
echo "ok: status served at once while hostile clients held the socket"

# 2. two million empty bindings in 4 MiB
hwm() { awk '/VmHWM/ {print $2}' "/proc/$TW_CTL_PID/status"; }
before=$(hwm)
$py "$here/ctl_hostile.py" "$TW_SOCKET" bomb >"$TW_DIR/bomb.txt" 2>&1 || fail "bomb: $(cat "$TW_DIR/bomb.txt")"
cat "$TW_DIR/bomb.txt"
grep -q "definitions with 2000000 bindings, above the limit of 262144" "$TW_DIR/bomb.txt" ||
	fail "no refusal: $(cat "$TW_DIR/bomb.txt")"
$py "$here/ctl_hostile.py" "$TW_SOCKET" argbomb >"$TW_DIR/argbomb.txt" 2>&1 ||
	fail "argbomb: $(cat "$TW_DIR/argbomb.txt")"
cat "$TW_DIR/argbomb.txt"
grep -q "decodes to more than" "$TW_DIR/argbomb.txt" || fail "no refusal: $(cat "$TW_DIR/argbomb.txt")"
after=$(hwm)
echo "tw-control peak memory: $((before / 1024)) MiB before, $((after / 1024)) MiB after"
[ $((after - before)) -lt $((200 * 1024)) ] || fail "peak memory grew by $(((after - before) / 1024)) MiB"
[ "$(control_counter ctl_decode_over_budget)" -ge 1 ] || fail "not counted"
[ "$(control_counter ctl_over_limits)" -ge 1 ] || fail "ctl_over_limits not counted"
echo "ok: a request that decodes to far more than it carries is refused, memory bounded"
$py "$here/ctl_hostile.py" "$TW_SOCKET" manybind 262145 >"$TW_DIR/many.txt" 2>&1 || fail "manybind: $(cat "$TW_DIR/many.txt")"
cat "$TW_DIR/many.txt"
grep -q "definitions with 262145 bindings, above the limit of 262144" "$TW_DIR/many.txt" ||
	fail "more bindings than the engine holds: $(cat "$TW_DIR/many.txt")"
[ "$(control_counter ctl_over_limits)" -ge 1 ] || fail "ctl_over_limits not counted"
echo "ok: more bindings than the engine can hold are refused before decoding"

# 3. a length above the limit
$py - "$TW_SOCKET" >"$TW_DIR/big.txt" <<'EOF' || fail "too large: $(cat "$TW_DIR/big.txt")"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(struct.pack("<I", (4 << 20) + 1))
data = b""
while True:
    got = s.recv(4096)
    if not got:
        break
    data += got
print(data[4:].decode("utf-8", "replace"))
EOF
grep -q "above the 4194304-byte limit" "$TW_DIR/big.txt" || fail "message: $(cat "$TW_DIR/big.txt")"
[ "$(control_counter ctl_too_large)" -ge 1 ] || fail "too large not counted"
twctl status >/dev/null || fail "status after the attacks"
echo "ok: a length above the limit is refused with a message"
