#!/usr/bin/env python3
"""fsync against fdatasync on the disk the benchmarks use: 4 KiB pwrite then sync, interleaved in rounds.

    python3 bench/registry/sync-latency.py [dir=.]

e_sqlite3 (the SQLite that Microsoft.Data.Sqlite ships) syncs its WAL with fsync, which also writes the inode's mtime;
etcd and Debian's libsqlite3 use fdatasync. This shows whether that difference costs anything on this disk.
"""
import os, statistics, sys, time

path = os.path.join(sys.argv[1] if len(sys.argv) > 1 else '.', '.sync-latency.bin')
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
try:
    os.ftruncate(fd, 4 << 20)
    os.fsync(fd)
    page = os.urandom(4096)
    times = {'fsync': [], 'fdatasync': []}
    offset = 0
    for _ in range(10):
        for name, sync in (('fsync', os.fsync), ('fdatasync', os.fdatasync)):
            for _ in range(150):
                os.pwrite(fd, page, offset)
                offset = (offset + 3 * 4096) % (4 << 20)
                started = time.perf_counter()
                sync(fd)
                times[name].append(time.perf_counter() - started)
finally:
    os.close(fd)
    os.unlink(path)
for name, t in times.items():
    t.sort()
    print(f"{name}: n={len(t)} p50={t[len(t) // 2] * 1e6:.0f}us mean={statistics.mean(t) * 1e6:.0f}us p90={t[int(len(t) * .9)] * 1e6:.0f}us")
