#!/usr/bin/env bash
# Runs the whole suite as a few pytest processes, one per group, and fails if any group failed. Why not one
# process: on the shared 2-core development machines single pytest processes of 13+ minutes were killed
# (SIGKILL, not by the tests) mid-run; short processes were not. Every group runs even after a failure,
# so one red group does not hide another. The last group is everything the others do not name, so a new
# test directory is never left out. Usage: hack/test.sh [pytest args...]
set -uo pipefail
PYTEST=${PYTEST:-.venv/bin/pytest}
GROUPS_=(
  "tests/e2e"
  "tests/integration/app tests/integration/chart tests/integration/controller"
  "tests/integration/observability tests/integration/reliability"
)
ignore=()
failed=()
run() { # run <label> <pytest args...>
  local label=$1; shift
  echo "test: pytest $label"
  "$PYTEST" "$@"
  local rc=$?
  # 5: nothing collected (e.g. every e2e test deselected by -k), not a failure
  if [[ $rc -ne 0 && $rc -ne 5 ]]; then failed+=("$label (exit $rc)"); fi
}
for g in "${GROUPS_[@]}"; do
  # shellcheck disable=SC2086 # a group is a space-separated list of paths
  run "$g" $g "$@"
  for p in $g; do ignore+=("--ignore=$p"); done
done
run "tests (the rest)" tests "${ignore[@]}" "$@"
if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'test: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "test: every group passed"
