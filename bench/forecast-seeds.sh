#!/usr/bin/env bash
# How the probabilistic method's week-1 WAPE and P10–P90 coverage vary with the company: the small (2 years) and
# medium (3 years) synthetic companies of seeds 1–6, each backtested over its latest 12 complete quarters (those
# with two quarters before them). Prints one line per company. Usage: bench/forecast-seeds.sh (after a release build)
set -euo pipefail
B="${CARGO_TARGET_DIR:-target}/release/pipewise"
for size in small medium; do for seed in 1 2 3 4 5 6; do
  W="${TMPDIR:-/tmp}/pipewise-cov-$size-$seed"; years=3; [ $size = small ] && years=2
  [ -e $W/ledger/CURRENT ] || $B --workspace $W synth --size $size --years $years --seed $seed >/dev/null 2>&1
  $B --workspace $W backtest --periods 12 --format json 2>/dev/null | python3 -c "
import json,sys
b=json.load(sys.stdin)
pr=[p for p in b['points'] if p['method']=='probabilistic']
cov=sum(1 for p in pr if p['p10']<=p['actual']<=p['p90'])
w1=[p for p in pr if p['week']==1]
wape=sum(abs(p['forecast']-p['actual']) for p in w1)/sum(p['actual'] for p in w1)
sw=[p for p in b['points'] if p['method']=='stage_weighted' and p['week']==1]
swape=sum(abs(p['forecast']-p['actual']) for p in sw)/sum(p['actual'] for p in sw)
lo=sum(1 for p in pr if p['actual']<p['p10']); hi=sum(1 for p in pr if p['actual']>p['p90'])
print('$size', $seed, len(b['quarters']), 'cov', cov, len(pr), round(cov/len(pr),3), 'below', lo, 'above', hi, 'w1 wape', round(wape,4), 'sw', round(swape,4))
"
done; done
