#!/usr/bin/env bash
# Writes a training set of Hebrew caller utterances for the crowd studies
# (benches/crowd_context.py): eight espeak-ng voices that neither the
# fixtures nor held-out-he.wav use, five calls' worth of utterances each,
# some with pauses inside, 3 s apart, as 8 kHz mu-law. Generated, never
# checked in: the held-out set stays the judge, so nothing is fitted on it.
# Needs espeak-ng and sox (apt-get install espeak-ng sox).
# Usage: benches/make-training-he.sh OUT.wav
set -euo pipefail
out="$1"
# shellcheck source=../crates/voice/tests/fixtures/espeak-parts.sh
source "$(dirname "$0")/../crates/voice/tests/fixtures/espeak-parts.sh"
# An utterance: phrases of one voice joined by pauses of 0.2-0.45 s.
utterance() {
  local voice=$1 speed=$2 pitch=$3
  shift 3
  local first=1
  for text in "$@"; do
    if [ $first = 0 ]; then gap "0.$((20 + (n * 7) % 26))"; fi
    phrase "$voice" "$speed" "$pitch" "$text"
    first=0
  done
  gap 3
}
gap 2
voices=("he+m2 170 40" "he+m4 150 55" "he+m5 160 30" "he+m6 180 50"
        "he+f1 145 65" "he+f5 165 75" "he+m7 155 45" "he+klatt2 160 60")
for v in "${voices[@]}"; do
  # shellcheck disable=SC2086
  set -- $v
  utterance "$1" "$2" "$3" "בוקר טוב," "אני רוצה לדעת אם אפשר להגיע היום."
  utterance "$1" "$2" "$3" "כמה עולה טיפול כזה?"
  utterance "$1" "$2" "$3" "השם שלי הוא דני כהן," "ואני גר ברחוב הרצל שתים עשרה."
  utterance "$1" "$2" "$3" "אפשר לדבר עם בעל העסק?" "זה די דחוף."
  utterance "$1" "$2" "$3" "אני אחזור אליכם מחר בבוקר," "תודה."
done
sox -D "${parts[@]}" -e u-law -b 8 "$out"
soxi "$out"
