# A CNCF distribution registry of the benchmark's own on loopback (sourced by bench/*/run.sh).
# registry_config DIR: picks a free port, writes DIR/registry.yml (root DIR/registry); sets HOST.
# start_registry: (re)starts it on an empty root, so no run finds blobs of an earlier one.
# stop_registry: TERM, then KILL after 5 s: never waits on it without a bound.
REG_PID=
REG_DIR=

registry_config() {
  REG_DIR=$1
  local port
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  HOST="127.0.0.1:$port"
  mkdir -p "$REG_DIR/registry"
  cat >"$REG_DIR/registry.yml" <<EOC
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG_DIR/registry
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $HOST
EOC
}

stop_registry() {
  [[ -n "$REG_PID" ]] || return 0
  kill "$REG_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$REG_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$REG_PID" 2>/dev/null || true
  wait "$REG_PID" 2>/dev/null || true
  REG_PID=
}

start_registry() {
  stop_registry
  rm -rf "$REG_DIR/registry" && mkdir -p "$REG_DIR/registry"
  docker-registry serve "$REG_DIR/registry.yml" >"$REG_DIR/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -fs "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done
  curl -fs "http://$HOST/v2/" >/dev/null || { echo "registry did not start"; cat "$REG_DIR/registry.log"; exit 1; }
}
