#!/usr/bin/env bash
# The shared libraries libafs.so needs at load time (DT_NEEDED).
#
#   needed.sh <libafs.so>   (ctest test_needed)
#
# libcurl must not be one of them: the Azure backends dlopen libcurl.so.4
# when the first one is opened (lib/storage/azure/curl_load.c), so that a
# process that never opens one does not pay for loading the ~38 libraries
# libcurl pulls in (docs/benchmarks.md, "Process start"). Catches a direct
# call to a curl function or CURL::libcurl back on the link line.
set -euo pipefail

lib=${1:-}
if [[ -z $lib ]]; then
    echo "usage: $0 <libafs.so>" >&2
    exit 2
fi
command -v readelf >/dev/null || { echo "needed: readelf not found (binutils)" >&2; exit 1; }
[[ -f $lib ]] || { echo "needed: $lib does not exist; build the library first" >&2; exit 1; }

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\].*/\1/p')
echo "needed: $lib needs: $(tr '\n' ' ' <<<"$needed")"
[[ -n $needed ]] || { echo "needed: FAIL: readelf shows no NEEDED entry at all"; exit 1; }
if grep -q 'libcurl' <<<"$needed"; then
    echo "needed: FAIL: libafs.so needs libcurl; it must load it with dlopen on first use"
    exit 1
fi
# No curl symbol may be left for the dynamic linker to bind.
if nm -D --undefined-only "$lib" | grep -Eq '[[:space:]]curl_'; then
    echo "needed: FAIL: libafs.so has undefined curl symbols:"
    nm -D --undefined-only "$lib" | grep -E '[[:space:]]curl_' | sed 's/^/    /'
    exit 1
fi
echo "needed: OK: libcurl is not needed"
