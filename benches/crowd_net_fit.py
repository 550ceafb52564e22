#!/usr/bin/env python3
"""Fits a crowd score network (crates/voice/src/turn/crowd/net.rs) and writes its weights as Rust.

A two-layer perceptron (32 and 16 units) over the detector's own crowd cues
of the last 640 ms (the frame now and those 40, 80, 160, 240, 320, 480 and
640 ms back), fitted to tell the caller's frames from the noise's after
they stop, labelled as benches/crowd_frames.py labels them. The café
network is fitted on café at 20 and 10 dB SNR, the street network on
street and car: the end-of-turn set's seeds 0-14, recorded and as first
turns, and every seed of the eight training speakers
(benches/make-training-he.sh); never on the held-out speakers, which judge
them. Run after the study has written its frames with the training
speakers (about 11 minutes on 2 cores), then fit (about 3 and 5):

    benches/make-training-he.sh /tmp/crowd/training-he.wav     # needs espeak-ng and sox
    CROWD_TRAINING_WAV=/tmp/crowd/training-he.wav CROWD_FRAMES_DIR=/tmp/crowd \\
        cargo test --release -p agentlocator-voice --test noise_set -- --ignored crowd_study
    python3 benches/crowd_net_fit.py /tmp/crowd cafe crates/voice/src/turn/crowd/net/cafe.rs
    python3 benches/crowd_net_fit.py /tmp/crowd street crates/voice/src/turn/crowd/net/street.rs

The fit is seeded (FIT_SEED, default 0), so the same frames give the same
weights. The file also holds a check: the network's score for a fixed
context, which the Rust side must reproduce.
"""

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import crowd_context as cc  # noqa: E402
import crowd_frames as cf  # noqa: E402

CUES = 8
# Each network's files, and how many of each file's seeds are fitted on
# (the fixtures' later seeds stay unseen for the noise set's own judging).
FILES = {
    "cafe": (("fixtures-20", 15), ("fixtures-10", 15), ("fixtures-first-20", 15),
             ("fixtures-first-10", 15), ("training-20", 30), ("training-10", 30)),
    "street": (("fixtures-street-20", 15), ("fixtures-street-10", 15),
               ("fixtures-first-street-20", 15), ("fixtures-car-10", 15),
               ("fixtures-first-car-10", 15), ("fixtures-car-20", 15), ("training-car-10", 30),
               ("fixtures-first-street-10", 15), ("training-street-20", 30),
               ("training-street-10", 30)),
}


def contexted(path, seeds):
    """The labelled frames' cues in context, and whether each is the caller's."""
    rows = np.loadtxt(path, delimiter=",")
    xs, ys = [], []
    for (seed, case), (_, _, caller, crowd, _, _) in zip(np.unique(rows[:, :2], axis=0), cf.lines(rows)):
        if seed >= seeds:
            continue
        own = rows[(rows[:, 0] == seed) & (rows[:, 1] == case)]
        cues = own[np.argsort(own[:, 2])][:, 13:13 + CUES]
        # As the detector keeps them: only the frames that had cues.
        known = ~np.isnan(cues).any(1)
        context = np.full((len(cues), CUES * len(cc.OFFSETS)), np.nan)
        context[known] = cc.with_context(cues[known])
        labelled = (caller | crowd) & known
        labelled[: cf.SKIP] = False
        xs.append(context[labelled])
        ys.append(caller[labelled].astype(float))
    return np.vstack(xs), np.concatenate(ys)


def check_context():
    """A fixed context for the Rust side to score: cue k of the frame i back, in spreads off its mean, is sin(8 i + k)."""
    return np.array([[np.sin(CUES * i + k) for k in range(CUES)] for i in range(cc.OFFSETS[-1] + 1)])


def f32(v):
    """The shortest literal that reads back as the same f32."""
    return np.format_float_positional(np.float32(v), unique=True, trim="0")


def rust(name, a, ty):
    a = np.asarray(a, np.float32)
    if a.ndim == 0:
        return f"pub(super) const {name}: f32 = {f32(a)};\n"
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
    body = ",\n".join("    " + ("[" if a.ndim > 1 else "") + ", ".join(f32(v) for v in r)
                      + ("]" if a.ndim > 1 else "") for r in rows)
    return f"#[rustfmt::skip]\npub(super) const {name}: {ty} = [\n{body},\n];\n"


def main(directory, network, out):
    parts = [contexted(Path(directory) / f"{stem}.csv", seeds) for stem, seeds in FILES[network]]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    print(f"{len(y)} frames, {y.mean():.2f} the caller's", file=sys.stderr)
    model = cc.fit_mlp(x, y, seed=int(os.environ.get("FIT_SEED", "0")))
    mu, sd, params = model.params
    (w1, b1, w2, b2, w3, b3) = params
    inputs, h1, h2 = w1.shape[0], w1.shape[1], w2.shape[1]
    # The check, through the same float32 weights the Rust side reads.
    spread = np.tile(sd[:CUES], (len(cc.OFFSETS), 1)).astype(np.float32)
    centre = np.tile(mu[:CUES], (len(cc.OFFSETS), 1)).astype(np.float32)
    frames = check_context()
    z = np.concatenate([frames[k] for k in cc.OFFSETS]).astype(np.float32) * spread.ravel() + centre.ravel()
    check = model(z[None, :].astype(np.float64))[0]
    with open(out, "w") as f:
        f.write(f"//! The {network} network's weights, written by `benches/crowd_net_fit.py`; do not edit.\n\n")
        f.write(rust("MEAN", mu, f"[f32; {inputs}]"))
        f.write(rust("SCALE", sd, f"[f32; {inputs}]"))
        f.write(rust("W1", w1, f"[[f32; {h1}]; {inputs}]"))
        f.write(rust("B1", b1, f"[f32; {h1}]"))
        f.write(rust("W2", w2, f"[[f32; {h2}]; {h1}]"))
        f.write(rust("B2", b2, f"[f32; {h2}]"))
        f.write(rust("W3", w3[:, 0], f"[f32; {h2}]"))
        f.write(rust("B3", b3[0], "f32"))
        f.write("/// The score of the context `check_context` makes, as the fit computed it.\n")
        f.write("#[cfg(test)]\n")
        f.write(rust("CHECK_SCORE", check, "f32"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
