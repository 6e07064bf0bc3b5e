# Shared by the benchmark scripts (sourced). The machine is shared: other developers' builds
# and fuzzers run on the same cores. With autogroup scheduling a process's nice value only
# counts inside its session, so a benchmark moves to a session of its own (setsid) and raises
# that session's priority (/proc/PID/autogroup), which keeps the measured servers and the load
# generator from being preempted mid-run. NICE=0 turns this off.
#   bench_own_session "$@"   (first thing in a script: re-executes it in a new session)
bench_own_session() {
  NICE=${NICE:--10}
  if [ -z "${BENCH_SESSION:-}" ] && command -v setsid >/dev/null; then
    BENCH_SESSION=1 exec setsid --wait "$0" "$@"
  fi
  if [ "$NICE" != 0 ] && [ -w /proc/$$/autogroup ]; then
    echo "$NICE" > /proc/$$/autogroup 2>/dev/null || echo "could not set autogroup nice $NICE" >&2
  fi
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 accepts connections (up to ${3:-15} s) while process $2 lives.
wait_port() {
  local tries=$(( ${3:-15} * 10 ))
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
