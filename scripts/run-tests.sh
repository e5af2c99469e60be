#!/usr/bin/env bash
# make test's pytest runs: every test but the kind ones, then the kind tests on their own. A kind
# cluster's pods load the 2-core machine up to 150 (the in-cluster scale test starts 100), which
# would push the local-control-plane tests past their timeouts if both ran side by side.
# Usage: scripts/run-tests.sh PYTEST [ARGS...]; exits with the first failing run's status.
set -u
pytest=$1
shift
status=0
for selection in "not kind" "kind"; do
  "$pytest" -n 2 -m "$selection" "$@"
  code=$?
  if [ "$code" -eq 5 ]; then  # pytest collected nothing: a broken test path or marker, not a pass
    echo "pytest -m '$selection' collected no tests: check testpaths in pyproject.toml and the kind marker" >&2
    code=1
  fi
  if [ "$status" -eq 0 ]; then status=$code; fi
done
exit "$status"
