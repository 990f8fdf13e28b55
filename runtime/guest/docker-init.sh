# kit guest init for the docker driver (the stage-1 equivalent of init.sh in a VM): PID 1 of the
# sandbox container, as root, run by a static busybox the host bind-mounts read-only:
#   /.kit-host/busybox     the host's busybox-static
#   /.kit-host/init.sh     this file
#   /.kit-host/stage2.sh   the generic stage-2 guest script (runtime/guest/stage2.sh)
#   /.kit-host/run/        the host's run directory (root-only): plan/ (compiled by the host) and
#                          the FIFOs status, log, stdout and stderr the host reads
#   /.kit/layers/N         the kit layers (read-only), the workspace at its workdir (read-write)
# It puts busybox, the plan (root-only) and stage 2 where stage 2 expects them, then runs stage 2
# with the FIFOs as its status, log and output devices. The container ends when stage 2 does.
BB=/.kit-host/busybox
RUN=/.kit-host/run
fail() {
  echo "fail stage1 $*" > "$RUN/status"
  exit 1
}
$BB mkdir -p /.kit/bin /.kit/plan || fail "cannot create /.kit"
$BB cp "$BB" /.kit/bin/busybox || fail "cannot copy busybox"
$BB cp /.kit-host/stage2.sh /.kit/stage2.sh || fail "cannot copy stage2.sh"
$BB cp -R "$RUN/plan/." /.kit/plan/ || fail "cannot copy the plan"
$BB chown -R 0:0 /.kit/plan
$BB chmod -R go-rwx /.kit/plan
$BB chmod 0755 /.kit /.kit/bin /.kit/bin/busybox
$BB chmod 0644 /.kit/stage2.sh
export KIT_GUEST=docker
export KIT_DEV_STATUS="$RUN/status" KIT_DEV_LOG="$RUN/log" KIT_DEV_STDOUT="$RUN/stdout" KIT_DEV_STDERR="$RUN/stderr"
exec /.kit/bin/busybox sh /.kit/stage2.sh
