#!/usr/bin/env bash
# Installs Berth on a Debian machine as a system service (as root):
#   deploy/install.sh server [berth server flags...]
#   deploy/install.sh agent --server HOST:PORT --token-file FILE [berth agent flags...]
#   deploy/install.sh uninstall [--purge]
# Installs what is missing (checks Node.js, installs docker.io and, for a server, etcd-server),
# copies Berth to /opt/berth with `berth` linked into /usr/local/bin, writes and enables the
# systemd unit berth-server.service or berth-agent.service. Where systemd is not PID 1 (a
# container) it says so and starts the daemon in the background as the quickstart does.
# uninstall removes the units and the files; the data dirs are kept unless --purge.
#
# Options (anywhere before the daemon's flags):
#   --root DIR     write everything under DIR (a staging root): no package installed, nothing
#                  enabled or started
#   --source DIR   the Berth tree to install (bin/, dist/, package.json, node_modules/);
#                  default: the tree this script is in (run `npm run build` there first)
set -euo pipefail

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }

root=""
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=""
purge=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a DIR"; root="${2%/}"; shift 2 ;;
    --root=*) root="${1#--root=}"; root="${root%/}"; shift ;;
    --source) [ $# -ge 2 ] || die "--source needs a DIR"; source_dir="$2"; shift 2 ;;
    --source=*) source_dir="${1#--source=}"; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *)
      if [ -z "$mode" ]; then mode="$1"
      elif [ "$mode" = uninstall ] && [ "$1" = --purge ]; then purge=1
      else args+=("$1")
      fi
      shift ;;
  esac
done
case "$mode" in
  server|agent|uninstall) ;;
  "") die "missing the mode: server, agent or uninstall (--help)" ;;
  *) die "unknown mode \"$mode\": use server, agent or uninstall" ;;
esac

opt_dir="$root/opt/berth"
bin_link="$root/usr/local/bin/berth"
unit_dir="$root/etc/systemd/system"
etc_dir="$root/etc/berth"
server_data="/var/lib/berth"
agent_data="/var/lib/berth-agent"
staging() { [ -n "$root" ]; }
systemd_running() { ! staging && [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }

if ! staging && [ "$(id -u)" -ne 0 ]; then die "run as root (or give --root DIR to write into a staging root)"; fi

# ---------- uninstall ----------
if [ "$mode" = uninstall ]; then
  for unit in berth-server berth-agent; do
    if systemd_running && [ -f "$unit_dir/$unit.service" ]; then
      say "stopping and disabling $unit.service"
      systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
    fi
    pid_file="$root/run/$unit.pid"
    if [ -f "$pid_file" ] && ! staging; then
      pid="$(cat "$pid_file")"
      if kill -0 "$pid" 2>/dev/null; then
        say "stopping $unit (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      fi
    fi
    rm -f "$pid_file" "$unit_dir/$unit.service"
  done
  systemd_running && systemctl daemon-reload || true
  rm -rf "$opt_dir" "$etc_dir"
  rm -f "$bin_link"
  if [ "$purge" = 1 ]; then
    say "removing the data dirs $server_data and $agent_data (--purge)"
    rm -rf "$root$server_data" "$root$agent_data"
  else
    say "kept the data dirs ($server_data, $agent_data): remove them with --purge"
  fi
  say "uninstalled"
  exit 0
fi

# ---------- the daemon's flags ----------
has_flag() { local f; for f in "${args[@]}"; do case "$f" in "$1"|"$1"=*) return 0 ;; esac; done; return 1; }
flag_value() {
  local i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
      "$1") echo "${args[$((i + 1))]:-}"; return 0 ;;
      "$1"=*) echo "${args[$i]#"$1"=}"; return 0 ;;
    esac
  done
  return 1
}
if [ "$mode" = agent ]; then
  has_flag --server || die "agent needs --server HOST:PORT (a server's agent address)"
  token_file="$(flag_value --token-file || true)"
  [ -n "$token_file" ] || die "agent needs --token-file FILE (the join token: join-token in a server's data dir)"
  [ -r "$token_file" ] || die "--token-file $token_file: cannot read it"
  # The token is copied where the service reads it (0600); the unit names the copy.
  new_args=()
  skip=0
  for f in "${args[@]}"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$f" in --token-file) skip=1; continue ;; --token-file=*) continue ;; esac
    new_args+=("$f")
  done
  args=("${new_args[@]}" --token-file /etc/berth/join-token)
  has_flag --data-dir || args+=(--data-dir "$agent_data")
else
  has_flag --data-dir || args=(--data-dir "$server_data" "${args[@]}")
fi
data_dir="$(flag_value --data-dir)"

