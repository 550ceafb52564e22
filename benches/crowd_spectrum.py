#!/usr/bin/env python3
"""Does the caller's own spectrum or pitch tell their quiet words from the crowd's?

A study beside benches/crowd_frames.py (same frames, same labels, same
judge). The crowd score hears a frame by its level against the room and the
caller's loud words and by four octave bands; at café 10 dB SNR it still
cannot place the caller's quiet words. This asks whether a finer spectrum,
compared with the caller's own (learnt from their loud frames) and with the
room's (learnt from the line's quiet frames), adds what the levels lack: a
"personal" cue, as target-speaker VADs use.

Input: what `write_noisy_frames_for_the_crowd_study` writes (the CSVs and,
for café, each line's PCM under pcm/):

    CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice \
        --test noise_set -- --ignored crowd_study
    python3 benches/crowd_spectrum.py /tmp/crowd      # needs numpy

The fine spectrum: 16 mel bands from 250 to 3,500 Hz of the 32 ms ending at
each frame. The caller's profile is the mean of the frames within 6 dB of
the line's loudest twentieth and 6 dB over the room; the room's, of the
frames within 2 dB of the room. Profile cues: how much nearer the caller's
shape (bands less their mean) the frame lies than the room's, its rise
over the room weighted by where the caller stands over it, that less its
plain mean rise, its largest rise and the rises' spread; and each band's
own rise. The caller's pitch: the frame's periodicity (40 ms, Boersma's
normalised autocorrelation) at any period of 60-400 Hz, at the caller's own
(within 15 % of the median period of their loud, clearly periodic frames),
and the difference.

Prints, per café SNR, the AUC (and the caller frames heard at 1 % / 0.1 %
of crowd frames heard) of 400 ms of a logistic score in the frames the level
rules cannot place, with the level and band cues alone and with the
spectral cues added; then turns ended by each score summed as the crowd
score sums it (a CUSUM, ending the turn once the evidence passes N nats and
600 ms have passed since the frame it rose from).
"""

import sys
from pathlib import Path

import numpy as np

import crowd_frames as cf

RATE = 8000
FRAME = 160
FFT = 256
BANDS = 16
LO_HZ, HI_HZ = 250.0, 3500.0
PROFILE_FRAMES = 100  # 2 s of frames of a kind: the running mean's memory


def mel(hz):
    return 2595 * np.log10(1 + hz / 700)


def band_matrix():
    edges_mel = np.linspace(mel(LO_HZ), mel(HI_HZ), BANDS + 1)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    freqs = np.fft.rfftfreq(FFT, 1 / RATE)
    m = np.zeros((BANDS, len(freqs)))
    for b in range(BANDS):
        m[b] = (freqs >= edges[b]) & (freqs < edges[b + 1])
    return m


MATRIX = band_matrix()
WINDOW = np.hanning(FFT)


def band_levels(pcm, frames):
    """dB per mel band of the 32 ms ending at each frame's end (causal)."""
    padded = np.concatenate([np.zeros(FFT), pcm.astype(float) / 32768])
    ends = FFT + np.minimum((np.arange(frames) + 1) * FRAME, len(pcm))
    segments = padded[ends[:, None] - FFT + np.arange(FFT)] * WINDOW
    power = np.abs(np.fft.rfft(segments, axis=1)) ** 2
    return 10 * np.log10(power @ MATRIX.T / MATRIX.sum(1) + 1e-12)


def running_mean_where(x, mask):
    """Per frame, the mean of the last PROFILE_FRAMES rows of x where mask held (causal)."""
    out = np.full(x.shape, np.nan)
    kept = []
    for i in range(len(x)):
        if mask[i]:
            kept.append(x[i])
            if len(kept) > PROFILE_FRAMES:
                kept.pop(0)
        if kept:
            out[i] = np.mean(kept, 0)
    return out


