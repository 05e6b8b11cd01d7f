#!/usr/bin/env bash
# Data-parallel training of one medsynth run on NNODES machines with NPROC processes each (torchrun).
# Run this same script on every machine, with NODE_RANK=0 on the first and HEAD=<its address> everywhere:
#   HEAD=10.0.0.1 NODE_RANK=0 bash examples/scale/torchrun-multinode.sh     # on 10.0.0.1
#   HEAD=10.0.0.1 NODE_RANK=1 bash examples/scale/torchrun-multinode.sh     # on the second machine
# --out and the data must be on storage every machine sees at the same path: rank 0 writes the run folder
# and a resume reads it on every rank. --batch-size is the global batch (a multiple of NNODES * NPROC).
# On GPUs use --device cuda (NCCL, one GPU per process, NPROC = GPUs per machine); on CPUs gloo is used.
set -euo pipefail
: "${HEAD:?set HEAD to the address of the NODE_RANK=0 machine}"
: "${NODE_RANK:?set NODE_RANK (0 on the HEAD machine)}"
NNODES=${NNODES:-2}
NPROC=${NPROC:-1}
DEVICE=${DEVICE:-cpu}

torchrun --nnodes "$NNODES" --nproc-per-node "$NPROC" --node-rank "$NODE_RANK" \
  --rdzv-backend c10d --rdzv-endpoint "$HEAD:29400" --rdzv-id medsynth-isic64 \
  -m medsynth train --data /shared/data/isic2017 --arch sngan --image-size 64 --batch-size 64 \
  --epochs 50 --device "$DEVICE" --out /shared/runs/isic64-ddp
