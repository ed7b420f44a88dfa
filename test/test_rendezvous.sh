#!/usr/bin/env bash
# The rendezvous that starts the GPU trainer's NCCL communicator without MPI
# (issue 14, comm/rendezvous.h): 2 and 4 processes, started as Slurm's srun
# or Open MPI's mpirun would (their environment variables), exchange a fake
# 128-byte id through a shared directory (comm.init fs) and over TCP
# (comm.init tcp); every rank must end with rank 0's id. Stale files of an
# earlier job are not taken; a missing rank, another world size, a busy port
# and bad comm.* values end with one line, within comm.timeout_s.
. "$(dirname "$0")/lib.sh"
TOOL=build/tests/tool_rendezvous
if ! make -s "$TOOL" >"$SCRATCH/build.log" 2>&1; then
    not_ok "tool_rendezvous builds" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
PORT=$((20000 + RANDOM % 30000))

# start N ranks of one job in the background: job NAME N LAUNCHER ARGS...
job() {
    local name=$1 n=$2 launcher=$3; shift 3
    for ((r = 0; r < n; r++)); do
        if [ "$launcher" = slurm ]; then
            SLURM_PROCID=$r SLURM_NTASKS=$n SLURM_LOCALID=$((r % 2)) timeout 30 "$TOOL" "$@" \
                >"$SCRATCH/$name.$r" 2>&1 &
        else
            OMPI_COMM_WORLD_RANK=$r OMPI_COMM_WORLD_SIZE=$n OMPI_COMM_WORLD_LOCAL_RANK=$((r % 2)) timeout 30 "$TOOL" "$@" \
                >"$SCRATCH/$name.$r" 2>&1 &
        fi
    done
    wait
}
# every rank printed rank 0's id (256 hex digits), with its rank and local rank
same_id() {  # same_id NAME N LAUNCHER_WORD
    local name=$1 n=$2 word=$3 first r line
    first="$(sed -n 's/.*: id //p' "$SCRATCH/$name.0")"
    [ ${#first} -eq 256 ] || { echo "rank 0: $(head -c 200 "$SCRATCH/$name.0")"; return 1; }
    for ((r = 0; r < n; r++)); do
        line="$(cat "$SCRATCH/$name.$r")"
        [[ "$line" == "rank $r of $n (local $((r % 2)), $word): id $first" ]] || { echo "rank $r: ${line:0:200}"; return 1; }
    done
}
check_same() {  # check_same NAME N LAUNCHER_WORD DESCRIPTION
    local why
    if why="$(same_id "$1" "$2" "$3")"; then ok "$4"; else not_ok "$4" "$why"; fi
}

for n in 2 4; do
    job fs$n $n slurm --set comm.init=fs --set comm.dir="$SCRATCH/rdv$n" --set comm.timeout_s=20
    check_same fs$n $n Slurm "fs: $n ranks (Slurm's variables) end with rank 0's id"
    left="$(ls -A "$SCRATCH/rdv$n" 2>&1)"
    check "fs: $n ranks leave comm.dir empty" "left: $left" test -z "$left"
    job tcp$n $n ompi --set comm.init=tcp --set comm.host=localhost --set comm.port=$((PORT + n)) --set comm.timeout_s=20
    check_same tcp$n $n "Open MPI" "tcp: $n ranks (Open MPI's variables) end with rank 0's id"
done
a="$(sed -n 's/.*: id //p' "$SCRATCH/fs2.0")" b="$(sed -n 's/.*: id //p' "$SCRATCH/fs4.0")"
check "each job draws its own id" "fs2 and fs4 have the same id" test "$a" != "$b"

# an earlier job's files in comm.dir (an id with other tokens, arrivals) are not taken
stale="$SCRATCH/stale"
mkdir -p "$stale"
{ echo "omgd-rendezvous-id 2 128"; echo "otherhost:1:0000000000000000"; printf '%0256d\n' 0; } >"$stale/id"
echo "omgd-rendezvous 2 otherhost:2:0000000000000001" >"$stale/arrived.1"
SLURM_PROCID=1 SLURM_NTASKS=2 timeout 30 "$TOOL" --set comm.init=fs --set comm.dir="$stale" --set comm.timeout_s=20 \
    >"$SCRATCH/stale.1" 2>&1 &
sleep 0.5  # rank 1 has seen the stale id file by now
SLURM_PROCID=0 SLURM_NTASKS=2 SLURM_LOCALID=0 timeout 30 "$TOOL" --set comm.init=fs --set comm.dir="$stale" \
    --set comm.timeout_s=20 >"$SCRATCH/stale.0" 2>&1
wait
got1="$(sed -n 's/.*: id //p' "$SCRATCH/stale.1")" got0="$(sed -n 's/.*: id //p' "$SCRATCH/stale.0")"
check "fs: an earlier job's id file is not taken (rank 1 waits for this job's rank 0)" \
    "rank 0: $got0; rank 1: $(head -c 200 "$SCRATCH/stale.1")" \
    bash -c '[ ${#1} -eq 256 ] && [ "$1" = "$2" ] && [ "$1" != "$(printf "%0256d" 0)" ]' _ "$got0" "$got1"

# timeouts: one line naming what is missing, soon after comm.timeout_s
timed() {  # timed NAME NEEDLE ENV... -- ARGS...
    local name=$1 needle=$2 t0 t1; shift 2
    t0=$(date +%s%N)
    expect_error "$name" "$needle" env "$@"
    t1=$(date +%s%N)
    check "$name: gives up within 5 s" "took $(((t1 - t0) / 1000000)) ms" test $(((t1 - t0) / 1000000)) -lt 5000
}
timed "fs: rank 1 alone times out naming rank 0" "rank 1 of 2 waited 0.5 s (comm.timeout_s) for rank 0's id" \
    SLURM_PROCID=1 SLURM_NTASKS=2 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/lone" --set comm.timeout_s=0.5
timed "fs: rank 0 alone times out naming the missing ranks" "for ranks 1, 2, 3 of 4" \
    SLURM_PROCID=0 SLURM_NTASKS=4 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/lone0" --set comm.timeout_s=0.5
timed "tcp: rank 0 alone times out naming the missing ranks" "on port $((PORT + 7)) for ranks 1, 2 of 3" \
    SLURM_PROCID=0 SLURM_NTASKS=3 "$TOOL" --set comm.init=tcp --set comm.host=localhost --set comm.port=$((PORT + 7)) \
    --set comm.timeout_s=0.5
timed "tcp: rank 2 without rank 0 times out" "rank 2 of 3 could not reach rank 0 at localhost:$((PORT + 8))" \
    SLURM_PROCID=2 SLURM_NTASKS=3 "$TOOL" --set comm.init=tcp --set comm.host=localhost --set comm.port=$((PORT + 8)) \
    --set comm.timeout_s=0.5

# ranks that disagree on the world size
SLURM_PROCID=1 SLURM_NTASKS=3 timeout 30 "$TOOL" --set comm.init=tcp --set comm.host=localhost \
    --set comm.port=$((PORT + 9)) --set comm.timeout_s=3 >/dev/null 2>&1 &
expect_error "tcp: another world size on one rank is refused" "rank 1 says the job has 3 ranks, rank 0 says 2" \
    env SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=tcp --set comm.port=$((PORT + 9)) --set comm.timeout_s=3
wait
SLURM_PROCID=1 SLURM_NTASKS=3 timeout 30 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/world" \
    --set comm.timeout_s=3 >/dev/null 2>&1 &
expect_error "fs: another world size on one rank is refused" "rank 1 in $SCRATCH/world says the job has 3 ranks, rank 0 says 2" \
    env SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/world" --set comm.timeout_s=3
wait

# a busy port: a second rank 0 on the same port
SLURM_PROCID=0 SLURM_NTASKS=2 timeout 30 "$TOOL" --set comm.init=tcp --set comm.port=$((PORT + 10)) \
    --set comm.timeout_s=2 >/dev/null 2>&1 &
sleep 0.5
expect_error "tcp: a port in use is named" "rank 0 cannot listen on port $((PORT + 10))" \
    env SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=tcp --set comm.port=$((PORT + 10)) --set comm.timeout_s=1
wait

# bad values and settings
expect_error "comm.init: an unknown method" 'comm.init: expected one of auto,mpi,fs,tcp, got "udp"' \
    "$TOOL" --set comm.init=udp
expect_error "comm.port: out of range" "comm.port: expected an integer in [1, 65535]" "$TOOL" --set comm.port=70000
expect_error "comm.timeout_s: not positive" "comm.timeout_s" "$TOOL" --set comm.timeout_s=0
expect_error "fs without comm.dir" "comm.init fs needs comm.dir" env SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=fs
expect_error "tcp without comm.host on rank 1" "comm.init tcp needs comm.host" \
    env SLURM_PROCID=1 SLURM_NTASKS=2 "$TOOL" --set comm.init=tcp
expect_error "tcp: a host that does not resolve" 'comm.host "no-such-host.invalid"' \
    env SLURM_PROCID=1 SLURM_NTASKS=2 "$TOOL" --set comm.init=tcp --set comm.host=no-such-host.invalid --set comm.timeout_s=1
expect_error "fs: comm.dir that is a file" "is not a directory" \
    env SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/fs2.0"
expect_error "a rank beyond the world size (Slurm)" "SLURM_PROCID=3 is not an integer in [0, 1]" \
    env SLURM_PROCID=3 SLURM_NTASKS=2 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/x"
expect_error "a world size that is not a number (Open MPI)" "OMPI_COMM_WORLD_SIZE=two" \
    env OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=two "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/x"
finish
