#!/usr/bin/env python3
"""Does a small network over the last 640 ms hear the caller under the crowd?

A study beside benches/crowd_spectrum.py (same frames, cues, labels and
judge). Every score tried so far judged a frame by its own cues, linearly;
this asks whether a non-linear score over a context of past frames (a
two-layer perceptron, 8 frames from now back to 640 ms ago, each with the
level, band and fine-spectrum cues) separates the caller's quiet words
from the café's crowd where a linear one cannot, and whether it ends turns
sooner without cutting callers off. Two targets are fitted: the study's
own (caller frames against crowd frames), and "inside an utterance"
against "after it" over every frame, so that pauses inside a sentence are
taught as the caller's.

    CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice \\
        --test noise_set -- --ignored crowd_study
    python3 benches/crowd_context.py /tmp/crowd      # needs numpy

Fitted on the fixtures alone, a score learns one speaker, whose voice is
also the crowd's. To fit on eight more (benches/make-training-he.sh) beside
them, write their frames too and name how many of their seeds to fit on:

    benches/make-training-he.sh /tmp/crowd/training-he.wav
    CROWD_TRAINING_WAV=/tmp/crowd/training-he.wav CROWD_FRAMES_DIR=/tmp/crowd \\
        cargo test --release -p agentlocator-voice --test noise_set -- --ignored crowd_study
    TRAINING_SEEDS=10 python3 benches/crowd_context.py /tmp/crowd

(about 6 and 11 minutes on 2 cores). The held-out speakers are never
fitted on.
"""

import os
import sys

import numpy as np

import crowd_frames as cf
import crowd_spectrum as cs

OFFSETS = (0, 2, 4, 8, 12, 16, 24, 32)  # frames back: 0 to 640 ms
HIDDEN = (32, 16)
# Seeds of the training speakers (benches/make-training-he.sh) to fit on
# beside the fixtures' seeds 0-14; none when the set was not written.
TRAINING = range(int(os.environ.get("TRAINING_SEEDS", "0")))


def with_context(x):
    """Each frame's cues beside those of OFFSETS frames before it (causal)."""
    cols = []
    for k in OFFSETS:
        shifted = np.vstack([np.repeat(x[:1], k, 0), x[: len(x) - k]]) if k else x
        cols.append(shifted)
    return np.hstack(cols)


