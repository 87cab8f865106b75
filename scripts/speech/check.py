#!/usr/bin/env python3
"""End-to-end check of an OpenAI-compatible speech server (the local one by default).

    check.py [BASE_URL]      # e.g. http://127.0.0.1:8093/v1

Round-trips a command through /v1/audio/speech (OGG/Opus, as Telegram voice notes) and
/v1/audio/transcriptions, checks the error shapes, and measures a ~10 s voice note.
Standard library only. Exits non-zero on the first failed check.
"""
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

BASE = (sys.argv[1] if len(sys.argv) > 1 else None) or os.environ.get("SPEECH_BASE_URL") \
    or f"http://127.0.0.1:{os.environ.get('AGENTOPS_SPEECH_PORT', '8093')}/v1"
BASE = BASE.rstrip("/")
ROOT = BASE[:-3] if BASE.endswith("/v1") else BASE
KEY = os.environ.get("SPEECH_API_KEY", "")
STT_MODEL = os.environ.get("SPEECH_STT_MODEL", "whisper-1")
TTS_MODEL = os.environ.get("SPEECH_TTS_MODEL", "tts-1")
VOICE = os.environ.get("SPEECH_TTS_VOICE", "alloy")
LOCAL = os.environ.get("CHECK_LOCAL", "1") == "1"  # checks of the local server's own extras

COMMAND = "create project Voice with tasks run echo hello"
NOTE = ("Good morning. Please create a new project called Garden, add a task to water the "
        "tomatoes every evening at seven, and send me a short summary of yesterday's work "
        "before the team meeting starts.")

failures = 0