# ---------- what is needed on the machine ----------
need_pkgs=()
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=9)?0:1)'
}
if ! node_ok; then
  if staging; then say "Node.js >= 20.9 is not on this machine: the target needs it"
  else die "Node.js >= 20.9 is needed (found: $(node -v 2>/dev/null || echo none)); install it (e.g. from NodeSource or nodejs.org), then run this again"
  fi
fi
command -v docker >/dev/null 2>&1 || need_pkgs+=(docker.io)
if [ "$mode" = server ] && ! has_flag --etcd; then command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if staging; then
    say "would install: ${need_pkgs[*]} (staging root: nothing installed)"
  else
    say "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    # Debian enables etcd's own service: Berth runs its embedded etcd itself.
    if [[ " ${need_pkgs[*]} " == *" etcd-server "* ]] && systemd_running; then systemctl disable --now etcd.service >/dev/null 2>&1 || true; fi
  fi
fi

# ---------- Berth under /opt/berth ----------
for f in bin/berth.js dist package.json node_modules; do
  [ -e "$source_dir/$f" ] || die "--source $source_dir has no $f (run npm run build there, and npm ci if node_modules is missing)"
done
say "installing Berth from $source_dir into $opt_dir"
rm -rf "$opt_dir.new"
mkdir -p "$opt_dir.new"
cp -a "$source_dir/bin" "$source_dir/dist" "$source_dir/package.json" "$opt_dir.new/"
[ -d "$source_dir/docs" ] && cp -a "$source_dir/docs" "$opt_dir.new/"
# node_modules may be a link to a shared tree: copy what it points at.
cp -rL "$source_dir/node_modules" "$opt_dir.new/node_modules"
rm -rf "$opt_dir"
mv "$opt_dir.new" "$opt_dir"
chmod 755 "$opt_dir/bin/berth.js"
mkdir -p "$(dirname "$bin_link")"
ln -sfn /opt/berth/bin/berth.js "$bin_link"

mkdir -p "$etc_dir"
chmod 700 "$etc_dir"
if [ "$mode" = agent ]; then
  install -m 600 "$token_file" "$etc_dir/join-token"
fi
mkdir -p "$root$data_dir"
chmod 700 "$root$data_dir"

# ---------- the systemd unit ----------
# One ExecStart argument, quoted for systemd: \ and " escaped, $ and % doubled.
unit_quote() {
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//\$/\$\$}"; s="${s//%/%%}"
  printf '"%s"' "$s"
}
exec_start="/usr/bin/node /opt/berth/bin/berth.js $mode"
for a in "${args[@]}"; do exec_start+=" $(unit_quote "$a")"; done
node_bin="$(command -v node 2>/dev/null || echo /usr/bin/node)"
exec_start="${exec_start/#\/usr\/bin\/node/$node_bin}"

unit="berth-$mode"
mkdir -p "$unit_dir"
if [ "$mode" = server ]; then
  description="Berth control plane (API, scheduler, dispatcher, embedded etcd)"
  # SIGTERM to the server, which stops its etcd; what is left after TimeoutStopSec is killed.
  kill_mode="mixed"
else
  description="Berth node agent"
  # The agent's tasks (containers, and the process runtime's processes) outlive a restart of
  # the agent, which adopts them when it comes back.
  kill_mode="process"
fi
cat >"$unit_dir/$unit.service" <<EOF
# Written by deploy/install.sh; see /opt/berth/docs/operations.md.
[Unit]
Description=$description
Documentation=file:///opt/berth/docs/operations.md
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
Type=simple
ExecStart=$exec_start
Environment=NODE_ENV=production
Restart=always
RestartSec=5
KillMode=$kill_mode
KillSignal=SIGTERM
TimeoutStopSec=60
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
EOF
chmod 644 "$unit_dir/$unit.service"
say "wrote $unit_dir/$unit.service"

# ---------- start ----------
if staging; then
  say "staging root $root: $unit not enabled or started"
  exit 0
fi
if systemd_running; then
  systemctl daemon-reload
  systemctl enable --now "$unit.service"
  say "$unit.service enabled and started (journalctl -u $unit -f)"
  exit 0
fi
log_file="/var/log/$unit.log"
pid_file="/run/$unit.pid"
say "systemd is not PID 1 here: the unit is written but cannot run; starting $unit in the background as the quickstart does (log: $log_file, pid: $pid_file)"
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  say "$unit already running (pid $(cat "$pid_file"))"
  exit 0
fi
nohup "$node_bin" /opt/berth/bin/berth.js "$mode" "${args[@]}" >>"$log_file" 2>&1 &
echo $! >"$pid_file"
say "$unit started (pid $!)"
