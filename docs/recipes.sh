#!/usr/bin/env bash
# The training recipes of docs/training.md, run one after another; results in runs/*/ and runs/*.json.
# On the 2-core CPU each uses a subset (--limit: 2,000 rows; SNLI 6,000 pairs = 1,794 triplets) for one
# epoch; drop --limit for the full sets.
set -euo pipefail
mkdir -p runs
LIMIT=${LIMIT:-2000}
T="--epochs 1 --batch-size 16 --lr 2e-5 --warmup 0.1 --seed 42 --limit $LIMIT --no-progress --json"

# 1. STS-B regression (cosine loss) from all-MiniLM-L6-v2
twinbert train --task stsb --loss cosine --eval stsb:dev --output runs/stsb $T > runs/stsb-train.json
twinbert eval runs/stsb --task stsb --split test --json > runs/stsb-test.json

# 2. NLI softmax objective on SICK entailment labels; NLI accuracy on SICK trial, KorNLI and KLUE-NLI dev.
#    The new classifier gets its own learning rate (--head-lr): at the encoder's 2e-5 it stays at the majority class.
twinbert train --task sick-nli --loss softmax --head-lr 1e-3 --eval sick-nli:trial --eval kornli:dev --eval klue-nli:dev \
  --output runs/sick-nli $T > runs/sick-nli-train.json
twinbert eval runs/sick-nli --task stsb --split test --json > runs/sick-nli-stsb-test.json

# 3. Triplets (premise, entailment, contradiction) from SNLI dev: triplet loss, then multiple-negatives ranking
twinbert train --task snli:dev --loss triplet --eval snli:test --output runs/snli-triplet $T --limit 6000 > runs/snli-triplet-train.json
twinbert train --task snli:dev --loss mnrl --eval snli:test --output runs/snli-mnrl $T --limit 6000 > runs/snli-mnrl-train.json
twinbert eval runs/snli-triplet --task stsb --split test --json > runs/snli-triplet-stsb-test.json
twinbert eval runs/snli-mnrl --task stsb --split test --json > runs/snli-mnrl-stsb-test.json

# 4. KorSTS regression (Korean)
twinbert train --task korsts --loss cosine --eval korsts:dev --output runs/korsts $T > runs/korsts-train.json
twinbert eval runs/korsts --task korsts --split test --json > runs/korsts-test.json
twinbert eval all-MiniLM-L6-v2 --task korsts --split test --json > runs/korsts-test-before.json
