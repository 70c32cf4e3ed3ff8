#!/usr/bin/env bash
# The sync benchmark (docs/benchmarks.md): libafs against `rsync -a` on the
# same generated tree, in the same run, with the local-directory share.
#
#   scripts/bench.sh            100000 files (about 2 GB), one run
#   scripts/bench.sh 10000      a quick run: 10000 files, median of 5 runs
#   scripts/bench.sh 10000 --runs 3 --dir /mnt/disk --keep
#
# Builds build-bench/ (RelWithDebInfo, the library and the benchmark only)
# and runs build-bench/tests/bench/bench_sync with the arguments given. The
# data goes to $TMPDIR or /var/tmp (never tmpfs) and is removed at the end.
# The last line is "bench-sync files=N initial_ratio=X noop_ratio=Y
# incr_ratio=Z peak_rss_mib=M".
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
# shellcheck source=scripts/lib/deps.sh
source "$src/scripts/lib/deps.sh"

echo "== bench: packages"
afs_ensure_packages "${AFS_BUILD_PACKAGES[@]}" rsync

echo "== bench: build (build-bench/, RelWithDebInfo)"
cmake -S "$src" -B "$src/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFS_SANITIZE=OFF \
      -DAFS_BUILD_TESTS=OFF -DAFS_BUILD_EXAMPLES=OFF -DAFS_BUILD_BENCH=ON >/dev/null
cmake --build "$src/build-bench" --target bench_sync -j"$(nproc)"

echo "== bench: $(rsync --version | head -n1)"
exec "$src/build-bench/tests/bench/bench_sync" "$@"
