#!/usr/bin/env bash
# README command 1: build libafs and take the tour of its layers.
#
# Installs what is missing (Debian 12, as root), builds build-demo/ and runs
# examples/layers_demo in .afs-demo/ (recreated each run): the local-directory
# storage backend (etags, create-only race, stale if-match, the hidden
# ".libafs" prefix, hostile names) and the POSIX filesystem vtable (a 1 MiB
# file, a punched hole, the tier marker, the volume facts).
#
# The sync engine demo (two servers, one cloud share) replaces this tour
# once the engine lands.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
# shellcheck source=scripts/lib/deps.sh
source "$src/scripts/lib/deps.sh"

echo "== demo: packages"
afs_ensure_packages "${AFS_BUILD_PACKAGES[@]}"

echo "== demo: build (build-demo/)"
cmake -S "$src" -B "$src/build-demo" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFS_BUILD_TESTS=OFF \
      -DAFS_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$src/build-demo" --target layers_demo -j"$(nproc)"

work="$src/.afs-demo"
rm -rf "$work"
echo "== demo: running in $work"
"$src/build-demo/examples/layers_demo" "$work"
