#!/usr/bin/env python3
"""Writes the two caller lines of BENCHMARKS.md, "A fade at the end of the caller's voice".

The fourth sentence of crates/voice/tests/fixtures/held-out-he.wav
(24.0-31.5 s), which trails off for 120 ms some 20 dB under its words after
its P.56 end at 30.30 s: `fade.wav` as it is, `fade-clean.wav` silent from
that end. 16-bit PCM at 8 kHz, as `agentlocator simulate-call` takes it.
Standard library only:

    python3 benches/fade_lines.py /tmp/fade
    AUDIO=/tmp/fade/fade.wav RUNS=3 PIN=1 BIN=target/release/agentlocator benches/call_load.sh 50
"""

import struct
import sys
import wave
from pathlib import Path

FIXTURE = Path(__file__).parent.parent / "crates/voice/tests/fixtures/held-out-he.wav"
RATE = 8000
START_S, END_S, P56_END_S = 24.0, 31.5, 30.30


def mulaw_samples(path):
    """The fixture's samples: G.711 mu-law in a WAV's data chunk."""
    raw = path.read_bytes()
    at = raw.index(b"data")
    (size,) = struct.unpack("<I", raw[at + 4 : at + 8])
    out = []
    for byte in raw[at + 8 : at + 8 + size]:
        u = ~byte & 0xFF
        magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)
        out.append(-(magnitude - 0x84) if u & 0x80 else magnitude - 0x84)
    return out


def write(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def main(directory):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    line = mulaw_samples(FIXTURE)[int(START_S * RATE) : int(END_S * RATE)]
    write(directory / "fade.wav", line)
    end = round((P56_END_S - START_S) * RATE)
    write(directory / "fade-clean.wav", line[:end] + [0] * (len(line) - end))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fade")
