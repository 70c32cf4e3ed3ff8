#!/usr/bin/env bash
# THE test command (README.md): every test, on a fresh Debian 12 machine as
# root or on a developer machine that has the packages.
#
#   build/       RelWithDebInfo (-O2 -g): unit suites + packaging checks
#                (test_abi, test_headers, test_exports, test_consumer)
#   build-asan/  Debug with AddressSanitizer + UBSan: the unit suites
#   pytest       the Python bindings (bindings/python/tests) against build/
#
# Exits non-zero if anything fails. The last line is "N passed, M failed",
# summed over both configurations and pytest.
#
# Environment: AFS_TEST_JOBS (default 2) parallel build/ctest jobs.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
# shellcheck source=scripts/lib/deps.sh
source "$src/scripts/lib/deps.sh"
jobs=${AFS_TEST_JOBS:-2}
started=$(date +%s)

echo "== test: packages"
afs_ensure_packages "${AFS_BUILD_PACKAGES[@]}" "${AFS_TEST_PACKAGES[@]}"

# ---- Azurite blob emulator (the Azure backend's tests) --------------------
# azurite@3.35.0 (the last release that runs on Node 20) in build/azurite,
# on a free loopback port, in memory, telemetry off; stopped in cleanup(),
# also on failure. The Azure tests fail rather than skip once it is up.
# shellcheck source=scripts/lib/azurite.sh
source "$src/scripts/lib/azurite.sh"
cleanup() {
    afs_azurite_stop
}
trap cleanup EXIT
echo "== test: azurite"
afs_azurite_install "$src/build/azurite"
afs_azurite_start "$src/build/azurite"
export AFS_TEST_AZURITE_REQUIRED=1
# The Azure Files and hostile-endpoint tests run stdlib Python test servers
# (tests/azure/*.py); they fail, never skip, without python3.
command -v python3 >/dev/null || { echo "test: python3 is required (tests/azure/*.py)" >&2; exit 1; }
# ---------------------------------------------------------------------------

total_passed=0
total_failed=0
total_skipped=0
failures=()

# Parse ctest's "X% tests passed, F tests failed out of T" into the totals.
count_ctest() {
    local log=$1 name=$2 line failed_n total_n skipped_n
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
    if [[ -z $line ]]; then
        # No summary: ctest found no tests or did not run; count it as a failure.
        total_failed=$((total_failed + 1))
        failures+=("$name: ctest printed no result (no tests found?)")
        return 0
    fi
    failed_n=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total_n=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    # A skipped test (exit 77) neither passed nor failed.
    skipped_n=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$log" || true)
    total_passed=$((total_passed + total_n - failed_n - skipped_n))
    total_failed=$((total_failed + failed_n))
    total_skipped=$((total_skipped + skipped_n))
}

# configure + build + ctest one configuration; a configure or build failure
# counts as one failure (nothing of that configuration ran).
run_config() {
    local name=$1 dir=$2
    shift 2
    local log="$src/$dir/ctest.log"
    echo
    echo "== test: $name: configure ($dir)"
    if ! cmake -S "$src" -B "$src/$dir" "$@"; then
        failures+=("$name: configure failed"); total_failed=$((total_failed + 1)); return 0
    fi
    echo "== test: $name: build"
    if ! cmake --build "$src/$dir" -j"$jobs"; then
        failures+=("$name: build failed"); total_failed=$((total_failed + 1)); return 0
    fi
    echo "== test: $name: ctest"
    if ! ctest --test-dir "$src/$dir" --output-on-failure -j"$jobs" 2>&1 | tee "$log"; then
        failures+=("$name: ctest failed")
    fi
    count_ctest "$log" "$name"
}

run_config "release" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFS_SANITIZE=OFF \
           -DAFS_BUILD_TESTS=ON -DAFS_PACKAGING_TESTS=ON
run_config "asan" build-asan -DCMAKE_BUILD_TYPE=Debug -DAFS_SANITIZE=ON \
           -DAFS_BUILD_TESTS=ON -DAFS_PACKAGING_TESTS=OFF

# ---- Python bindings: pytest ----------------------------------------------
# The ctypes package in bindings/python against the release build's library.
# Debian's pytest is /usr/bin/python3's (a pyenv python3 on PATH may lack it).
# pytest's own "N passed, M failed" goes into the totals (errors count as
# failures, skips as neither); exit 5 (no tests collected) and any exit other
# than 0 or 1 count as a failure, since bindings/python/tests holds tests.
run_pytest() {
    local log="$src/build/pytest.log" rc line n_passed n_failed n_errors
    echo
    echo "== test: python: pytest (bindings/python/tests, AFS_LIBRARY=build/libafs.so)"
    if [[ ! -e $src/build/libafs.so ]]; then
        failures+=("python: build/libafs.so is missing (did the release build fail?)")
        total_failed=$((total_failed + 1)); return 0
    fi
    set +e
    AFS_LIBRARY="$src/build/libafs.so" /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
        "$src/bindings/python/tests" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    line=$(grep -E '^(=+ )?[0-9]+ [a-z]+.* in [0-9.]+s' "$log" | tail -n1 || true)
    n_passed=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    n_failed=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    n_errors=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    total_passed=$((total_passed + n_passed))
    total_failed=$((total_failed + n_failed + n_errors))
    case $rc in
    0) ;;
    1) failures+=("python: pytest: $n_failed failed, $n_errors errors")
       (( n_failed + n_errors > 0 )) || total_failed=$((total_failed + 1)) ;;
    5) failures+=("python: pytest collected no tests (exit 5)")
       total_failed=$((total_failed + 1)) ;;
    *) failures+=("python: pytest exited with $rc (interrupted, internal or usage error)")
       total_failed=$((total_failed + 1)) ;;
    esac
}
run_pytest
# ---------------------------------------------------------------------------

echo
echo "== test: $(( $(date +%s) - started )) s"
for f in "${failures[@]}"; do
    echo "FAILED: $f"
done
if (( total_skipped > 0 )); then
    echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
else
    echo "$total_passed passed, $total_failed failed"
fi
if (( total_failed > 0 || ${#failures[@]} > 0 )); then
    exit 1
fi
