#!/usr/bin/env bash
# What a clone that runs out of space part-way leaves behind (docs/design.md, RC4).
#
#   bench/scripts/clone-enospc.sh btrfs|xfs [SPLICELAB]
#
# As root: makes a 300 MiB loop image under a fresh temporary directory, writes a source of
# 20,480 extents (every other 4 KiB block of 160 MiB) and a 64 KiB destination, fills the
# filesystem (a data file, then small files until ENOSPC), then clones the source over the
# destination with xfs_io's FICLONE, or with `SPLICELAB cp --real --reflink=always` when a
# splicelab binary is given, and prints the destination before and after. The mount and
# the loop device go away on every exit path. Takes 1-10 minutes (btrfs: ~55,000 files).
set -euo pipefail
kind=${1:?btrfs or xfs}
splicelab=${2:-}
dir=$(mktemp -d)
loop=
cleanup() {
    cd /
    if mountpoint -q "$dir/mnt"; then umount "$dir/mnt"; fi
    if [ -n "$loop" ]; then losetup -d "$loop" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
truncate -s 300M "$dir/img"
case $kind in
    btrfs) mkfs.btrfs -q -f --sectorsize 4096 "$dir/img" >/dev/null ;;
    xfs) mkfs.xfs -q -f -b size=4096 -m reflink=1 "$dir/img" ;;
    *) echo "unknown kind $kind" >&2; exit 2 ;;
esac
loop=$(losetup -f --show "$dir/img")
mkdir "$dir/mnt"
mount "$loop" "$dir/mnt"
cd "$dir/mnt"
python3 - <<'PY'
import os
fd = os.open('src', os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(0, 40960, 2):
    os.pwrite(fd, b'a' * 4096, i * 4096)
os.fsync(fd)
PY
xfs_io -f -c "pwrite -q -S 0x62 0 64k" -c fsync dst
dd if=/dev/zero of=fill bs=1M 2>/dev/null || true
sync
python3 - <<'PY'
n = 0
try:
    while n < 200000:
        with open('m%d' % n, 'w') as f:
            f.write('x' * 1000)
        n += 1
except OSError:
    pass
print('small files', n)
PY
sync
show() {
    echo "$1: size $(stat -c %s dst), md5 $(md5sum < dst | cut -d' ' -f1), extents $(xfs_io -c fiemap dst | tail -n +2 | grep -vc hole)"
    xfs_io -c fiemap dst | sed -n 2,3p
}
show before
if [ -n "$splicelab" ]; then
    "$splicelab" cp --real --reflink=always src dst && echo "rc=0" || echo "rc=$?"
else
    xfs_io -c "reflink src" dst && echo "rc=0" || echo "rc=$?"
fi
show after
