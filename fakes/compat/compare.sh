#!/usr/bin/env bash
# Run the compatibility probe against llm-d-inference-sim and the fake, side by side.
#
# Usage: fakes/compat/compare.sh [SIM_BINARY]
# SIM_BINARY defaults to the one scripts/build-inference-sim.sh caches. The simulator listens on
# every interface and has no bind-address flag, so both servers run in a fresh network namespace
# (unshare -rn) whose only interface is loopback. Exits 1 when any probe row differs.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
sim="${1:-$(bash "$here/scripts/build-inference-sim.sh")}"
python="${PYTHON:-$here/.venv/bin/python}"
exec unshare -rn bash -euo pipefail -c '
  ip link set lo up
  sim="$1"; python="$2"; cd "$3"
  sim_log="$(mktemp)"
  VLLM_SERVER_DEV_MODE=1 "$sim" --port 8000 --model fake-model --enable-sleep-mode --force-dummy-tokenizer \
    >"$sim_log" 2>&1 & sim_pid=$!
  "$python" -m eppconf fake-server --host 127.0.0.1 --ports 8100 >/dev/null & fake_pid=$!
  trap "kill $sim_pid $fake_pid 2>/dev/null; wait; rm -f $sim_log" EXIT
  "$python" - <<"WAIT"
import time, urllib.request
deadline = time.monotonic() + 10
for url in ("http://127.0.0.1:8000/health", "http://127.0.0.1:8100/health"):
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within 10 s")
            time.sleep(0.1)
WAIT
  "$python" -m fakes.compat.probe sim=http://127.0.0.1:8000 fake=http://127.0.0.1:8100
' compare "$sim" "$python" "$here"
