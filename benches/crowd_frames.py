#!/usr/bin/env python3
"""A learned score of café frames: can a mix of cues hear the caller under the crowd?

The turn detector judges a café line by levels against the room (its
quietest fifth over 10 s) and against the caller's own level; at 10 dB SNR
the caller's quiet words and the crowd's swells sit at the same levels,
and every level rule tried trades cut-offs for late ends (BENCHMARKS.md,
"Turn-taking under noise"). This study asks whether a logistic regression
over cues the detector could compute per frame separates the two better,
and whether that would end turns on time.

Input: the CSVs that crates/voice/tests/noise_set.rs
`write_noisy_frames_for_the_crowd_study` writes for café (one row per 20 ms
frame: seed, case, frame, inside a P.56 utterance, caller over noise dB,
caller's clean level, the line's high-passed level, periodicity, crossing
rate, and the line's level in the four speech bands; then the turn
detector's crowd cues, which benches/crowd_score_fit.py reads):

    CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice \
        --test noise_set -- --ignored crowd_study
    python3 benches/crowd_frames.py /tmp/crowd      # needs numpy

Labels: a frame is the caller when it lies inside an utterance and the
caller is at least as loud as the crowd there (in the full band or one
band); it is the crowd when it lies in the 3 s after an utterance and the
caller's clean speech there is under -60 dBFS. Features, all causal: the
line's level over the room (its 20th percentile over 10 s) and its 200 ms
mean over the room, how far under the line's 95th percentile over 10 s
(the caller's loud frames) it is, its change from the last frame, its
spread over 100 and 500 ms, periodicity, crossing rate, and each band's
level over that band's own 20th percentile. The model is fitted on the
end-of-turn set's seeds 0-14 and judged on its seeds 15-29 and on the
held-out speakers (never fitted on).

Prints (1) how well 400 ms of the score tells the caller from the crowd
where the 200 ms mean is under 8 dB over the room (the frames the level
rules cannot place), beside that 200 ms mean itself; (2) turn ends, on
time (within 700 ms of the P.56 end) and cut-offs, of a detector that
hears the caller while the score's mean over W ms is over T and ends the
turn after WAIT ms of not hearing them.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FRAME_MS = 20
ROOM_FRAMES = 500  # 10 s, as the detector's room
SKIP = 100  # the first 2 s: no room yet
AFTER = 150  # crowd frames: within 3 s of an utterance's end
BOUND_MS = 700  # the target: the configured wait (600) + 100 ms
LEVEL = list(range(6))
LEVEL_AND_BANDS = list(range(10))


def rolling_percentile(x, q):
    padded = np.concatenate([np.full(ROOM_FRAMES - 1, np.nan), x])
    return np.nanpercentile(sliding_window_view(padded, ROOM_FRAMES), q, axis=1)


def spread(x, n):
    return np.concatenate([np.zeros(n - 1), sliding_window_view(x, n).std(axis=1)])


def lines(rows):
    """Per line: seed, features, caller frames, crowd frames, inside, 200 ms mean over room.

    `rows`: a study CSV's path, or its rows already read."""
    if not isinstance(rows, np.ndarray):
        rows = np.loadtxt(rows, delimiter=",")
    out = []
    for seed, case in np.unique(rows[:, :2], axis=0):
        line = rows[(rows[:, 0] == seed) & (rows[:, 1] == case)]
        line = line[np.argsort(line[:, 2])]
        inside, over, clean, level, periodic, crossings = line[:, 3:9].T
        bands = line[:, 9:13]
        room = rolling_percentile(level, 20)
        mean200 = 10 * np.log10(np.convolve(10 ** (level / 10), np.ones(10) / 10)[: len(level)])
        over_floor = np.stack([b - rolling_percentile(b, 20) for b in bands.T], 1)
        features = np.column_stack([
            level - room,
            mean200 - room,
            rolling_percentile(level, 95) - level,
            np.concatenate([[0.0], np.diff(level)]),
            spread(level, 5),
            spread(level, 25),
            over_floor,
            periodic,
            crossings,
        ])
        since = np.zeros(len(level))
        last = -(10**9)
        for i, v in enumerate(inside):
            last = i if v == 1 else last
            since[i] = i - last
        caller = (inside == 1) & (over >= 0) & (clean > -60)
        crowd = (inside == 0) & (clean < -60) & (since <= AFTER)
        out.append((seed, features, caller, crowd, inside, mean200 - room))
    return out


