#!/usr/bin/env bash
# Run (or resume) a study on a lent GPU machine (the session's `device` tool) for at most SECONDS, then
# bring back what it produced: the collected tables, and the run folders without models or checkpoints.
#   gtg study prepare studies/phantom-mini.yml --root .study/phantom-mini    # here, before the call
#   bash studies/device_run.sh studies/phantom-mini.yml .study/phantom-mini 16 420
# carry: .whl (monai, nibabel and setuptools<81 wheels, the FastGeodis sdist) and the study's
# _data/<set>/dataset.json and _data/<set>/_preprocessed (written here by `gtg study prepare`).
# Interrupting loses at most the epoch in progress of each run; a second call on the warm machine resumes.
set -uo pipefail
STUDY=$1; ROOT=$2; WORKERS=${3:-12}; SECONDS_MAX=${4:-420}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
FG=$PWD/.dev/fg/FastGeodis-1.0.5
if ! PYTHONPATH=$FG:$PYTHONPATH python3 -c "import FastGeodis" 2>/dev/null; then
  mkdir -p .dev/fg && tar xzf .whl/FastGeodis-1.0.5.tar.gz -C .dev/fg
  start=$(date +%s)
  (cd "$FG" && TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 FORCE_CUDA=1 python3 setup.py build_ext --inplace \
     > "$OUT/fastgeodis_build.log" 2>&1) || tail -20 "$OUT/fastgeodis_build.log"
  echo "FastGeodis build: $(( $(date +%s) - start )) s"
fi
export PYTHONPATH=$FG:$PYTHONPATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ -n "${GTG_CUDA_TESTS:-}" ]; then
  (python3 -m pytest -q -ra -p no:cacheprovider -m cuda $GTG_CUDA_TESTS > "$OUT/pytest-cuda.log" 2>&1; \
   echo "cuda tests: $(tail -1 "$OUT/pytest-cuda.log")") &
fi
start=$(date +%s)
setsid python3 -m gtg_core.cli study run "$STUDY" --root "$ROOT" --executor "local:$WORKERS" --quiet \
  > "$OUT/study.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && [ $(( $(date +%s) - start )) -lt "$SECONDS_MAX" ]; do
  sleep 20
  done_runs=$(ls "$ROOT"/*/*/metrics.json 2>/dev/null | wc -l)
  epochs=$(cat "$ROOT"/*/*/history.csv 2>/dev/null | grep -vc '^epoch')
  echo "$(( $(date +%s) - start )) s: $done_runs runs done, $epochs epochs written"
done
if kill -0 $pid 2>/dev/null; then echo "time is up: stopping the study"; kill -TERM -- -$pid; sleep 5; fi
wait
tail -5 "$OUT/study.log"
python3 -m gtg_core.cli study collect "$ROOT" --out "$OUT" --study "$STUDY" | tail -8
tar czf "$OUT/runs.tar.gz" --exclude='*.pt' --exclude='.lock' --exclude='_data' -C "$ROOT" .
ls -la "$OUT"
