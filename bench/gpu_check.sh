#!/usr/bin/env bash
# The tensor engine's GPU checks in one command, for a session lent a GPU through the `device` tool:
#   the engine's tests on the GPU, the two engines side by side, and the goal of 100,000 generations at 64 px in
#   under 4 minutes; each log goes to $OUT (or runs/gpu-check).
# The device machine's python3 has torch and numba but not deap: first, here, in the repo's root,
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl deap==1.4.4 moocore cffi platformdirs pycparser
# then run `bash bench/gpu_check.sh` there with .whl carried (about 6 minutes).
set -o pipefail
out=${OUT:-runs/gpu-check}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || exit 1
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.log"
python3 -m pytest -q -p no:cacheprovider tests/test_tensor_engine.py 2>&1 | tee "$out/tests.log"
python3 bench/tensor_engine.py --device cuda --generations 1000 --turns 3 2>&1 | tee "$out/engines.log"
python3 bench/gpu_goal.py --generations 100000 --device cuda 2>&1 | tee "$out/goal.log"
