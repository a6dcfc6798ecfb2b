#!/usr/bin/env bash
# The bundled model's two training stages from the data folder, as one run of at most 8 minutes on the
# lent GPU machine (torch + CUDA, no gradio). It returns the weights in pieces of at most 16 MiB (the
# device tool's limit on what comes back), with the config, logs and last sample grids.
#
#   run(command="scripts/device_train.sh", carry=["data/emoji64v2"])       # on the GPU machine
#   cat FILES_AT/model.safetensors.part-* > weights/default/model.safetensors  # back here
#   DRY_RUN=1 scripts/device_train.sh                                        # a few steps on the CPU
#
# Each stage stops at its time limit (--max-minutes) with everything saved, so a slower GPU gives
# fewer steps, never a lost run. Both stages start from scratch (the bundled model's architecture):
# starting from the bundled weights would carry over what they learned from pictures that the new
# split holds out.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
DATA=${DATA:-data/emoji64v2}
PY=${PYTHON:-python3}
RUNS=$(mktemp -d)
export PYTHONUNBUFFERED=1
if [ -n "${DRY_RUN:-}" ]; then
    TOK=(--log-every 1 --steps 2 --batch 8 --cpu --precision no --max-minutes 2)
    BIGR=(--log-every 1 --steps 2 --batch 8 --cpu --precision no --max-minutes 2 --sample-iterations 2 --sample-steps 2)
else
    TOK=(--log-every 100 --steps 8000 --batch 128 --max-minutes 2.5)
    BIGR=(--log-every 100 --steps 30000 --batch 256 --max-minutes 4 --sample-iterations 10 --sample-steps 25)
fi
mkdir -p "$OUT"
echo "writing to $OUT"
$PY -m bigr_app.train tokenizer --data "$DATA" --extra "$DATA/extra" --bits 40 \
    --out "$RUNS/tok" --lr 4e-4 --warmup 200 --deterministic-after 2000 --hflip --eval-every 1000 \
    --save-every 1000 "${TOK[@]}" > "$OUT/tokenizer.txt" 2>&1
grep eval "$RUNS/tok/log.jsonl" | tail -3
$PY -m bigr_app.train bigr --data "$DATA" --tokenizer "$RUNS/tok/model" \
    --out "$RUNS/bigr" --balance 1 --hflip --lr 4e-4 --warmup 300 --eval-every 5000 --save-every 1000 \
    --sample-cfg 4 "${BIGR[@]}" > "$OUT/bigr.txt" 2>&1
tail -1 "$RUNS/bigr/log.jsonl"
split -b 16M -d "$RUNS/bigr/model/model.safetensors" "$OUT/model.safetensors.part-"
cp "$RUNS/bigr/model/config.json" "$OUT/config.json"
cp "$RUNS/tok/log.jsonl" "$OUT/tokenizer_log.jsonl"
cp "$RUNS/bigr/log.jsonl" "$OUT/bigr_log.jsonl"
cp "$(ls "$RUNS"/tok/samples/*.png | tail -1)" "$(ls "$RUNS"/bigr/samples/*.png | tail -1)" "$OUT/"
ls -l "$OUT"
