#!/usr/bin/env bash
# The workflow suite with its steps run by tw-worker processes instead of
# the engine's worker lcores: chains (results passed along, immutable
# steps), groups, chords, links, nesting three levels deep, failures at
# each position with their errbacks, retries inside a chord, a group's
# listing and a chord of 2,000 members, on a queue declared `--consumers
# remote` (workflows_test.sh, TW_WF_RUNNER=tw-worker).
set -euo pipefail
TW_WF_RUNNER=tw-worker exec bash "$(dirname "$0")/workflows_test.sh"
