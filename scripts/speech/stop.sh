#!/usr/bin/env bash
# Stops the local speech server started by scripts/speech/start.sh (by its pid file).
set -euo pipefail
home="${AGENTOPS_SPEECH_HOME:-$HOME/.cache/agentops/speech}"
pidfile="$home/server.pid"
if [ ! -f "$pidfile" ]; then
    echo "speech stop: not running (no $pidfile)"
    exit 0
fi
pid=$(cat "$pidfile")
# Only stop the process if it is still our server (the pid may have been reused).
if kill -0 "$pid" 2>/dev/null && grep -q "speech/server.py" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    echo "speech stop: stopped pid $pid"
else
    echo "speech stop: pid $pid was not running"
fi
rm -f "$pidfile"
