#!/bin/sh
# The commands that made results/polyphonic_benchmark.md (and the piano-roll reference bundles), in order.
# Each trains with early stopping on the validation split, resumes an interrupted run and reuses a finished
# one (runs/polyphonic/), and adds its rows to the table. Run from the repository root:
#     sh benchmarks/polyphonic_table.sh
# The benchmark files are read from ../shared/data/polyphonic (or downloaded, pinned; --data FOLDER).
set -e
B=".venv/bin/python benchmarks/polyphonic.py"
$B --max-minutes 10 --sets jsb-chorales nottingham --models bernoulli independent
$B --max-minutes 20 --sets piano-midi --models bernoulli nade --variant default: --variant dropout5:dropout=0.5 --export-reference piano-midi:nade
$B --max-minutes 20 --sets jsb-chorales --models nade --variant default: --variant dropout5:dropout=0.5 --export-reference jsb-chorales:nade
$B --max-minutes 20 --sets nottingham --models nade
$B --max-minutes 15 --sets musedata --models bernoulli nade
$B --max-minutes 10 --sets jsb-chorales --models independent --variant default: --variant dropout5:dropout=0.5 --variant batch4:batch_size=4,dropout=0.5 --variant small:units=128,dropout=0.5
$B --max-minutes 10 --sets nottingham --models independent --variant dropout5:dropout=0.5 --variant batch8:batch_size=8,dropout=0.5
$B --max-minutes 30 --sets musedata --models nade --variant 30min:
$B --max-minutes 10 --sets jsb-chorales --models independent --variant window128:window=128,batch_size=4,dropout=0.5 --variant wide6:units=512,batch_size=4,dropout=0.6 --variant lr1e3:learning_rate=0.001,batch_size=4,dropout=0.5 --variant deep3:layers=3,batch_size=4,dropout=0.5
$B --max-minutes 10 --sets nottingham --models independent --variant window128:window=128 --variant wide512:units=512
