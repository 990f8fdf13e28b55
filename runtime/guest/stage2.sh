# kit guest init, stage 2: PID 1 in the sandbox's root filesystem (run by /.kit/bin/busybox sh).
# Executes the plan the host compiled into /.kit/plan/plan.sh: a list of calls to the kit_*
# functions below, with every argument single-quoted by the host (busybox has no JSON parser; the
# JSON plan itself is kept beside it as plan.json for the record). Order (kit-format.md §5):
# network and env, files/home, setup.install, setup.files, setup.startup, files/workspace, agent
# memory, then the command as the agent user in the workspace.
#
# Host protocol on the virtio-serial port kit.status, one line per event:
#   boot UPTIME | step STAGE INDEX | start UPTIME | exit CODE | fail STAGE INDEX CODE MESSAGE
# The command's stdout/stderr go to the ports kit.stdout/kit.stderr; setup output to kit.log.

BB=/.kit/bin/busybox
PLAN=/.kit/plan

# Helper mode (run as the agent): copy SRC's tree into DST, never replacing what DST has.
if [ "$1" = --copy-missing ]; then
  cd "$2" || exit 1
  $BB find . -mindepth 1 | while IFS= read -r f; do
    if [ -d "$f" ] && [ ! -L "$f" ]; then
      $BB mkdir -p "$3/$f" || exit 1
    elif [ ! -e "$3/$f" ] && [ ! -L "$3/$f" ]; then
      $BB cp -P "$f" "$3/$f" || exit 1
    fi
  done
  exit $?
fi
export PATH=/.kit/bin
$BB --install -s /.kit/bin 2>/dev/null
umask 022

# Where the status lines, the setup log and the command's output go. The VM's are virtio-serial
# ports; another driver (docker: runtime/guest/docker-init.sh) sets these before it runs stage 2.
KIT_GUEST=${KIT_GUEST:-vm}
KIT_DEV_STATUS=${KIT_DEV_STATUS:-/dev/kit-status}
KIT_DEV_LOG=${KIT_DEV_LOG:-/dev/kit-log}
KIT_DEV_STDOUT=${KIT_DEV_STDOUT:-/dev/kit-stdout}
KIT_DEV_STDERR=${KIT_DEV_STDERR:-/dev/kit-stderr}
exec 7>"$KIT_DEV_STATUS" 8>"$KIT_DEV_LOG" </dev/null
st() { echo "$*" >&7; }
log() { echo "kit-init: $*" >&8; }
up() { cut -d' ' -f1 /proc/uptime; }
die() { # STAGE INDEX CODE MESSAGE
  log "FAIL $1 $2: $4 (exit $3)"
  st "fail $1 $2 $3 $4"
  shutdown_vm
}
shutdown_vm() {
  sync
  # A container (PID 1 of its own PID namespace) ends when this shell does.
  [ "$KIT_GUEST" = vm ] || exit 0
  reboot -f
  sleep 10
}
st "boot $(up)"
echo "kit-init: stage2" > /dev/kmsg 2>/dev/null

KIT_WORKDIR=/workspace
AGENT_UID=1000
AGENT_GID=1000
AGENT_HOME=/home/agent

# uid/gid of USER (a number or a name in the image's /etc/passwd; "agent" is uid 1000).
uid_of() {
  case "$1" in
    '' ) echo "$AGENT_UID" ;;
    root) echo 0 ;;
    agent) echo "$AGENT_UID" ;;
    *[!0-9]*) awk -F: -v n="$1" '$1 == n { print $3; exit }' /etc/passwd ;;
    *) echo "$1" ;;
  esac
}
gid_of() { # UID
  g=$(awk -F: -v u="$1" '$3 == u { print $4; exit }' /etc/passwd)
  echo "${g:-$1}"
}