def spectral_cues(bands, level):
    """Cues from the fine spectrum, against the caller's profile and the room's."""
    room = cf.rolling_percentile(level, 20)
    loud = cf.rolling_percentile(level, 95)
    shape = bands - bands.mean(1, keepdims=True)
    caller_mask = (level >= loud - 6) & (level >= room + 6)
    room_mask = level <= room + 2
    caller_shape = running_mean_where(shape, caller_mask)
    room_shape = running_mean_where(shape, room_mask)
    room_bands = running_mean_where(bands, room_mask)
    caller_bands = running_mean_where(bands, caller_mask)
    d_caller = np.sqrt(np.nansum((shape - caller_shape) ** 2, 1))
    d_room = np.sqrt(np.nansum((shape - room_shape) ** 2, 1))
    # Where the caller stands over the room, band by band, and how far this
    # frame rises over the room there: a matched filter on the caller.
    weight = np.clip(caller_bands - room_bands, 0, None)
    weight = weight / (weight.sum(1, keepdims=True) + 1e-9)
    rise = bands - room_bands
    matched = np.nansum(weight * rise, 1)
    unmatched = np.nansum((1 / BANDS) * rise, 1)
    cues = np.column_stack([d_room - d_caller, matched, matched - unmatched,
                            np.nanmax(rise, 1), np.nanstd(rise, 1), rise])
    return np.nan_to_num(cues)


