#!/usr/bin/env bash
# Starts N copies of a command on this node, one per rank, without MPI:
#
#   bash scripts/launch_local.sh -n N [--] COMMAND ARGS...
#
# Each copy gets ALIBI_RANK, ALIBI_WORLD_SIZE, ALIBI_LOCAL_RANK and
# ALIBI_LOCAL_WORLD_SIZE (all on one node: local = global), and ALIBI_JOB_ID
# (kept if already set), which names this run for the rendezvous.
# CUDA_VISIBLE_DEVICES is left alone: each rank uses GPU ALIBI_LOCAL_RANK.
# Output is not prefixed. When one rank exits non-zero the others are
# stopped and the script exits with that rank's status, naming it; Ctrl-C
# (or SIGTERM) is passed on to every rank.
set -u

usage() {
  echo "usage: bash scripts/launch_local.sh -n N [--] COMMAND ARGS..." >&2
  exit 2
}

nproc=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n | --nproc)
      [ $# -ge 2 ] || usage
      nproc="$2"
      shift 2
      ;;
    -n[0-9]*) nproc="${1#-n}"; shift ;;
    --nproc=*) nproc="${1#--nproc=}"; shift ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
[[ "$nproc" =~ ^[1-9][0-9]*$ ]] || { echo "launch_local.sh: -n needs a positive integer, got '$nproc'" >&2; usage; }
[ $# -gt 0 ] || { echo "launch_local.sh: no command given" >&2; usage; }
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
  echo "launch_local.sh: needs bash 5.1 or newer (wait -p), this is $BASH_VERSION" >&2
  exit 2
fi

command -v setsid >/dev/null || { echo "launch_local.sh: needs setsid (util-linux)" >&2; exit 2; }

export ALIBI_WORLD_SIZE="$nproc" ALIBI_LOCAL_WORLD_SIZE="$nproc"
export ALIBI_JOB_ID="${ALIBI_JOB_ID:-local-$(hostname)-$$-$(date +%s)}"

# Each rank runs in its own session (setsid), hence its own process group:
# stopping a rank then stops its children too (a rank that is a shell
# script), and Ctrl-C in the terminal reaches only this script, which passes
# it on. As background jobs of a non-interactive shell the ranks ignore
# SIGINT, so it is passed on as SIGTERM, which alibi-train handles the same
# way (checkpoint, then stop).
declare -A rank_of  # pid -> rank, of the ranks still running
for ((r = 0; r < nproc; r++)); do
  ALIBI_RANK=$r ALIBI_LOCAL_RANK=$r setsid -w "$@" &
  rank_of[$!]=$r
done

# Sends a signal to every rank still running: to its whole process group,
# or, when the rank has not reached setsid yet (no group exists), to itself.
signal_ranks() {
  local pid
  for pid in "${!rank_of[@]}"; do
    kill -s "$1" -- "-$pid" 2>/dev/null || kill -s "$1" "$pid" 2>/dev/null
  done
}

interrupted=""
on_signal() {
  interrupted="$1"
  signal_ranks TERM
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# Stops the others after a failure: SIGTERM, then SIGKILL for those still
# running 10 s later. The timer waits with `read -t` (a builtin) rather than
# `sleep`, so it is one process that ending it ends entirely.
killer=""
stop_others() {
  signal_ranks TERM
  local pids=("${!rank_of[@]}")
  (
    read -rt 10 <> <(:)
    for pid in "${pids[@]}"; do kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null; done
  ) </dev/null >/dev/null 2>&1 &
  killer=$!
}

failed_rank="" failed_status=0
# Records that rank `pid` exited with `status`; on the first failure stops the others.
reap() {
  local pid=$1 status=$2 rank=${rank_of[$1]} how
  unset "rank_of[$pid]"
  if [ "$status" -ne 0 ] && [ -z "$failed_rank" ] && [ -z "$interrupted" ]; then
    failed_rank=$rank failed_status=$status
    how="exited with status $status"
    ((status > 128)) && how="$how (signal $((status - 128)))"
    echo "launch_local.sh: rank $rank of $nproc $how; stopping the other ranks" >&2
    stop_others
  fi
}

while [ ${#rank_of[@]} -gt 0 ]; do
  done_pid=""
  # 2>/dev/null: bash says "no such job" for a rank that ended before this
  # call; the loop below collects it.
  wait -n -p done_pid "${!rank_of[@]}" 2>/dev/null
  status=$?
  if [ -n "${done_pid:-}" ]; then
    reap "$done_pid" "$status"
    continue
  fi
  # A trapped signal interrupted the wait (or bash lost track of a rank):
  # collect whichever ranks are gone.
  for pid in "${!rank_of[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      reap "$pid" "$?"
    fi
  done
done
[ -n "$killer" ] && kill "$killer" 2>/dev/null

if [ -n "$interrupted" ]; then
  echo "launch_local.sh: interrupted (SIG$interrupted); all ranks stopped" >&2
  [ "$interrupted" = INT ] && exit 130
  exit 143
fi
if [ -n "$failed_rank" ]; then
  echo "launch_local.sh: failed: rank $failed_rank exited with status $failed_status" >&2
  exit "$failed_status"
fi
exit 0