# run_as UID ENVFILE CWD ARGV... : a clean environment from ENVFILE, cwd, then drop to UID. The
# init's own descriptors (6 exec port, 7 status, 8 setup log) are closed first: what runs cannot
# write status lines or read exec requests.
RUN_AS='
  exec 6>&- 7>&- 8>&- 9>&-
  . "$1" || exit 126
  cd "$2" 2>/dev/null || cd /
  u=$3; g=$4; tty=$5; shift 5
  # A bare name is looked up in PATH here: busybox (nsenter, setsid) would run its own applet of
  # that name instead of the image'"'"'s program.
  case "$1" in
    */*) ;;
    *) p=$(/.kit/bin/busybox which "$1") || { echo "$1: command not found" >&2; exit 127; }
       shift; set -- "$p" "$@" ;;
  esac
  [ "$tty" = 1 ] && set -- /.kit/bin/busybox setsid -c "$@"
  if [ "$u" = 0 ]; then exec "$@"; fi
  exec /.kit/bin/busybox nsenter -S "$u" -G "$g" -- "$@"
'
run_as() {
  _u=$1; _g=$(gid_of "$1"); _e=$2; _c=$3; shift 3
  $BB env -i $BB sh -c "$RUN_AS" kit "$_e" "$_c" "$_u" "$_g" "${KIT_RUN_TTY:-0}" "$@"
}
env_for() { # UID
  if [ "$1" = 0 ]; then echo "$PLAN/root-env.sh"; else echo "$PLAN/agent-env.sh"; fi
}

kit_workdir() { KIT_WORKDIR=$1; }

kit_hostname() {
  hostname "$1" 2>/dev/null
  echo "$1" > /etc/hostname 2>/dev/null
}

# Network: loopback and eth0 on QEMU's user network, no default route and no resolver, so the one
# way out is the guestfwd at 10.0.2.100 (the host-side proxy).
kit_network() { # ADDRESS/PREFIX
  [ "$KIT_GUEST" = vm ] && ip link set lo up
  if [ "$KIT_GUEST" = vm ] && [ -e /sys/class/net/eth0 ]; then
    ip addr add "$1" dev eth0 && ip link set eth0 up || die network 0 1 "configure eth0"
  fi
  rm -f /etc/resolv.conf 2>/dev/null
  echo '# kit: no resolver; names are resolved by the proxy' > /etc/resolv.conf
  h=$(hostname)
  printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$h" > /etc/hosts
}

# The proxy CA: into the image's bundle (or a new one) and as a file of its own.
kit_ca() { # DATAFILE
  mkdir -p /usr/local/share/ca-certificates /etc/ssl/certs
  cp "$PLAN/$1" /usr/local/share/ca-certificates/kit-proxy-ca.crt
  chmod 0644 /usr/local/share/ca-certificates/kit-proxy-ca.crt
  for b in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -f "$b" ]; then
      { echo; cat "$PLAN/$1"; } >> "$b"
    fi
  done
  [ -f /etc/ssl/certs/ca-certificates.crt ] || cp "$PLAN/$1" /etc/ssl/certs/ca-certificates.crt
  chmod 0644 /etc/ssl/certs/ca-certificates.crt
}

# The agent user (uid 1000): created when the image lacks it; its home exists and is its own.
kit_user() { # NAME HOME
  AGENT_HOME=$2
  if ! awk -F: '$3 == 1000 { f = 1 } END { exit !f }' /etc/passwd; then
    sh_path=/bin/sh
    [ -x /bin/bash ] && sh_path=/bin/bash
    echo "$1:x:1000:1000:$1:$2:$sh_path" >> /etc/passwd
    awk -F: '$3 == 1000 { f = 1 } END { exit !f }' /etc/group 2>/dev/null || echo "$1:x:1000:" >> /etc/group
    [ -f /etc/shadow ] && echo "$1:!:19000:0:99999:7:::" >> /etc/shadow
  fi
  AGENT_GID=$(gid_of 1000)
  mkdir -p "$2"
  chown 1000:"$AGENT_GID" "$2"
}

# files/home of one kit layer (overlay by path: later layers win), owned by the agent, modes kept.
kit_home_layer() { # N
  st "step home $1"
  src=/.kit/layers/$1/home/agent
  [ -d "$src" ] || return 0
  cp -a "$src/." "$AGENT_HOME/" 2>&8 || die home "$1" 1 "copy files/home of kit layer $1"
  chown -R 1000:"$AGENT_GID" "$AGENT_HOME"
}

kit_install() { # INDEX USER DATAFILE(command)
  st "step install $1"
  u=$(uid_of "$2")
  [ -n "$u" ] || die install "$1" 1 "unknown user $2"
  log "install[$1] as $u: $(cat "$PLAN/$3")"
  run_as "$u" "$(env_for "$u")" / /bin/sh -c "$(cat "$PLAN/$3")" >&8 2>&8
  rc=$?
  [ $rc = 0 ] || die install "$1" $rc "setup.install[$1] exited $rc"
}

kit_file() { # STAGE INDEX PATH MODE ONLY_IF_MISSING DATAFILE : written as the agent
  st "step $1 $2"
  if [ "$5" = 1 ] && [ -e "$3" ]; then return 0; fi
  run_as 1000 "$PLAN/agent-env.sh" / /.kit/bin/busybox sh -c '
    d=${1%/*}; [ -n "$d" ] && mkdir -p "$d"
    cat > "$1" && chmod "$2" "$1"
  ' kit "$3" "$4" < "$PLAN/$6" >&8 2>&8
  rc=$?
  [ $rc = 0 ] || die "$1" "$2" $rc "cannot write $3 as uid 1000"
}

kit_startup() { # INDEX USER BACKGROUND ARGV...
  st "step startup $1"
  i=$1; u=$(uid_of "$2"); bg=$3; shift 3
  if [ -z "$u" ]; then log "startup[$i]: unknown user, skipped"; return 0; fi
  if [ "$bg" = 1 ]; then
    run_as "$u" "$(env_for "$u")" "$KIT_WORKDIR" "$@" >&8 2>&8 &
  else
    run_as "$u" "$(env_for "$u")" "$KIT_WORKDIR" "$@" >&8 2>&8 || log "startup[$i] exited $?"
  fi
}

# files/workspace of one kit layer: copied as the agent, never over a file the workspace has.
kit_workspace_layer() { # N
  st "step workspace $1"
  src=/.kit/layers/$1/workspace
  [ -d "$src" ] || return 0
  run_as 1000 "$PLAN/agent-env.sh" "$KIT_WORKDIR" /.kit/bin/busybox sh /.kit/stage2.sh --copy-missing "$src" "$KIT_WORKDIR" >&8 2>&8 \
    || die workspace "$1" 1 "copy files/workspace of kit layer $1"
}

# Exec server (`kit exec` into the running sandbox). Requests come on the virtio-serial port
# kit.exec, a line each:  run ID | kill ID SIGNAL | winsize ROWS COLS
# A request's files are in /.kit/x/exec/ID (a 9p share of the host's run directory; /.kit/x is
# root-only): argv (single-quoted by the host), cwd, env.sh (extra exports). The command runs as
# the agent with its stdout/stderr in files there, which the host streams; "done ID CODE" goes back.
KIT_EXEC=/.kit/x/exec
exec_one() { # ID
  id=$1
  d=$KIT_EXEC/$id
  envf=$PLAN/agent-env.sh
  if [ -s "$d/env.sh" ]; then cat "$PLAN/agent-env.sh" "$d/env.sh" > "$d/env-full.sh"; envf=$d/env-full.sh; fi
  cwd=$(cat "$d/cwd" 2>/dev/null)
  [ -n "$cwd" ] || cwd=$KIT_WORKDIR
  if [ ! -d "$cwd" ]; then
    echo "$cwd: no such directory" > "$d/stderr"
    echo "done $id 126" >&6
    return
  fi
  eval "set -- $(cat "$d/argv")"
  _g=$(gid_of 1000)
  # One process from the subshell to the command (each step execs): its pid is the command's.
  ( exec $BB env -i $BB sh -c "$RUN_AS" kit "$envf" "$cwd" 1000 "$_g" 0 "$@" ) >"$d/stdout" 2>"$d/stderr" </dev/null &
  echo $! > "$d/pid"
  wait $!
  echo "done $id $?" >&6
}
exec_server() {
  while read -r op a b <&6; do
    case "$a" in ''|*[!A-Za-z0-9]*) continue ;; esac
    case "$op" in
      run) exec_one "$a" & ;;
      kill)
        case "$b" in TERM|KILL|INT|HUP) ;; *) b=TERM ;; esac
        p=$(cat "$KIT_EXEC/$a/pid" 2>/dev/null)
        [ -n "$p" ] && kill -"$b" "$p" 2>/dev/null ;;
      winsize) [ -n "$KIT_TTY" ] && stty -F "$KIT_TTY" rows "$a" cols "$b" 2>/dev/null ;;
    esac
  done
}

# The terminal of an interactive run: the first virtio console (kit.tty=ROWSxCOLS on the command line).
KIT_TTY=
for arg in $(cat /proc/cmdline 2>/dev/null); do
  case "$arg" in kit.tty=*) [ -e /dev/hvc0 ] && KIT_TTY=/dev/hvc0 && KIT_TTY_SIZE=${arg#kit.tty=} ;; esac
done

kit_run() { # ARGV... : the command, as the agent, in the workspace; its exit code goes to the host
  echo "kit-init: start" > /dev/kmsg 2>/dev/null
  if [ "$KIT_GUEST" = vm ] && [ -e /dev/kit-exec ] && [ -d "$KIT_EXEC" ]; then
    exec 6<>/dev/kit-exec
    exec_server &
  fi
  st "start $(up)"
  if [ -n "$KIT_TTY" ]; then
    # Held open by the init: a terminal nobody has open forgets its size.
    exec 9<>"$KIT_TTY"
    stty -F "$KIT_TTY" rows "${KIT_TTY_SIZE%x*}" cols "${KIT_TTY_SIZE#*x}" 2>/dev/null
    chown 1000 "$KIT_TTY"
    KIT_RUN_TTY=1
    run_as 1000 "$PLAN/agent-env.sh" "$KIT_WORKDIR" "$@" <"$KIT_TTY" >"$KIT_TTY" 2>&1
  else
    run_as 1000 "$PLAN/agent-env.sh" "$KIT_WORKDIR" "$@" >"$KIT_DEV_STDOUT" 2>"$KIT_DEV_STDERR" </dev/null
  fi
  rc=$?
  st "exit $rc"
}

kit_done() {
  shutdown_vm
}

chmod 0755 /.kit/layers 2>/dev/null
. "$PLAN/plan.sh"
kit_done