def ok(cond, what):
    global failures
    print(f"  {'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures += 1
        raise SystemExit(f"check failed: {what}")


def request(method, url, body=None, headers=None, timeout=120):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if KEY:
        req.add_header("Authorization", f"Bearer {KEY}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def speech(text, fmt="opus", **extra):
    body = json.dumps({"model": TTS_MODEL, "input": text, "voice": VOICE,
                       "response_format": fmt, **extra}).encode()
    t0 = time.monotonic()
    status, ctype, data = request("POST", f"{BASE}/audio/speech", body,
                                  {"Content-Type": "application/json"})
    return status, ctype, data, time.monotonic() - t0


def multipart(fields, file_bytes, filename="voice.ogg", ctype="audio/ogg"):
    b = uuid.uuid4().hex
    out = bytearray()
    for k, v in fields.items():
        out += f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    if file_bytes is not None:
        out += (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode() + file_bytes + b"\r\n"
    out += f"--{b}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={b}"


def transcribe(audio, filename="voice.ogg", **fields):
    body, ctype = multipart({"model": STT_MODEL, **fields}, audio, filename)
    t0 = time.monotonic()
    status, rtype, data = request("POST", f"{BASE}/audio/transcriptions", body, {"Content-Type": ctype})
    return status, rtype, data, time.monotonic() - t0


def words(text):
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_errors(expected, got):
    """Word-level edit distance."""
    a, b = words(expected), words(got)
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def is_error_shape(data, status_code, param=None, code=None):
    try:
        err = json.loads(data)["error"]
    except Exception:
        return False
    return (isinstance(err.get("message"), str) and err.get("type") == "invalid_request_error"
            and (param is None or err.get("param") == param)
            and (code is None or err.get("code") == code))


def main():
    print(f"speech check against {BASE}")
    if LOCAL:
        status, _, data = request("GET", f"{ROOT}/health")
        ok(status == 200 and json.loads(data).get("status") == "ok", f"GET /health -> {data.decode()}")
        status, _, data = request("GET", f"{BASE}/models")
        ids = [m["id"] for m in json.loads(data)["data"]]
        ok(status == 200 and {"whisper-1", "tts-1"} <= set(ids), f"GET /v1/models -> {ids}")

    # The command, as a Telegram voice note would carry it.
    status, ctype, opus, t_tts = speech(COMMAND, "opus")
    ok(status == 200 and ctype.startswith("audio/ogg"), f"speech opus -> {status} {ctype}, {len(opus)} bytes, {t_tts:.2f}s")
    ok(opus[:4] == b"OggS" and b"OpusHead" in opus[:200], "opus answer is an OGG container with Opus")
    status, ctype, data, t_stt = transcribe(opus)
    ok(status == 200 and ctype.startswith("application/json"), f"transcription -> {status} {ctype}, {t_stt:.2f}s")
    res = json.loads(data)
    ok(words(res["text"]) == words(COMMAND), f"words came back: {res['text']!r}")
    if LOCAL:
        ok(res.get("usage", {}).get("type") == "duration" and res["usage"]["seconds"] >= 1,
           f"usage -> {res.get('usage')}")

    for fmt, ctype_want, magic in (("wav", "audio/wav", b"RIFF"), ("mp3", "audio/mpeg", None)):
        status, ctype, audio, _ = speech(COMMAND, fmt)
        ok(status == 200 and ctype.startswith(ctype_want) and (magic is None or audio.startswith(magic)),
           f"speech {fmt} -> {status} {ctype}, {len(audio)} bytes")
        status, _, data, _ = transcribe(audio, f"voice.{fmt}")
        ok(status == 200 and words(json.loads(data)["text"]) == words(COMMAND),
           f"{fmt} round trip: {json.loads(data).get('text')!r}")

    status, ctype, data, _ = transcribe(opus, response_format="text")
    ok(status == 200 and ctype.startswith("text/plain") and words(data.decode()) == words(COMMAND),
       f"response_format=text -> {ctype} {data.decode().strip()!r}")
    status, _, data, _ = transcribe(opus, response_format="verbose_json", language="en")
    v = json.loads(data)
    seg = (v.get("segments") or [{}])[0]
    ok(status == 200 and isinstance(v.get("duration"), (int, float)) and v.get("language")
       and {"id", "start", "end", "text"} <= set(seg),
       f"verbose_json -> language={v.get('language')} duration={v.get('duration')} segments={len(v.get('segments', []))}")

    # Errors, in OpenAI's shape.
    status, _, data, _ = transcribe(b"this is not audio at all" * 40, "broken.ogg")
    ok(status == 400 and is_error_shape(data, 400, "file", "invalid_audio" if LOCAL else None),
       f"broken file -> {status} {data.decode()[:110]}")
    if LOCAL:
        status, _, data, _ = transcribe(None)
        ok(status == 400 and is_error_shape(data, 400, "file"), f"missing file -> {status}")
        body, ctype = multipart({"model": STT_MODEL}, b"\0" * (25 * 1024 * 1024 + 1), "big.ogg")
        status, _, data = request("POST", f"{BASE}/audio/transcriptions", body, {"Content-Type": ctype})
        ok(status == 413 and is_error_shape(data, 413), f"over 25 MB -> {status}")
        status, _, data = request("POST", f"{BASE}/audio/speech", b"{not json", {"Content-Type": "application/json"})
        ok(status == 400 and is_error_shape(data, 400), f"bad JSON -> {status}")
        status, _, data, _ = speech("")
        ok(status == 400 and is_error_shape(data, 400, "input"), f"empty input -> {status}")
        status, _, data, _ = speech("hello", "ogg")
        ok(status == 400 and is_error_shape(data, 400, "response_format"), f"unsupported format -> {status}")
        status, _, data, _ = speech("hello", "wav", speed=9)
        ok(status == 400 and is_error_shape(data, 400, "speed"), f"speed out of range -> {status}")
        status, _, data = request("GET", f"{BASE}/nope")
        ok(status == 404 and is_error_shape(data, 404), f"unknown route -> {status}")
        again = speech(COMMAND, "opus")[2]
        ok(again == opus, "synthesis is deterministic (same text, same bytes)")

    # A ~10 s voice note: synthesis and transcription times.
    print("\nmeasuring a ~10 s voice note")
    t_synth = []
    for _ in range(3):
        status, _, note, t = speech(NOTE, "opus")
        ok(status == 200, f"speech of the note: {len(note)} bytes in {t:.2f}s")
        t_synth.append(t)
    t_stt, text, duration = [], "", 0.0
    for _ in range(3):
        status, _, data, t = transcribe(note, response_format="verbose_json")
        ok(status == 200, f"transcription of the note in {t:.2f}s")
        v = json.loads(data)
        text, duration = v["text"], v.get("duration", 0.0)
        t_stt.append(t)
    errs = word_errors(NOTE, text)
    n = len(words(NOTE))
    print(f"  heard: {text!r}")
    ok(errs <= max(2, n // 5), f"{errs} word errors of {n} words")

    # /health answers while a transcription runs (requests are served by threads).
    if LOCAL:
        th = threading.Thread(target=transcribe, args=(note,))
        th.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        status, _, _ = request("GET", f"{ROOT}/health")
        t_health = time.monotonic() - t0
        th.join()
        ok(status == 200 and t_health < 0.5, f"/health during a transcription: {t_health * 1000:.0f} ms")

    print(f"\nfigures: note of {duration:.1f} s audio ({len(note)} bytes OGG/Opus); "
          f"synthesis median {statistics.median(t_synth):.2f} s; "
          f"transcription median {statistics.median(t_stt):.2f} s (min {min(t_stt):.2f}, max {max(t_stt):.2f})")
    print("speech check: all passed")


if __name__ == "__main__":
    main()