def fit(x, y, steps=3000, rate=0.1, l2=1e-3):
    """Class-balanced logistic regression by gradient descent; returns the log-odds."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.column_stack([(x - mu) / sd, np.ones(len(x))])
    w = np.zeros(z.shape[1])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        w -= rate * (z.T @ ((p - y) * weight) / len(y) + l2 * w)
    return lambda x: np.column_stack([(x - mu) / sd, np.ones(len(x))]) @ w


def auc(score, y):
    order = np.argsort(score)
    rank = np.empty(len(order))
    rank[order] = np.arange(len(order))
    n1 = (y == 1).sum()
    return (rank[y == 1].sum() - n1 * (n1 - 1) / 2) / (n1 * (len(y) - n1))


def recall_at(pos, neg, false_rate):
    return (pos > np.sort(neg)[int(len(neg) * (1 - false_rate))]).mean()


def windows(test, score_of, w=20):
    """400 ms means of the score and of the level rule's 200 ms mean, ambiguous zone only."""
    pos, neg, pos_level, neg_level = [], [], [], []
    for _, x, caller, crowd, inside, mean200 in test:
        score = np.convolve(score_of(x), np.ones(w) / w)[: len(x)]
        for i in range(SKIP + w, len(x)):
            span = slice(i - w + 1, i + 1)
            if mean200[i] >= 8:
                continue
            if inside[span].all() and caller[span].sum() >= w // 2:
                pos.append(score[i])
                pos_level.append(mean200[i])
            elif crowd[span].all():
                neg.append(score[i])
                neg_level.append(mean200[i])
    return map(np.array, (pos, neg, pos_level, neg_level))


def utterances(inside):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside, [0]])))
    return list(zip(edges[::2], edges[1::2]))


def turn_ends(test, score_of, threshold, w, wait, start=5):
    on_time = total = cut_offs = 0
    for _, x, _, _, inside, _ in test:
        heard = np.convolve(score_of(x), np.ones(w) / w)[: len(x)] > threshold
        ends, speaking, quiet, run = [], False, 0, 0
        for i in range(SKIP, len(x)):
            if not speaking:
                run = run + 1 if heard[i] else 0
                speaking, quiet = run >= start, 0
            else:
                quiet = 0 if heard[i] else quiet + 1
                if quiet >= wait:
                    ends.append(i + 1)
                    speaking, run = False, 0
        for a, b in utterances(inside):
            if a < SKIP:
                continue
            total += 1
            cut_offs += sum(a < e < b for e in ends)
            late = [(e - b) * FRAME_MS for e in ends if e >= b]
            on_time += bool(late) and late[0] <= BOUND_MS
    return on_time, total, cut_offs


def main(directory):
    for snr in ("20", "10"):
        fixtures = lines(Path(directory) / f"fixtures-{snr}.csv")
        held_out = lines(Path(directory) / f"held-out-{snr}.csv")
        fitted = [line for line in fixtures if line[0] < 15]
        tests = [("fixtures, seeds 15-29", [line for line in fixtures if line[0] >= 15]),
                 ("held-out", held_out)]
        x = np.vstack([f[c | n][SKIP:] for _, f, c, n, _, _ in fitted])
        y = np.concatenate([c[c | n][SKIP:] for _, f, c, n, _, _ in fitted]).astype(float)
        print(f"\ncafé at {snr} dB: caller and crowd where the 200 ms mean is under 8 dB over the room,"
              " 400 ms of the score (AUC; caller frames heard with 1 % / 0.1 % of crowd frames heard)")
        for cues, columns in (("level cues", LEVEL), ("level and bands", LEVEL_AND_BANDS),
                              ("all cues", list(range(12)))):
            model = fit(x[:, columns], y)
            for name, test in tests:
                pos, neg, pos_level, neg_level = windows(test, lambda f: model(f[:, columns]))
                both = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
                print(f"  {name:22} {cues:16} score {auc(np.concatenate([pos, neg]), both):.3f}"
                      f" ({recall_at(pos, neg, 0.01):.2f} / {recall_at(pos, neg, 0.001):.2f})"
                      f" | 200 ms mean {auc(np.concatenate([pos_level, neg_level]), both):.3f}"
                      f" ({recall_at(pos_level, neg_level, 0.01):.2f} / {recall_at(pos_level, neg_level, 0.001):.2f})")
        model = fit(x[:, LEVEL_AND_BANDS], y)
        score_of = lambda f: model(f[:, LEVEL_AND_BANDS])  # noqa: E731
        print(f"café at {snr} dB: turns ended by the score (level and bands), on time / cut-offs")
        for threshold, w, wait in itertools.product((-1.0, 0.0), (10,), (20, 25, 30)):
            cells = [turn_ends(test, score_of, threshold, w, wait) for _, test in tests]
            print(f"  T {threshold:+.0f} over {w * FRAME_MS} ms, wait {wait * FRAME_MS} ms: "
                  + " | ".join(f"{name} {on}/{total}, {cut}" for (name, _), (on, total, cut) in zip(tests, cells)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/crowd")
