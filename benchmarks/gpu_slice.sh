#!/usr/bin/env bash
# One GPU measurement in one call on a bare machine that has JAX with CUDA (Python 3.12) but
# neither Keras nor the data, and cannot download: a time slice of a borrowed GPU.
#
#   here:  bash benchmarks/gpu_slice.sh prepare
#            -> .gpu_data/: Keras' wheels for Python 3.12, MNIST (from $SSGAN_DATA_DIR) and the
#               cached evaluation classifier (MNIST-FIDs comparable with the CPU's)
#   there: OUT=/some/dir bash benchmarks/gpu_slice.sh run PRESET [more run_all.py flags]
#            -> $OUT/PRESET.tar.gz (REPORT.md, results.json, grids, curves, runs/) and
#               $OUT/PRESET.log
#   either: bash benchmarks/gpu_slice.sh show PRESET   (the preset's command, not run)
#
# A preset's results continue those under .gpu_data/results/PRESET/ when that folder exists
# (`--resume`: runs already recorded are skipped), so a suite longer than a slice is carried
# back and forth: unpack PRESET.tar.gz into .gpu_data/results/ before the next slice.
# SLICE_SECONDS (default 540) bounds the call: the harness stops before a unit that would not
# fit and SIGTERM ends a run cleanly (it is recorded as interrupted and trained by the next).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=.gpu_data

prepare() {
    : "${SSGAN_DATA_DIR:?set SSGAN_DATA_DIR to the MNIST folder}"
    local keras_version
    keras_version=$(python -c "import keras; print(keras.__version__)")
    mkdir -p "$DATA/wheels" "$DATA/mnist" "$DATA/eval_classifier" "$DATA/results"
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$DATA/wheels" "keras==$keras_version" namex optree
    cp "$SSGAN_DATA_DIR"/*-ubyte.gz "$DATA/mnist/"
    cp "${XDG_CACHE_HOME:-$HOME/.cache}"/ssgan/eval_classifier/mnist-v* "$DATA/eval_classifier/"
    du -sh "$DATA"
    echo "carry: [\"$DATA\"]; command: bash benchmarks/gpu_slice.sh run PRESET"
}

preset_command() {  # the harness command of a preset, into the array CMD
    local out=$1
    local suite=(python benchmarks/run_all.py --out "$out" --resume --yes
                 --classifier-cache "$DATA/eval_classifier" --data-dir "$DATA/mnist"
                 --time-limit $(( SLICE_SECONDS / 60 - 1 )))
    case $2 in
        speed)  # issue 19: one run, 5 and 20 side by side, the time to 99 % (flags: speed.py's)
            CMD=(bash -c 'out=$1 data=$2; shift 2
                for p in highest high; do python benchmarks/speed.py --models mlp \
                    --batch-sizes 100 --seeds-in-step 1,5,20 --matmul-precision $p \
                    --data-dir $data --out $out/speed-$p.json "$@" || exit; done
                python benchmarks/speed.py --models mlp --batch-sizes 100 --to-99 \
                    --to-99-recipe full --data-dir $data --out $out/speed-to-99.json "$@"' \
                 speed "$out" "$DATA/mnist") ;;
        labels)  # issues 16 and 19: the label table, 20 runs in one vectorized step
            CMD=("${suite[@]}" --labels 20,50,100,200 --seeds 5 --seeds-per-step 0
                 --no-ablation --generators "") ;;
        labels-20)  # issue 16: 20 labels, seeds 0-4, 300 epochs
            CMD=("${suite[@]}" --labels 20 --seeds 5 --no-ablation --generators "") ;;
        cgan|infogan|infogan-tied|minibatch)  # issue 21: a generator row, seeds 0-4
            CMD=("${suite[@]}" --labels "" --seeds 5 --no-ablation --generators "$2") ;;
        suite)  # issue 19: the default suite, continued slice after slice
            CMD=("${suite[@]}") ;;
        *) echo "unknown preset '$2' (speed, labels, labels-20, cgan, infogan, infogan-tied," \
                "minibatch, suite)" >&2; exit 2 ;;
    esac
}

run() {
    local preset=${1:?name a preset}; shift
    : "${OUT:?set OUT to the folder whose files come back}"
    SLICE_SECONDS=${SLICE_SECONDS:-540}
    if [ -z "${NO_INSTALL:-}" ]; then  # NO_INSTALL=1: Keras is there (a dry run on a CPU)
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site "$DATA"/wheels/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD KERAS_BACKEND=jax
    export SSGAN_DATA_DIR=$PWD/$DATA/mnist
    export PYTHONUNBUFFERED=1
    local out=/tmp/results/$preset
    mkdir -p /tmp/results
    if [ -d "$DATA/results/$preset" ]; then cp -r "$DATA/results/$preset" "$out"; fi
    mkdir -p "$out"
    preset_command "$out" "$preset"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    local rc=0
    timeout -s TERM -k 60 "$SLICE_SECONDS" "${CMD[@]}" "$@" 2>&1 | tee "$OUT/$preset.log" \
        || rc=$?
    tar -czf "$OUT/$preset.tar.gz" -C /tmp/results --exclude=ckpt "$preset"
    ls -l "$OUT"
    return "$rc"
}

show() {  # print a preset's command, one argument a line, without running it
    SLICE_SECONDS=${SLICE_SECONDS:-540}
    preset_command "/tmp/results/${1:?name a preset}" "$1"
    printf '%s\n' "${CMD[@]}"
}

case ${1:-} in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    show) shift; show "$@" ;;
    *) echo "usage: bash benchmarks/gpu_slice.sh prepare | run PRESET [flags] | show PRESET" >&2
       exit 2 ;;
esac
