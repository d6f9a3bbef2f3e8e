"""Speech benchmarks, in-process and offline: TTS time to first audio, ASR real-time
factor and word error rate on speech synthesised by the local voice.

    DJANGO_SETTINGS_MODULE=config.settings .venv/bin/python bench/speech.py [-n 3]

Models are loaded (and timed) first; the numbers after that are for warm models.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import jiwer  # noqa: E402

from ai_model.speech.asr import LocalWhisper  # noqa: E402
from ai_model.speech.audio import PcmEncoder, decode_audio  # noqa: E402
from ai_model.speech.tts import LocalPiper  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please schedule the meeting for next Tuesday at three in the afternoon.",
    "Our small team builds a chat server that runs entirely on one machine.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Turn left at the second traffic light, then drive two miles to the old library.",
]
LONG_TEXT = " ".join(SENTENCES * 4)


def norm(text: str) -> str:
    return jiwer.RemovePunctuation()(text.lower()).strip()


async def main(n: int) -> None:
    piper, whisper = LocalPiper.get(), LocalWhisper.get()
    t0 = time.perf_counter()
    rate = await piper.warm()
    print(f"Piper voice load: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, whisper._load)
    print(f"Whisper tiny.en load: {time.perf_counter() - t0:.2f} s")

    ttfa, totals = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        first = None
        async for _chunk in piper.pcm(LONG_TEXT, 1.0):
            first = first or time.perf_counter() - t0
        ttfa.append(first)
        totals.append(time.perf_counter() - t0)
    print(f"TTS ({len(LONG_TEXT)} chars, 20 sentences): time to first audio median {statistics.median(ttfa) * 1000:.0f} ms, "
          f"whole text {statistics.median(totals):.2f} s")

    wers, rtfs = [], []
    for sentence in SENTENCES:
        encoder = PcmEncoder("wav", rate)
        wav = b"".join([encoder.feed(p) async for p in piper.pcm(sentence, 1.0)])
        audio = decode_audio(wav, max_duration_s=600)
        t0 = time.perf_counter()
        result = await whisper.transcribe(audio, "en")
        elapsed = time.perf_counter() - t0
        rtfs.append(elapsed / result.duration_s)
        wers.append(jiwer.wer(norm(sentence), norm(result.text)))
        print(f"  {wers[-1]:.3f} WER, RTF {rtfs[-1]:.3f}: {result.text!r}")
    print(f"ASR: mean WER {statistics.mean(wers):.3f}, median real-time factor {statistics.median(rtfs):.3f} "
          f"(seconds of compute per second of audio)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3)
    asyncio.run(main(parser.parse_args().n))
