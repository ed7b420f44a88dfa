#!/usr/bin/env bash
# Data-parallel training across machines with Open MPI and a hostfile.
#   scripts/launch_nodes.sh HOSTFILE RANKS_PER_NODE --config FILE [--set ...]
# HOSTFILE lists one machine per line ("node1 slots=8"). Every machine needs
# the repository at the same path, the same build and the data shards, and
# output.dir on a file system they share (rank 0 writes the model file and
# log, every rank its optimizer-state shard). TRAINER picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || [ ! -f "$1" ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 HOSTFILE RANKS_PER_NODE --config FILE [--set key=value ...]" >&2
    exit 2
fi
HOSTS="$1"; PER_NODE="$2"; shift 2
NODES=$(grep -cv '^\s*\(#\|$\)' "$HOSTS")
TRAINER="${TRAINER:-./train_gpt2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec mpirun -np $((NODES * PER_NODE)) --hostfile "$HOSTS" --map-by "ppr:${PER_NODE}:node" --bind-to none \
    -x OMP_NUM_THREADS -x PATH -x LD_LIBRARY_PATH --wdir "$PWD" "$TRAINER" "$@"
