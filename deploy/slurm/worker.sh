#!/bin/bash
# One worker task of deploy/slurm/train.sbatch; srun starts one per GPU (Slurm sets
# CUDA_VISIBLE_DEVICES). Rank and world come from Slurm; the data socket binds on this node's address.
# First thing: a SIGTERM/SIGINT before node runs (scancel signals every process of the job, the
# coordinator too, which checkpoints and stops the run) ends this task quietly instead of killing
# it mid-set-up; a USR1 is the batch shell's business (train.sbatch) and is ignored here.
stop=
trap 'stop=SIGTERM' TERM
trap 'stop=SIGINT' INT
trap '' USR1
set -eu
addr=$(getent ahostsv4 "$SLURMD_NODENAME" | awk 'NR == 1 { print $1 }')
if [ -z "$addr" ] || { [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] && [[ $addr == 127.* ]]; }; then
  echo "worker $SLURM_PROCID: this node ($SLURMD_NODENAME) resolves to '${addr}', not an address other nodes can reach" >&2
  exit 1
fi
export GAN_WORKER_TAG="w$SLURM_PROCID@$SLURMD_NODENAME"
if [ -n "$stop" ]; then
  echo "[$GAN_WORKER_TAG] $stop before the worker started: not starting it (the coordinator stops the run)" >&2
  exit 0
fi
echo "[$GAN_WORKER_TAG] rank $SLURM_PROCID of $SLURM_NTASKS, data socket on $addr, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}" >&2
# node resets every signal to its default at start, so the ignored USR1 does not carry over.
exec node --import tsx src/worker/main.ts --coordinator "$GAN_COORDINATOR" --rank "$SLURM_PROCID" --bind "$addr" "$@"
