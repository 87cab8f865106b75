#!/usr/bin/env bash
# Starts the local speech server (scripts/speech/server.py) in the background unless one
# already answers /health on 127.0.0.1:${AGENTOPS_SPEECH_PORT:-8093}; waits until it is
# healthy, then prints its OpenAI-style base URL (http://127.0.0.1:8093/v1) on stdout.
#
# Needs scripts/speech/install.sh first. Logs go to $AGENTOPS_SPEECH_HOME/server.log, the pid
# to $AGENTOPS_SPEECH_HOME/server.pid. Extra arguments are passed to server.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home="${AGENTOPS_SPEECH_HOME:-$HOME/.cache/agentops/speech}"
port="${AGENTOPS_SPEECH_PORT:-8093}"
url="http://127.0.0.1:$port"
pidfile="$home/server.pid"
logfile="$home/server.log"
timeout="${AGENTOPS_SPEECH_START_TIMEOUT:-60}"

healthy() {
    "$home/venv/bin/python" - "$url/health" <<'PY' 2>/dev/null
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if json.load(r).get("status") == "ok" else 1)
except Exception:
    sys.exit(1)
PY
}

[ -x "$home/venv/bin/python" ] || { echo "speech start: not installed; run scripts/speech/install.sh" >&2; exit 1; }

if healthy; then
    echo "speech start: already running on $url" >&2
    echo "$url/v1"
    exit 0
fi

# Something else on the port that is not our server: say so rather than wait a minute.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    sleep 1
    if ! healthy; then
        echo "speech start: port $port is taken by something that is not the speech server" >&2
        exit 1
    fi
    echo "$url/v1"
    exit 0
fi

mkdir -p "$home"
nohup "$home/venv/bin/python" "$here/server.py" --host 127.0.0.1 --port "$port" "$@" \
    >"$logfile" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"

for _ in $(seq $((timeout * 5))); do
    if healthy; then
        echo "speech start: running on $url (pid $pid, log $logfile)" >&2
        echo "$url/v1"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 30 "$logfile" >&2
        rm -f "$pidfile"
        echo "speech start: the server exited (log $logfile)" >&2
        exit 1
    fi
    sleep 0.2
done
tail -n 30 "$logfile" >&2
kill "$pid" 2>/dev/null || true
rm -f "$pidfile"
echo "speech start: not healthy after ${timeout}s (log $logfile)" >&2
exit 1