def fit_mlp(x, y, epochs=12, batch=512, rate=1e-3, l2=1e-4, seed=0):
    """Class-balanced two-layer perceptron by Adam; returns the log-odds."""
    rng = np.random.default_rng(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    sizes = (z.shape[1],) + HIDDEN + (1,)
    params = []
    for a, b in zip(sizes, sizes[1:]):
        params += [rng.normal(0, np.sqrt(2 / a), (a, b)), np.zeros(b)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    step = 0

    def forward(z):
        acts = [z]
        h = z
        for i in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[i] + params[i + 1], 0)
            acts.append(h)
        return acts, (h @ params[-2] + params[-1])[:, 0]

    for _ in range(epochs):
        order = rng.permutation(len(z))
        for start in range(0, len(z), batch):
            idx = order[start:start + batch]
            acts, out = forward(z[idx])
            p = 1 / (1 + np.exp(-np.clip(out, -30, 30)))
            g = ((p - y[idx]) * weight[idx] / len(idx))[:, None]
            grads = [None] * len(params)
            for layer in range(len(params) // 2 - 1, -1, -1):
                grads[2 * layer] = acts[layer].T @ g + l2 * params[2 * layer]
                grads[2 * layer + 1] = g.sum(0)
                if layer:
                    g = (g @ params[2 * layer].T) * (acts[layer] > 0)
            step += 1
            for i, gr in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * gr
                v[i] = 0.999 * v[i] + 0.001 * gr**2
                mh, vh = m[i] / (1 - 0.9**step), v[i] / (1 - 0.999**step)
                params[i] -= rate * mh / (np.sqrt(vh) + 1e-8)
    model = lambda x: forward((x - mu) / sd)[1]  # noqa: E731
    model.params = (mu, sd, params)
    return model


def main(directory):
    columns = cf.LEVEL_AND_BANDS + list(range(12, 17 + cs.BANDS))
    for snr in ("20", "10"):
        fixtures = cs.lines_with_spectrum(directory, "fixtures", snr)
        held_out = cs.lines_with_spectrum(directory, "held-out", snr)
        contexted = lambda ls: [(s, with_context(x[:, columns]), c, n, i, m) for s, x, c, n, i, m in ls]
        fixtures, held_out = contexted(fixtures), contexted(held_out)
        fitted = [line for line in fixtures if line[0] < 15]
        if TRAINING:
            training = contexted(cs.lines_with_spectrum(directory, "training", snr, seeds=TRAINING))
            fitted += training
        tests = [("fixtures, seeds 15-29", [line for line in fixtures if line[0] >= 15]),
                 ("held-out", held_out)]
        x = np.vstack([f[c | n][cf.SKIP:] for _, f, c, n, _, _ in fitted])
        y = np.concatenate([c[c | n][cf.SKIP:] for _, f, c, n, _, _ in fitted]).astype(float)
        # "Inside" against "after": every frame past the room's first 2 s
        # that is inside an utterance, or within 3 s after one.
        def inside_target(line):
            _, f, c, n, inside, _ = line
            after = np.zeros(len(inside), bool)
            for _, b in cf.utterances(inside):
                after[b:b + cf.AFTER] = True
            keep = (inside == 1) | after
            keep[: cf.SKIP] = False
            return f[keep], inside[keep].astype(float)
        inside_parts = [inside_target(line) for line in fitted]
        xi = np.vstack([f for f, _ in inside_parts])
        yi = np.concatenate([t for _, t in inside_parts])
        now = list(range(len(columns)))  # this frame's cues: the first block
        this_frame = cf.fit(x[:, now], y)
        models = {
            "linear, this frame": lambda f: this_frame(f[:, now]),
            "linear, 640 ms": cf.fit(x, y),
            "network, 640 ms": fit_mlp(x, y),
            "network, inside, 640 ms": fit_mlp(xi, yi),
        }
        print(f"\ncafé at {snr} dB: {len(y)} frames to fit ({len(yi)} for 'inside');"
              " AUC of 400 ms of the score (caller heard at 1 % / 0.1 % crowd)")
        for cues, model in models.items():
            for name, test in tests:
                pos, neg, _, _ = cf.windows(test, model)
                both = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
                print(f"  {name:22} {cues:26} {cf.auc(np.concatenate([pos, neg]), both):.3f}"
                      f" ({cf.recall_at(pos, neg, 0.01):.2f} / {cf.recall_at(pos, neg, 0.001):.2f})",
                      flush=True)
        print(f"café at {snr} dB: turns ended by the summed score alone, on time / cut-offs")
        for cues, model in models.items():
            for stopped in (10.0, 15.0, 20.0, 30.0):
                cells = [cs.cusum_ends(test, model, stopped) for _, test in tests]
                print(f"  {cues:26} at {stopped:.0f} nats: "
                      + " | ".join(f"{n} {on}/{total}, {cut}"
                                   for (n, _), (on, total, cut) in zip(tests, cells)), flush=True)
        print(f"café at {snr} dB: turns ended by the score's 100 ms mean under T for the wait")
        for cues, model in models.items():
            for threshold in (-2.0, 0.0, 2.0):
                for wait in (25, 30):
                    cells = [cf.turn_ends(test, model, threshold, 5, wait) for _, test in tests]
                    print(f"  {cues:26} T {threshold:+.0f}, {wait * 20} ms: "
                          + " | ".join(f"{n} {on}/{total}, {cut}"
                                       for (n, _), (on, total, cut) in zip(tests, cells)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/crowd")
