#!/usr/bin/env bash
# One command to a working one-node cluster (Debian, as root): installs what is missing, builds
# Berth and the example image, starts `berth server` (embedded etcd + a local agent on Docker)
# in the background, applies examples/web.yaml and waits until it runs.
#   ./deploy/quickstart.sh          start (or reuse) the cluster and deploy the example
#   ./deploy/quickstart.sh stop     stop the server (containers of deployed services keep running
#                                   until the services are deleted)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${BERTH_DATA_DIR:-/var/lib/berth}"
log_file="${BERTH_LOG_FILE:-/var/log/berth-server.log}"
pid_file="$data_dir/server.pid"
say() { echo "quickstart: $*"; }

# Evaluates a JavaScript expression over the JSON on stdin (as `j`): prints it, exits 1 if falsy.
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let j;try{j=JSON.parse(s)}catch{process.exit(1)}
  const v=eval(process.argv[1]);if(typeof v!=="boolean"&&v!==undefined)process.stdout.write(String(v));process.exit(v?0:1)})' "$1"; }

server_running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

if [ "${1:-}" = "stop" ]; then
  if server_running; then
    pid="$(cat "$pid_file")"
    say "stopping berth server (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$pid_file"
  else
    say "no berth server running"
  fi
  exit 0
fi

"$repo/deploy/setup.sh"

# `berth` on PATH for the commands that follow.
if [ "$(readlink -f "$(command -v berth 2>/dev/null || true)")" != "$(readlink -f "$repo/bin/berth.js")" ]; then
  say "linking the berth command into $(npm prefix -g)/bin"
  (cd "$repo" && npm link --no-audit --no-fund --loglevel=error >/dev/null)
fi

mkdir -p "$data_dir"
if server_running; then
  say "berth server already running (pid $(cat "$pid_file"))"
else
  say "starting berth server (data: $data_dir, log: $log_file)"
  nohup berth server --data-dir "$data_dir" >>"$log_file" 2>&1 &
  echo $! >"$pid_file"
fi
for _ in $(seq 1 150); do
  # The API is HTTPS with a certificate of the cluster CA (ca.crt, beside berth.yaml).
  [ -f "$data_dir/berth.yaml" ] && curl -fsS --cacert "$data_dir/ca.crt" "$(sed -n 's/^server: //p' "$data_dir/berth.yaml")/healthz" >/dev/null 2>&1 && break
  server_running || { echo "quickstart: berth server exited; last log lines:" >&2; tail -n 20 "$log_file" >&2; exit 1; }
  sleep 0.2
done

# The CLI reads ~/.berth/config by default.
mkdir -p "$HOME/.berth"
install -m 600 "$data_dir/berth.yaml" "$HOME/.berth/config"

say "waiting for the local node to join"
for _ in $(seq 1 100); do
  berth get nodes -o json 2>/dev/null | json 'j.items.some((n) => n.status.state === "ready")' && break
  sleep 0.2
done

berth apply -f "$repo/examples/web.yaml"
say "waiting for the example service to run"
for _ in $(seq 1 300); do
  berth get services web -o json 2>/dev/null | json 'j.status.desired > 0 && j.status.running === j.status.desired' && break
  sleep 0.2
done

echo
berth get nodes
echo
berth get services
echo
berth get tasks -o wide
port="$(berth get tasks --service web -o json | json 'j.items.filter((t) => t.status.state === "running" && t.status.hostPorts?.length).map((t) => t.status.hostPorts[0].hostPort)[0]' || true)"
echo
if [ -n "$port" ]; then
  say "the example service is running. Try:"
  echo "  curl http://127.0.0.1:$port/"
else
  say "the example service is not running yet; see 'berth get tasks' and $log_file"
  exit 1
fi
cat <<EOF
Then, for example:
  berth describe service web
  berth scale service web --replicas 3
  berth delete service web
Stop the server: $repo/deploy/quickstart.sh stop
EOF
