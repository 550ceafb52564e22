#!/usr/bin/env python3
"""How the crowd score (crates/voice/src/turn/crowd.rs), with the tree's weights, reads the study's frames.

Run after the study has written its frames:

    CROWD_FRAMES_DIR=/tmp/crowd cargo test --release -p agentlocator-voice \
        --test noise_set -- --ignored crowd_study
    python3 benches/crowd_score_check.py /tmp/crowd fixtures-20 fixtures-first-20 \
        held-out-20 held-out-first-20     # needs numpy

For each named file: the median of each cue on the caller's frames and on
the crowd's (labels as benches/crowd_frames.py), the score's median, and
the share of frames it takes for the caller's. The `-first` files are
each utterance as a call's first turn (the noise set's
`first_turn_cases`), beside the sets as recorded.
"""

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import crowd_frames as cf  # noqa: E402

CROWD_RS = Path(__file__).parent.parent / "crates/voice/src/turn/crowd.rs"


def constants():
    """The score's constants as crowd.rs has them."""
    text = CROWD_RS.read_text()

    def read(name):
        body = re.search(rf"const {name}: [^=]+= ([^;]+);", text).group(1)
        return np.array([float(v) for v in body.strip("[]").split(",")])

    return read("CUE_MEAN"), read("CUE_SCALE"), read("WEIGHTS"), float(read("BIAS")[0])


def frames(path):
    """The detector's cues on the caller's frames and on the crowd's."""
    rows = np.loadtxt(path, delimiter=",")
    caller_cues, crowd_cues = [], []
    # cf.lines returns the lines in np.unique's (seed, case) order.
    for (seed, case), (_, _, caller, crowd, _, _) in zip(np.unique(rows[:, :2], axis=0), cf.lines(rows)):
        own = rows[(rows[:, 0] == seed) & (rows[:, 1] == case)]
        cues = own[np.argsort(own[:, 2])][:, 13:21]
        caller_cues.append(cues[caller])
        crowd_cues.append(cues[crowd])
    known = lambda x: x[~np.isnan(x).any(1)]  # noqa: E731
    return known(np.vstack(caller_cues)), known(np.vstack(crowd_cues))


def main(directory, names):
    mean, scale, weights, bias = constants()
    for name in names:
        for who, cues in zip(("caller", "crowd"), frames(Path(directory) / f"{name}.csv")):
            score = (cues - mean) / scale @ weights + bias
            medians = " ".join(f"{v:6.1f}" for v in np.median(cues, 0))
            print(
                f"{name:<20} {who:<6} {len(cues):>6} frames | cues {medians} | "
                f"score {np.median(score):5.2f}, {100 * (score > 0).mean():3.0f} % the caller's"
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