PITCH_WINDOW = 320  # 40 ms
PITCH_FFT = 1024
LAGS = np.arange(20, 134)  # periods of 60-400 Hz, in samples
PITCH_HANN = np.hanning(PITCH_WINDOW)
HANN_AC = np.fft.irfft(np.abs(np.fft.rfft(PITCH_HANN, PITCH_FFT)) ** 2)[: PITCH_FFT // 2]
HANN_AC /= HANN_AC[0]


def autocorrelation(pcm, frames):
    """Each frame's normalised autocorrelation at LAGS: 40 ms ending at the
    frame, first-differenced, Hann-windowed, divided by the window's own
    (Boersma's method)."""
    x = np.concatenate([[0.0], np.diff(pcm.astype(float))])
    padded = np.concatenate([np.zeros(PITCH_WINDOW), x])
    ends = PITCH_WINDOW + np.minimum((np.arange(frames) + 1) * FRAME, len(x))
    seg = padded[ends[:, None] - PITCH_WINDOW + np.arange(PITCH_WINDOW)]
    seg = seg - seg.mean(1, keepdims=True)
    power = np.abs(np.fft.rfft(seg * PITCH_HANN, PITCH_FFT, axis=1)) ** 2
    ac = np.fft.irfft(power, axis=1)[:, : PITCH_FFT // 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ac = ac / (ac[:, :1] + 1e-9) / HANN_AC
    return np.nan_to_num(ac[:, LAGS])


def pitch_cues(pcm, level):
    """The frame's periodicity at any pitch, at the caller's own (within
    15 % of the median period of their loud, clearly periodic frames), and
    the difference."""
    r = autocorrelation(pcm, len(level))
    room = cf.rolling_percentile(level, 20)
    loud = cf.rolling_percentile(level, 95)
    best, best_lag = r.max(1), LAGS[r.argmax(1)]
    confident = (level >= loud - 6) & (level >= room + 6) & (best > 0.6)
    near = np.zeros(len(level))
    kept = []
    for i in range(len(level)):
        if confident[i]:
            kept = (kept + [best_lag[i]])[-PROFILE_FRAMES:]
        if kept:
            period = np.median(kept)
            near[i] = r[i, (LAGS >= 0.85 * period) & (LAGS <= 1.15 * period)].max()
    return np.column_stack([best, near, near - best])


def lines_with_spectrum(directory, name, snr, seeds=None):
    rows = np.loadtxt(Path(directory) / f"{name}-{snr}.csv", delimiter=",")
    if seeds is not None:
        rows = rows[np.isin(rows[:, 0], list(seeds))]
    base = cf.lines(rows)
    keys = np.unique(rows[:, :2], axis=0)
    out = []
    for (seed, case), (s, x, caller, crowd, inside, mean200) in zip(keys, base):
        assert s == seed
        pcm = np.fromfile(Path(directory) / "pcm" / f"{name}-{snr}-{int(seed)}-{int(case)}.s16",
                          dtype="<i2")
        level = rows[(rows[:, 0] == seed) & (rows[:, 1] == case)][:, 6]
        bands = band_levels(pcm, len(x))
        x = np.column_stack([x, spectral_cues(bands, level), pitch_cues(pcm, level)])
        out.append((s, x, caller, crowd, inside, mean200))
    return out


def main(directory):
    base = cf.LEVEL_AND_BANDS
    profile = list(range(12, 17))
    rises = list(range(17, 17 + BANDS))
    pitch = list(range(17 + BANDS, 20 + BANDS))
    variants = (("level and bands", base),
                ("+ profile cues", base + profile),
                ("+ profile and band rises", base + profile + rises),
                ("+ the caller's pitch", base + pitch),
                ("the caller's pitch alone", pitch))
    for snr in ("20", "10"):
        fixtures = lines_with_spectrum(directory, "fixtures", snr)
        held_out = lines_with_spectrum(directory, "held-out", snr)
        fitted = [line for line in fixtures if line[0] < 15]
        tests = [("fixtures, seeds 15-29", [line for line in fixtures if line[0] >= 15]),
                 ("held-out", held_out)]
        x = np.vstack([f[c | n][cf.SKIP:] for _, f, c, n, _, _ in fitted])
        y = np.concatenate([c[c | n][cf.SKIP:] for _, f, c, n, _, _ in fitted]).astype(float)
        print(f"\ncafé at {snr} dB: AUC of 400 ms of the score (caller heard at 1 % / 0.1 % crowd)")
        models = {}
        for cues, columns in variants:
            model = cf.fit(x[:, columns], y)
            models[cues] = (model, columns)
            for name, test in tests:
                pos, neg, _, _ = cf.windows(test, lambda f: model(f[:, columns]))
                both = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
                print(f"  {name:22} {cues:26} {cf.auc(np.concatenate([pos, neg]), both):.3f}"
                      f" ({cf.recall_at(pos, neg, 0.01):.2f} / {cf.recall_at(pos, neg, 0.001):.2f})")
        print(f"café at {snr} dB: turns ended by the summed score alone, on time / cut-offs")
        for cues, (model, columns) in models.items():
            for stopped in (10.0, 15.0, 20.0):
                cells = [cusum_ends(test, lambda f: model(f[:, columns]), stopped)
                         for _, test in tests]
                print(f"  {cues:26} at {stopped:.0f} nats: "
                      + " | ".join(f"{n} {on}/{total}, {cut}"
                                   for (n, _), (on, total, cut) in zip(tests, cells)))


def cusum_ends(test, score_of, stopped=15.0, wait=30, start=5):
    """Turns ended by the summed evidence that the caller stopped, as turn/crowd.rs sums it."""
    on_time = total = cut_offs = 0
    for _, x, _, _, inside, _ in test:
        score = score_of(x)
        ends, speaking, run, evidence, since = [], False, 0, 0.0, 0
        for i in range(cf.SKIP, len(x)):
            if not speaking:
                run = run + 1 if score[i] > 0 else 0
                speaking, evidence, since = run >= start, 0.0, 0
                continue
            evidence -= np.log(0.5 * np.exp(min(score[i], 30)) + 0.5)
            if evidence <= 0:
                evidence, since = 0.0, 0
            else:
                since += 1
            if evidence >= stopped and since >= wait:
                ends.append(i + 1)
                speaking, run = False, 0
        for a, b in cf.utterances(inside):
            if a < cf.SKIP:
                continue
            total += 1
            cut_offs += sum(a < e < b for e in ends)
            late = [(e - b) * cf.FRAME_MS for e in ends if e >= b]
            on_time += bool(late) and late[0] <= cf.BOUND_MS
    return on_time, total, cut_offs


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/crowd")
