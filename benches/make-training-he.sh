#!/usr/bin/env bash
# Writes a training set of Hebrew caller utterances for the crowd studies
# (benches/crowd_context.py): eight espeak-ng voices that neither the
# fixtures nor held-out-he.wav use, five utterances of their own each,
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
# Each voice says its own five utterances, so that a score fitted on them
# learns voices and not five sentences' timing.
said() { # VOICE-INDEX: that voice's utterances, one per line, phrases split by "|"
  case $1 in
    0) printf '%s\n' "בוקר טוב,|אני רוצה לדעת אם אפשר להגיע היום." "כמה עולה טיפול כזה?" \
         "השם שלי הוא דני כהן,|ואני גר ברחוב הרצל שתים עשרה." "אפשר לדבר עם בעל העסק?|זה די דחוף." \
         "אני אחזור אליכם מחר בבוקר,|תודה." ;;
    1) printf '%s\n' "היי, ראיתי את המודעה שלכם באינטרנט." "יש לכם חניה ליד המקום?" \
         "אני צריכה תור לשני ילדים,|אחד בן שש ואחת בת תשע." "זה בסדר אם אני מאחרת בעשר דקות?" \
         "אוקיי,|אז נתראה ביום ראשון." ;;
    2) printf '%s\n' "ערב טוב,|אני מתקשר לגבי ההזמנה של אתמול בערב." "המשלוח עוד לא הגיע אליי." \
         "המספר של ההזמנה הוא שבע שלוש תשע,|אחת אחת ארבע." "אפשר לקבל החזר?" \
         "טוב,|אני אחכה לטלפון מכם." ;;
    3) printf '%s\n' "שלום, אני רוצה להזמין שולחן." "לשישה אנשים,|ביום שבת בשמונה בערב." \
         "יש לכם מנות טבעוניות?" "ואם אפשר,|ליד החלון." "מצוין, תודה רבה לך." ;;
    4) printf '%s\n' "הלו, זה המוסך?" "הרכב שלי עושה רעש מוזר כשאני בולמת." \
         "זאת מאזדה שלוש,|משנת אלפיים ושמונה עשרה." "מתי הכי מוקדם שאפשר להביא אותה?" \
         "אני יכולה להשאיר אותה אצלכם כל היום,|אין בעיה." ;;
    5) printf '%s\n' "בוקר טוב, רציתי לשאול על השיעורים." "כמה תלמידים יש בכל קבוצה?" \
         "הבת שלי בכיתה ח׳,|והיא צריכה עזרה במתמטיקה." "אפשר לעשות שיעור ניסיון?" \
         "תשלחו לי בבקשה הודעה עם הפרטים." ;;
    6) printf '%s\n' "שלום, יש לי נזילה במטבח." "המים יורדים מתחת לכיור,|כבר מהבוקר." \
         "אני גר בקומה שלישית בלי מעלית." "כמה זה יעלה בערך?" "בסדר,|אני מחכה לטכנאי." ;;
    7) printf '%s\n' "היי, אני רוצה לבטל את התור שלי." "הוא היה ביום שלישי בארבע." \
         "קרה לי משהו בעבודה,|ואני לא אספיק להגיע." "אפשר לקבוע מחדש לשבוע הבא?" \
         "יום רביעי בבוקר מתאים לי,|תודה." ;;
  esac
}
for i in "${!voices[@]}"; do
  # shellcheck disable=SC2086
  set -- ${voices[$i]}
  voice=$1 speed=$2 pitch=$3
  while IFS= read -r line; do
    IFS='|' read -r -a phrases <<< "$line"
    utterance "$voice" "$speed" "$pitch" "${phrases[@]}"
  done < <(said "$i")
done
sox -D "${parts[@]}" -e u-law -b 8 "$out"
soxi "$out"
