#!/usr/bin/env bash
# One prepared run on a lent GPU machine (the session's `device` tool): build FastGeodis against the
# machine's torch, run the CUDA tests and the GPU benchmarks, leave logs and tables in $OUT.
# The full check (give the run timeout_s 600; device time is 15 minutes a session):
#   GTG_DEVICE_BENCH="guidance clicks train" GTG_DEVICE_PROFILE="edt gdt" bash benchmarks/device_check.sh
# Needs .whl/ (ignored) with the monai, nibabel and setuptools<81 wheels and the FastGeodis sdist.
# Then it executes three chapters on the GPU (`gtg book check`: GTG_DEVICE_CHAPTERS, empty to skip), the
# notebooks a Colab researcher runs; they need papermill, ipykernel and myst-nb: when the machine lacks them,
# put their wheels with the dependencies it lacks into .whl/chapters/ (pip download --only-binary=:all:
# --python-version X.Y --platform manylinux2014_x86_64; the script prints the machine's Python first).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/fg && tar xzf .whl/FastGeodis-1.0.5.tar.gz -C /tmp/fg
start=$(date +%s)
(cd /tmp/fg/FastGeodis-1.0.5 && TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 FORCE_CUDA=1 \
   python3 setup.py build_ext --inplace > "$OUT/fastgeodis_build.log" 2>&1) || { tail -30 "$OUT/fastgeodis_build.log"; }
echo "FastGeodis build: $(( $(date +%s) - start )) s"
export PYTHONPATH=/tmp/fg/FastGeodis-1.0.5:$PYTHONPATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 --version
python3 -c "import torch, FastGeodis; print('torch', torch.__version__, torch.cuda.get_device_name())"
export PYTHONUNBUFFERED=1
python3 -m pytest -q -ra -p no:cacheprovider ${GTG_DEVICE_TESTS:-tests/test_guidance.py tests/test_clicks.py tests/test_train.py tests/test_examples.py tests/test_bench.py} 2>&1 | tee "$OUT/pytest.log" | tail -25
for what in ${GTG_DEVICE_BENCH:-guidance clicks}; do
  python3 -m gtg_core.cli bench "$what" --device cuda --out "$OUT" 2>&1 | grep -v "INFO -"
done
# Optional: where the time goes, e.g. GTG_DEVICE_PROFILE="edt gdt exp_gdt"
if [ -n "${GTG_DEVICE_PROFILE:-}" ]; then
  python3 -m gtg_core.cli bench guidance --device cuda --profile $GTG_DEVICE_PROFILE 2>&1 | tee "$OUT/profile.txt" | grep -v USDT
fi
# The chapters on the GPU (issue 27): each reported ok / failed with its time, in $OUT/chapters/
CHAPTERS=${GTG_DEVICE_CHAPTERS-guidance users_metrics training}
if [ -n "$CHAPTERS" ]; then
  ready() { python3 -c "import papermill, ipykernel, myst_nb" 2>/dev/null; }
  if ! ready && ls .whl/chapters/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/chapters/*.whl
  fi
  if ready; then
    python3 -m ipykernel install --user --name python3 > /dev/null 2>&1
    python3 -m gtg_core.cli book check --device cuda --chapters $CHAPTERS --out "$OUT/chapters" 2>&1 | tail -8
  else
    echo "chapters not run: papermill, ipykernel or myst_nb missing here (add their wheels to .whl/chapters/)"
  fi
fi
