#!/usr/bin/env bash
# End-to-end read-only comparison: stratafs vs fuse-overlayfs vs kernel overlayfs, mounted on
# the same layers (kernel-style whiteouts and opaque dirs, which all three read), measured side
# by side in one run. Each workload runs on a fresh mount (cold FUSE caches, warm page cache of
# the layers); the median of RUNS is reported with its ratio to kernel overlayfs.
#   bench/compare_readonly.sh [STRATAFS] [RUNS]      (root; fuse-overlayfs from Debian)
set -euo pipefail
stratafs=${1:-$(dirname "$0")/../build/stratafs}
runs=${2:-5}
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
for tool in fuse-overlayfs python3; do
  command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq fuse-overlayfs python3; }
done

work=$(mktemp -d /tmp/strata-bench.XXXXXX)
mnt=$work/mnt
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt"

# 4 layers: a base of 200 dirs x 50 files (4 KiB), then 3 layers each rewriting 10% of the
# files, whiting out 2% and making 2 directories opaque. One 256 MiB file for streaming.
echo "building layers in $work ..." >&2
python3 - "$work" <<'PY'
import os, sys, random
work = sys.argv[1]
random.seed(1)
blob = os.urandom(4096)
for l in range(4):
    root = f"{work}/l{l}"
    os.makedirs(root)
    for d in range(200):
        os.makedirs(f"{root}/d{d}", exist_ok=True)
        for f in range(50):
            if l == 0 or random.random() < 0.10:
                with open(f"{root}/d{d}/f{f}", "wb") as fh: fh.write(blob)
            elif random.random() < 0.02:
                os.mknod(f"{root}/d{d}/f{f}", 0o600 | 0o020000, 0)  # whiteout: char 0/0
    if l > 0:
        for d in random.sample(range(200), 2):
            os.setxattr(f"{root}/d{d}", "trusted.overlay.opaque", b"y")
with open(f"{work}/l0/big", "wb") as fh:
    for _ in range(256): fh.write(os.urandom(1 << 20))
PY
lower="$work/l3:$work/l2:$work/l1:$work/l0"

mount_fs() {
  case $1 in
    kernel) mount -t overlay overlay -o "lowerdir=$lower" "$mnt" ;;
    stratafs) "$stratafs" -o "lowerdir=$lower" "$mnt" ;;
    fuse-overlayfs) fuse-overlayfs -o "lowerdir=$lower" "$mnt" ;;
  esac
}
unmount_fs() {
  umount "$mnt"
  for _ in $(seq 100); do mountpoint -q "$mnt" || return 0; sleep 0.05; done
}

declare -A workloads=(
  [find]="find $mnt -type f | wc -l"
  [ls-lR]="ls -lR $mnt | wc -l"
  [read-all]="find $mnt -type f -name 'f*' -print0 | xargs -0 cat | wc -c"
  [stream-256M]="dd if=$mnt/big of=/dev/null bs=1M status=none"
)
order=(find ls-lR read-all stream-256M)
filesystems=(kernel stratafs fuse-overlayfs)

now() { date +%s%N; }
declare -A median
for w in "${order[@]}"; do
  for fs in "${filesystems[@]}"; do
    times=()
    for _ in $(seq "$runs"); do
      mount_fs "$fs"
      t0=$(now)
      bash -c "${workloads[$w]}" >/dev/null
      t1=$(now)
      unmount_fs
      times+=($(( (t1 - t0) / 1000 )))
    done
    median[$w,$fs]=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  done
done

printf '\n%-12s' workload
for fs in "${filesystems[@]}"; do printf '%20s' "$fs (ms)"; done
printf '%14s%14s\n' "strata/kern" "strata/fovl"
for w in "${order[@]}"; do
  printf '%-12s' "$w"
  for fs in "${filesystems[@]}"; do awk -v t="${median[$w,$fs]}" 'BEGIN { printf "%20.1f", t / 1000 }'; done
  awk -v s="${median[$w,stratafs]}" -v k="${median[$w,kernel]}" -v f="${median[$w,fuse-overlayfs]}" \
    'BEGIN { printf "%14.2f%14.2f\n", s / k, s / f }'
done
echo "(median of $runs runs each, fresh mount per run; $(nproc) cores; $(uname -r))"
