"""Cross-check of benches/silero_noise_set.py on one line: a real Pipecat
pipeline (the fake STT, then the user aggregator with Silero and a 0.6 s
speech timeout, as ../shared/peers/pipecat_server.py --turn vad), fed the
WAV in real time as 20 ms mu-law-decoded frames. Prints the sample at which
each user turn ended, to compare with the script's simulated ends.

Usage (after benches/silero_noise_set.sh has made the venv and the dump):
  /tmp/pcvenv/bin/python benches/silero_noise_set_check.py /tmp/noise-set/cafe-20-1-0.wav
"""
import asyncio, os, sys, time, wave, audioop
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
from loguru import logger
logger.remove(); logger.add(sys.stderr, level="WARNING")
import pipecat_server as ps
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import InputAudioRawFrame, EndFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

async def main(path):
    w = wave.open(path); pcm = w.readframes(w.getnframes())
    heard = audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)
    stt = ps.FakeSTT(latency_s=0.3, text=ps.STT_TEXT)
    ctx = LLMContext(messages=[{"role": "system", "content": "x"}])
    up = LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer(), user_turn_strategies=UserTurnStrategies(
        stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.6)]))
    user, _ = LLMContextAggregatorPair(ctx, user_params=up)
    worker = PipelineWorker(Pipeline([stt, user]), params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000))
    t0 = None; ends = []
    @user.event_handler("on_user_turn_stopped")
    async def stopped(agg, strategy, message):
        ends.append(round((time.monotonic() - t0) * 8000))
    async def feed():
        nonlocal t0
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        n = len(heard) // 2
        for k, i in enumerate(range(0, n, 160)):
            await worker.queue_frame(InputAudioRawFrame(audio=heard[2*i:2*(i+160)], sample_rate=8000, num_channels=1))
            # the frame ending at sample i+160 arrives at (i+160)/8000 s
            await asyncio.sleep(max(0, t0 + (i + 160) / 8000 - time.monotonic()))
        await asyncio.sleep(1.5)
        await worker.queue_frame(EndFrame())
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), feed())
    print(path, "turn ends (samples):", ends)

asyncio.run(main(sys.argv[1]))
