#!/usr/bin/env bash
# Regenerate the ABI baseline tests/abi/libafs.abi on purpose, after an API
# addition has been reviewed (docs/api-conventions.md#abi). Builds build/ if
# needed, in the same configuration scripts/test.sh uses.
#
#   scripts/update-abi.sh [build-dir]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFS_SANITIZE=OFF \
      -DAFS_PACKAGING_TESTS=ON >/dev/null
cmake --build "$build" --target afs -j"$(nproc)"
"$src/tests/packaging/abi.sh" update "$build/libafs.so" "$src"
git -C "$src" --no-pager diff --stat -- tests/abi/libafs.abi || true
echo "update-abi: review the diff of tests/abi/libafs.abi and commit it with the API change."
