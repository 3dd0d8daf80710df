#!/bin/bash
# The cross-author check, pooled: corpus/compose/cross-cv.sh six times and the totals summed —
# three training shuffles on the default partition (the default seeds, `--seed
# 5856734843261766725`, `--runs 20`) and the default seeds on three other partitions of the
# judged lines (PARTITION 1, 2, 3). Both halves are printed apart and together, per veto:act
# pair: a change that moves the figures on one half only is moving which borderline lines
# cross a threshold, not what the model learned (docs/detection.md, the twenty-fifth round).
#
# usage (from the repository root, with a built qunguan):
#   BIN=target/release/qunguan corpus/compose/pool.sh [OUT_DIR]
# SWEEP and TRAIN_ARGS as for cross-cv.sh (SWEEP default: "0.4:0.55 0.4:0.6 0.4:0.65").
# Each run's full output is kept in OUT_DIR (default: a temporary folder, removed at the end).
set -e
OUT=${1:-}
if [ -z "$OUT" ]; then OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; else mkdir -p "$OUT"; fi
export BIN=${BIN:-$(pwd)/target/release/qunguan}
export SWEEP=${SWEEP:-"0.4:0.55 0.4:0.6 0.4:0.65"}
BASE_ARGS=${TRAIN_ARGS:-}
run() { # name partition extra-train-args
  PARTITION=$2 TRAIN_ARGS="$3 $BASE_ARGS" corpus/compose/cross-cv.sh > "$OUT/$1.txt" 2>&1
}
run s0 0 ""
run s1 0 "--seed 5856734843261766725"
run s2 0 "--runs 20"
run p1 1 ""
run p2 2 ""
run p3 3 ""
python3 - "$OUT" <<'PY'
import sys, re, collections
out = sys.argv[1]
runs = ['s0', 's1', 's2', 'p1', 'p2', 'p3']
tot = collections.OrderedDict()
for name in runs:
    pair = None
    for line in open(f'{out}/{name}.txt', encoding='utf-8'):
        m = re.match(r'== veto (\S+) act (\S+)', line)
        if m:
            pair = f'{m.group(1)}:{m.group(2)}'
            continue
        m = re.match(r'^(RECALL|CHECK).*\((\d+)\).*\((\d+)\)', line)
        if m and pair:
            tot.setdefault(pair, {})[(name, m.group(1))] = (int(m.group(2)), int(m.group(3)))
print('caught / flagged: old judged lines (spam 1,357 / ham 2,317 a run), check lines (100 / 100)')
for pair, t in tot.items():
    def total(names, kind):
        caught = sum(t[(n, kind)][0] for n in names)
        flagged = sum(t[(n, kind)][1] for n in names)
        return f'{caught:5d} / {flagged:3d}'
    for label, names in (('seeds', runs[:3]), ('partitions', runs[3:]), ('all six', runs)):
        each = ' '.join(f'{t[(n, "RECALL")][0]}/{t[(n, "RECALL")][1]}' for n in names)
        print(f'{pair:10s} {label:10s} old {total(names, "RECALL")}  check {total(names, "CHECK")}'
              f'   per run: {each}')
PY
