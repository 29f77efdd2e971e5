# One test of any kind: `make test T=NAME` runs only the unit, data-plane,
# integration or fuzz test whose file name (without _test, .sh, fuzz_) is
# NAME, e.g. T=wire, T=routing, T=fuzz_parse. Sourced by the suite runners.
#
# tw_test_selected PATH: true when PATH is the selected test, or when no
# test is selected.
tw_test_selected() {
	[ -n "${T:-}" ] || return 0
	local name
	name=$(basename "$1")
	name=${name%.sh}
	[ "$name" = "$T" ] || [ "$name" = "${T}_test" ] || [ "$name" = "fuzz_$T" ]
}
