#!/usr/bin/env python3
"""Fits the crowd score's weights (crates/voice/src/turn/crowd.rs) on the detector's own cues.

Run after the study has written its frames:

    CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice \
        --test noise_set -- --ignored crowd_study
    python3 benches/crowd_score_fit.py /tmp/crowd -20     # café at 20 dB, seeds 0-14

prints the constants to paste into crowd.rs (the tree's were fitted on
café at 20 dB, the default). The last argument names the
fixture files fitted on, comma-separated (`-20` café at 20 dB; `-street-10`
street at 10 dB); a name without the dash is a file's whole stem
(`training-20`: the speakers of benches/make-training-he.sh, written when
the study ran with CROWD_TRAINING_WAV). Labels as benches/crowd_frames.py; the cues are the last
eight columns the study writes (the detector's `crowd_cues`).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import crowd_frames as cf  # noqa: E402


def cues_and_labels(path):
    """Cues and labels of the frames of seeds 0-14 that are the caller's or the crowd's."""
    rows = np.loadtxt(path, delimiter=",")
    xs, ys = [], []
    # cf.lines returns the lines in np.unique's (seed, case) order.
    for (seed, case), (_, _, caller, crowd, _, _) in zip(np.unique(rows[:, :2], axis=0), cf.lines(rows)):
        if seed >= 15:
            continue
        own = rows[(rows[:, 0] == seed) & (rows[:, 1] == case)]
        cues = own[np.argsort(own[:, 2])][:, 13:21]
        # As crowd_frames.py fits: the labelled frames less their first SKIP.
        labelled = caller | crowd
        x, y = cues[labelled][cf.SKIP:], caller[labelled][cf.SKIP:]
        known = ~np.isnan(x).any(1)
        xs.append(x[known])
        ys.append(y[known].astype(float))
    return np.vstack(xs), np.concatenate(ys)


def main(directory, names):
    stems = [f"fixtures{n}" if n.startswith("-") else n for n in names.split(",")]
    parts = [cues_and_labels(Path(directory) / f"{stem}.csv") for stem in stems]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.column_stack([(x - mu) / sd, np.ones(len(x))])
    w = np.zeros(z.shape[1])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(3000):
        p = 1 / (1 + np.exp(-z @ w))
        w -= 0.1 * (z.T @ ((p - y) * weight) / len(y) + 1e-3 * w)
    fmt = lambda a: "[" + ", ".join(f"{v:.4}" for v in a) + "]"  # noqa: E731
    print(f"const CUE_MEAN: [f32; CUES] = {fmt(mu)};")
    print(f"const CUE_SCALE: [f32; CUES] = {fmt(sd)};")
    print(f"const WEIGHTS: [f32; CUES] = {fmt(w[:-1])};")
    print(f"const BIAS: f32 = {w[-1]:.4};")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "-20")
