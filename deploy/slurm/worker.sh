#!/bin/bash
# One worker task of deploy/slurm/train.sbatch; srun starts one per GPU (Slurm sets
# CUDA_VISIBLE_DEVICES). Rank and world come from Slurm; the data socket binds on this node's address.
set -eu
addr=$(getent ahostsv4 "$SLURMD_NODENAME" | awk 'NR == 1 { print $1 }')
if [ -z "$addr" ] || { [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] && [[ $addr == 127.* ]]; }; then
  echo "worker $SLURM_PROCID: this node ($SLURMD_NODENAME) resolves to '${addr}', not an address other nodes can reach" >&2
  exit 1
fi
export GAN_WORKER_TAG="w$SLURM_PROCID@$SLURMD_NODENAME"
echo "[$GAN_WORKER_TAG] rank $SLURM_PROCID of $SLURM_NTASKS, data socket on $addr, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}" >&2
exec node --import tsx src/worker/main.ts --coordinator "$GAN_COORDINATOR" --rank "$SLURM_PROCID" --bind "$addr" "$@"
