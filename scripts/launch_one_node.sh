#!/usr/bin/env bash
# Data-parallel training on one machine: N ranks under mpirun.
#   scripts/launch_one_node.sh N --config configs/default.json [--set key=value ...]
# TRAINER picks the binary (default ./train_gpt2, the CPU trainer; each
# rank then gets OMP_NUM_THREADS threads, default cores / N).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 N --config FILE [--set key=value ...]   (N = number of ranks)" >&2
    exit 2
fi
N="$1"; shift
TRAINER="${TRAINER:-./train_gpt2}"
[ -x "$TRAINER" ] || { echo "error: $TRAINER not built (run make)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "error: mpirun not found (install openmpi-bin)" >&2; exit 1; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / N > 0 ? $(nproc) / N : 1 ))}"
# running as root (containers) needs Open MPI's explicit consent
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# more ranks than cores is allowed (slow, but useful for trying things out)
exec mpirun --oversubscribe --bind-to none -np "$N" -x OMP_NUM_THREADS "$TRAINER" "$@"
