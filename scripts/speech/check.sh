#!/usr/bin/env bash
# Checks a running speech server end to end (see check.py), by default the local one started
# by scripts/speech/start.sh:
#
#   scripts/speech/check.sh                          # http://127.0.0.1:${AGENTOPS_SPEECH_PORT:-8093}/v1
#   scripts/speech/check.sh http://127.0.0.1:9000/v1
#   CHECK_LOCAL=0 SPEECH_API_KEY=... SPEECH_STT_MODEL=whisper-large-v3 \
#       scripts/speech/check.sh https://api.scaleway.ai/v1   # a hosted provider: common checks only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home="${AGENTOPS_SPEECH_HOME:-$HOME/.cache/agentops/speech}"
python=python3
[ -x "$home/venv/bin/python" ] && python="$home/venv/bin/python"
exec "$python" "$here/check.py" "$@"
