#!/usr/bin/env bash
# A few minutes on a GPU machine: does ganopt train there, how fast, in which precisions?
#
#   bash scripts/gpu_check.sh                 # from the repository root; installs nothing
#   PY=python3 bash scripts/gpu_check.sh      # another interpreter (default: .venv/bin/python)
#   STEPS=1000 OUT=/tmp/gpu_check bash scripts/gpu_check.sh
#
# Runs nvidia-smi; short DCGAN trainings on the embedded digits in fp32, 16-mixed and bf16-mixed
# (steps/s and final losses of each); the overhead benchmark (scripts/benchmark.py); the tests
# marked gpu; and a DDP run over all GPUs when there are several. Each part has a time limit, so
# a hang cannot stall the check. Exit status: the number of parts that failed.
set -u -o pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
STEPS=${STEPS:-300}
OUT=${OUT:-$(mktemp -d -t ganopt_gpu_check.XXXXXX)}
mkdir -p "$OUT"
failures=0
summary=()

section() { printf '\n==== %s ====\n' "$*"; }
fail() { echo "FAILED: $*"; summary+=("FAILED  $*"); failures=$((failures + 1)); }

# One line per run: losses from its metrics.json; steps/s over the whole fit (start-up and
# first-step compilation included) and over the last `log_every_n_steps` steps (steady state).
report() {
    "$PY" - "$1" "$2" <<'EOF'
import json, math, pathlib, sys
label, root = sys.argv[1], pathlib.Path(sys.argv[2])
found = sorted(root.rglob("metrics.json"))
if not found:
    sys.exit(f"{label}: no metrics.json under {root}")
m = json.loads(found[-1].read_text())
steady = math.nan
try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    for path in sorted((found[-1].parent / "tensorboard").glob("events.*")):
        events = EventAccumulator(str(path))
        events.Reload()
        if "perf/steps_per_sec" in events.Tags()["scalars"]:
            steady = events.Scalars("perf/steps_per_sec")[-1].value
except ImportError:
    pass
overall = m["generator_steps"] / max(m["wall_time_s"], 1e-9)
print(f"{label:<12} {m['generator_steps']:>6} steps {m['wall_time_s']:>7.1f} s  "
      f"{overall:>7.1f} steps/s (fit)  {steady:>7.1f} steps/s (last steps)  "
      f"loss/d {m.get('loss/d', math.nan):.4f}  loss/g {m.get('loss/g', math.nan):.4f}")
EOF
}

section "machine"
echo "python: $PY   outputs: $OUT"
if command -v nvidia-smi >/dev/null; then
    timeout 30 nvidia-smi || fail "nvidia-smi"
else
    fail "nvidia-smi not found"
fi
if ! "$PY" -c "import ganopt" 2>/dev/null; then
    echo "$PY cannot import ganopt: run 'make install' or pass PY=<python with ganopt>" >&2
    exit 1
fi
GPUS=$("$PY" - <<'EOF'
import torch
print(torch.cuda.device_count() if torch.cuda.is_available() else 0)
EOF
)
"$PY" - <<'EOF'
import lightning, torch
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), lightning {lightning.__version__}")
for i in range(torch.cuda.device_count()):
    print(f"cuda:{i} {torch.cuda.get_device_name(i)} bf16={torch.cuda.is_bf16_supported()}")
EOF
if [[ "$GPUS" -eq 0 ]]; then
    fail "torch sees no CUDA device"
    printf '\n%s\n' "${summary[@]}"
    exit "$failures"
fi

# Short trainings: no evaluation (it would dominate a short run), default samples/checkpoints.
COMMON=(
    data=digits model=dcgan "steps=$STEPS" seed=0
    trainer.enable_progress_bar=false "~callbacks.progress" "~callbacks.evaluation"
    logger=tensorboard log_every_n_steps=50
)
section "training: digits/dcgan, $STEPS generator steps, one GPU"
lines=()
for precision in 32-true 16-mixed bf16-mixed; do
    dir="$OUT/single_$precision"
    if timeout 120 "$PY" scripts/train.py "${COMMON[@]}" trainer=gpu \
        "trainer.precision=$precision" "paths.log_dir=$dir" >"$dir.log" 2>&1; then
        if line=$(report "$precision" "$dir"); then
            lines+=("$line")
        else
            fail "training $precision: no metrics.json"
        fi
    else
        fail "training $precision (log: $dir.log)"
        tail -n 20 "$dir.log"
    fi
done
[[ ${#lines[@]} -gt 0 ]] && printf '%s\n' "${lines[@]}"

section "benchmark: ganopt's training path vs a hand-written loop"
if [[ -f scripts/benchmark.py ]]; then
    timeout 150 "$PY" scripts/benchmark.py --device cuda --case all --rounds 3 \
        || fail "scripts/benchmark.py"
else
    echo "scripts/benchmark.py is not in this checkout: benchmark skipped"
fi

section "tests marked gpu"
if "$PY" -c "import pytest" 2>/dev/null; then
    timeout 150 "$PY" -m pytest -q -m gpu -p no:cacheprovider || fail "pytest -m gpu"
else
    echo "pytest is not installed for $PY: GPU tests skipped"
fi

section "DDP"
if [[ "$GPUS" -gt 1 ]]; then
    dir="$OUT/ddp"
    if timeout 120 "$PY" scripts/train.py "${COMMON[@]}" trainer=ddp "trainer.devices=$GPUS" \
        "paths.log_dir=$dir" >"$dir.log" 2>&1; then
        report "ddp x$GPUS" "$dir" || fail "DDP: no metrics"
        echo "(data.batch_size is per GPU: each step used $GPUS x the batch of the runs above)"
    else
        fail "DDP on $GPUS GPUs (log: $dir.log)"
        tail -n 20 "$dir.log"
    fi
else
    echo "one GPU: DDP run skipped (trainer=ddp needs at least 2 devices)"
fi

section "summary"
if [[ "$failures" -eq 0 ]]; then echo "all checks passed"; else printf '%s\n' "${summary[@]}"; fi
exit "$failures"
