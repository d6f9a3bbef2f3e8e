"""Audio decoding and encoding with PyAV (FFmpeg), the library faster-whisper decodes with.

Decoding accepts what browsers record (WebM/Opus from MediaRecorder) and common files
(WAV, MP3, Ogg, M4A, FLAC): anything FFmpeg reads. Encoding streams: a WAV header with
unknown sizes (0xFFFFFFFF, the usual convention for streamed WAV) followed by PCM, or
MP3 / Ogg Opus written incrementally, so audio can be sent sentence by sentence.
"""

from __future__ import annotations

import io
import struct
from types import MappingProxyType

import av
import numpy as np

from core.errors import DomainError


class AudioError(DomainError):
    """Unusable audio input (400, field `file`); `code` is stable: empty_file, not_audio,
    too_large, too_long, unsupported_language (field `language`)."""

    code = "not_audio"
    field = "file"


def decode_audio(data: bytes, *, sample_rate: int = 16_000, max_duration_s: float) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at `sample_rate` Hz.

    Raises AudioError: `empty_file`, `not_audio` (not decodable, or no audio stream, or no
    samples) and `too_long` (more than `max_duration_s` seconds; decoding stops there).
    """
    if not data:
        raise AudioError("The uploaded file is empty.", code="empty_file")
    limit = int(max_duration_s * sample_rate)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError("The file has no audio stream.", code="not_audio")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    array = out.to_ndarray().reshape(-1)
                    chunks.append(array)
                    total += array.size
                if total > limit:
                    raise AudioError(f"The audio is longer than {max_duration_s:g} seconds.", code="too_long")
            for out in resampler.resample(None):
                array = out.to_ndarray().reshape(-1)
                chunks.append(array)
                total += array.size
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise AudioError(f"The file is not audio FFmpeg can read ({type(exc).__name__}).", code="not_audio") from None
    if total == 0:
        raise AudioError("The file contains no audio samples.", code="not_audio")
    if total > limit:
        raise AudioError(f"The audio is longer than {max_duration_s:g} seconds.", code="too_long")
    return (np.concatenate(chunks).astype(np.float32) / 32768.0).clip(-1.0, 1.0)


def wav_header(sample_rate: int, *, channels: int = 1, sample_width: int = 2, data_size: int | None = None) -> bytes:
    """A 44-byte RIFF/WAVE PCM header; `data_size=None` writes 0xFFFFFFFF (length unknown)."""
    unknown = 0xFFFFFFFF
    riff_size = unknown if data_size is None else 36 + data_size
    byte_rate = sample_rate * channels * sample_width
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, byte_rate, channels * sample_width, 8 * sample_width)
        + b"data" + struct.pack("<I", unknown if data_size is None else data_size)
    )


class _Sink(io.RawIOBase):
    """A write-only file that hands out what was written since the last `take()`."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        out, self.buffer = bytes(self.buffer), bytearray()
        return out


class PcmEncoder:
    """Incremental encoder of mono 16-bit PCM at `sample_rate` into `wav`, `mp3` or `opus`
    (Ogg). `feed(pcm)` and `close()` return the bytes ready so far."""

    FORMATS = MappingProxyType({"mp3": ("mp3", "libmp3lame", None), "opus": ("ogg", "libopus", 48_000)})
    CONTENT_TYPES = MappingProxyType({"wav": "audio/wav", "mp3": "audio/mpeg", "opus": "audio/ogg"})

    def __init__(self, response_format: str, sample_rate: int) -> None:
        self.format = response_format
        self.sample_rate = sample_rate
        self._header_sent = False
        self.pts = 0
        if response_format == "wav":
            return
        container_format, codec, rate = self.FORMATS[response_format]
        self.out_rate = rate or sample_rate
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=container_format)
        self._stream = self._container.add_stream(codec, rate=self.out_rate, layout="mono")
        self._resampler = av.AudioResampler(format=self._stream.codec_context.format, layout="mono", rate=self.out_rate)

    def feed(self, pcm: bytes) -> bytes:
        """Encode more 16-bit mono PCM; returns the encoded bytes ready so far (maybe none)."""
        if self.format == "wav":
            head = b"" if self._header_sent else wav_header(self.sample_rate)
            self._header_sent = True
            return head + pcm
        samples = np.frombuffer(pcm, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        self._encode(self._resampler.resample(frame))
        return self._sink.take()

    def close(self) -> bytes:
        """Flush the encoder; returns the last bytes (for WAV, the header if nothing was fed)."""
        if self.format == "wav":
            return b"" if self._header_sent else wav_header(self.sample_rate)
        self._encode(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def _encode(self, frames) -> None:
        for frame in frames:
            frame.pts = self.pts
            self.pts += frame.samples
            for packet in self._stream.encode(frame):
                self._container.mux(packet)


def wav_with_sizes(data: bytes) -> bytes:
    """A streamed WAV (unknown sizes) rewritten with its real sizes, for caching."""
    if data[:4] == b"RIFF" and len(data) >= 44:
        return wav_header(struct.unpack("<I", data[24:28])[0], data_size=len(data) - 44) + data[44:]
    return data
