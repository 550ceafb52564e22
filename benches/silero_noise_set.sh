#!/usr/bin/env bash
# Pipecat 1.14's Silero VAD on our end-of-turn noise set (street, car and
# café noise at 20/10/5 dB SNR, 10 seeds, plus clean), judged as
# crates/voice/tests/noise_set.rs judges our turn detector: per family and
# SNR, ends on time (<= wait + 100 ms), cut-offs, mean and max delay.
# Pipecat is wired as ../shared/peers/pipecat_server.py --turn vad wires it
# (SileroVADAnalyzer() defaults, SpeechTimeoutUserTurnStopStrategy 0.6 s,
# 8 kHz mu-law in 20 ms Twilio frames); see benches/silero_noise_set.py.
#
# Usage: benches/silero_noise_set.sh       (one command: venv, dump, table)
# VENV (default /tmp/pcvenv) is made if missing; DUMP (default
# /tmp/noise-set) is rewritten from the Rust test each run; CONFIGS
# (default a,b,b2) and JOBS pass through to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/pcvenv}
DUMP=${DUMP:-/tmp/noise-set}
CONFIGS=${CONFIGS:-a,b,b2}
JOBS=${JOBS:-$(nproc)}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pipecat.audio.vad.silero' 2>/dev/null; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pipecat-ai[websocket,silero]==1.14.0" "uvicorn[standard]==0.54.0"
fi

NOISE_SET_DUMP=$DUMP cargo test -q --release -p agentlocator-voice --test noise_set -- --ignored dump >/dev/null
"$VENV/bin/python" -W ignore::DeprecationWarning benches/silero_noise_set.py "$DUMP" --configs "$CONFIGS" --jobs "$JOBS"
