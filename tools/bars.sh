#!/usr/bin/env bash
# The speed bars, each measured beside Keras/TensorFlow in the same sitting,
# in alternating rounds: our benchmark, then Keras's on the same network,
# then the next network, ROUNDS times over. This machine drifts by 5-8%
# between minutes (some hosts by 2x), so a ratio means something only
# within one round; run it with nothing else busy.
#
#   tools/bars.sh [ROUNDS] [BAR ...]      (default: 3 rounds of every bar)
#
# Bars: seed (the seed network, batch 32), seed-avx2 (the same on the AVX2
# path beside TensorFlow limited to AVX2; only where the CPU has AVX-512),
# airbench (the airbench94 layout, batch 512), resnet20 (batch 32), and
# airbench-bf16 (mixed_bfloat16 beside Keras's policy of that name; only
# where the CPU has AMX-BF16 or AVX512_BF16). Each round prints one line a
# bar: `BAR  cnn X  keras Y  ratio R` (images/s of training steps).
#
# Keras runs from ../shared/anchors (CNN_SHARED overrides) in the Python
# named by KERAS_PYTHON (default /tmp/anchors/bin/python), set up as the
# anchors' README says:
#   python3 -m venv /tmp/anchors
#   /tmp/anchors/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 scipy
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
case $rounds in
    '' | *[!0-9]*) echo "bars: ROUNDS must be a number, not '$rounds' (tools/bars.sh [ROUNDS] [BAR ...])" >&2; exit 2 ;;
esac
bars=("$@")
anchors="${CNN_SHARED:-$(cd .. && pwd)/shared}/anchors"
python=${KERAS_PYTHON:-/tmp/anchors/bin/python}
test -f "$anchors/keras_seed.py" || { echo "bars: no Keras anchors at $anchors (set CNN_SHARED)" >&2; exit 2; }
"$python" -c 'import keras, tensorflow' 2>/dev/null || { echo "bars: $python lacks keras and tensorflow (set KERAS_PYTHON; see above)" >&2; exit 2; }

has() { grep -qw "$1" /proc/cpuinfo; }
if [ ${#bars[@]} -eq 0 ]; then
    bars=(seed)
    if has avx512f; then bars+=(seed-avx2); fi
    bars+=(airbench resnet20)
    if has amx_bf16 || has avx512_bf16; then bars+=(airbench-bf16); fi
fi

known=" seed seed-avx2 airbench resnet20 airbench-bf16 "
for bar in "${bars[@]}"; do
    [[ $known == *" $bar "* ]] || { echo "bars: unknown bar '$bar' (one of:$known)" >&2; exit 2; }
done

# The value of KEY=... on the RESULT line of a run's output.
result() { grep '^RESULT' | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -1; }
ours() { cargo bench --quiet --bench "$@" 2>/dev/null | result train_images_per_s; }
keras() { (cd "$anchors" && "$python" "$@" 2>/dev/null) | result images_per_s; }

cargo bench --quiet --no-run --bench train_step --bench airbench --bench resnet20
# Which CPU: hosts of one name differ (KVM often says only "AMD EPYC").
cpu() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2 | xargs; }
isa=$(for f in avx2 fma avx512f avx512_bf16 amx_bf16; do if has "$f"; then printf '%s ' "$f"; fi; done)
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD); $(cpu 'model name'), family $(cpu 'cpu family') model $(cpu 'model'), $(nproc) cores; ${isa% }"
seed=(keras_seed.py --mode loop --images 3200 --threads 2 --onednn --no-summary)
for round in $(seq "$rounds"); do
    echo "round $round"
    for bar in "${bars[@]}"; do
        case $bar in
            seed) a=$(CNN_BENCH_SECONDS=6 ours train_step); b=$(keras "${seed[@]}") ;;
            seed-avx2) a=$(CNN_SGEMM=avx2 CNN_BENCH_SECONDS=6 ours train_step)
                b=$(ONEDNN_MAX_CPU_ISA=AVX2 keras "${seed[@]}") ;;
            airbench) a=$(CNN_BENCH_IMAGES=2048 ours airbench)
                b=$(keras keras_graph_speed.py nets/airbench.json --batch 512 --images 3072) ;;
            resnet20) a=$(ours resnet20)
                b=$(keras keras_graph_speed.py nets/resnet20.json --batch 32 --images 3200) ;;
            airbench-bf16) a=$(CNN_BENCH_IMAGES=2048 CNN_BENCH_PRECISION=mixed_bfloat16 ours airbench)
                b=$(keras keras_graph_speed.py nets/airbench.json --batch 512 --images 3072 --policy mixed_bfloat16) ;;
        esac
        if [ -z "$a" ] || [ -z "$b" ]; then
            echo "bars: $bar gave no RESULT line (cnn: '${a}', keras: '${b}')" >&2
            exit 1
        fi
        awk -v bar="$bar" -v a="$a" -v b="$b" 'BEGIN { printf "%-14s cnn %7.1f  keras %7.1f  ratio %.2fx\n", bar, a, b, a / b }'
    done
done
