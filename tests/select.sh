# One test of any kind: `make test T=NAME` runs only the unit, data-plane,
# integration or fuzz test whose file name (without _test, .sh, fuzz_) is
# NAME, e.g. T=wire, T=routing, T=fuzz_parse; several separated by commas
# (T=restart,durable). Sourced by the suite runners.
#
# tw_test_selected PATH: true when PATH is a selected test, or when no
# test is selected.
tw_test_selected() {
	[ -n "${T:-}" ] || return 0
	local name t
	name=$(basename "$1")
	name=${name%.sh}
	for t in ${T//,/ }; do
		[ "$name" = "$t" ] || [ "$name" = "${t}_test" ] || [ "$name" = "fuzz_$t" ] && return 0
	done
	return 1
}
