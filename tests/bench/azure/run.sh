#!/usr/bin/env bash
# Benchmark: libafs vs rclone uploading small files to Azurite
# (tests/bench/azure/bench_azure.c). Uses the Azurite given by
# AFS_TEST_AZURITE, or installs and starts one (stopped on exit).
# Its last line: bench-azure files=N afs_obj_s=X rclone_obj_s=Y ratio=Z
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=scripts/lib/deps.sh
source "$src/scripts/lib/deps.sh"
# shellcheck source=scripts/lib/azurite.sh
source "$src/scripts/lib/azurite.sh"
trap afs_azurite_stop EXIT
command -v rclone >/dev/null || afs_ensure_packages rclone
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$src/build" -j"${AFS_TEST_JOBS:-2}" --target bench_azure >/dev/null
if [[ -z ${AFS_TEST_AZURITE:-} ]]; then
    afs_azurite_install "$src/build/azurite"
    afs_azurite_start "$src/build/azurite"
fi
"$src/build/tests/bench/azure/bench_azure"
