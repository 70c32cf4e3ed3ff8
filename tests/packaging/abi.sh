#!/usr/bin/env bash
# ABI check of libafs.so against the committed baseline tests/abi/libafs.abi.
#
#   abi.sh check  <libafs.so> <source-dir>   (ctest test_abi)
#   abi.sh update <libafs.so> <source-dir>   (scripts/update-abi.sh)
#
# The ABI is read from DWARF (the library is built with -g) and restricted to
# the types defined in include/ (--headers-dir + --drop-private-types), so
# internal structs never count. --load-all-types keeps public types that no
# function mentions (the error enum) so that renumbering a code is caught.
# Locations are file names only and the corpus/compilation paths are left
# out: the baseline is the same from any clone at any path.
#
# Policy (docs/api-conventions.md#abi): additions are printed and allowed:
# new functions, new enumerators, members appended to a struct's end.
# Everything else fails: abidiff's "incompatible" bit, any removed function,
# variable, symbol or public type, and any member moved, removed, renamed or
# retyped, or a parameter added or removed.
set -euo pipefail

mode=${1:-}
lib=${2:-}
src=${3:-}
if [[ -z $mode || -z $lib || -z $src ]]; then
    echo "usage: $0 check|update <libafs.so> <source-dir>" >&2
    exit 2
fi
baseline="$src/tests/abi/libafs.abi"

for tool in abidw abidiff; do
    if ! command -v "$tool" >/dev/null; then
        echo "abi: $tool not found (Debian package abigail-tools)" >&2
        exit 1
    fi
done
if [[ ! -f $lib ]]; then
    echo "abi: $lib does not exist; build the library first" >&2
    exit 1
fi

abi_dump() {
    abidw --headers-dir "$src/include" --drop-private-types --load-all-types \
          --no-corpus-path --no-comp-dir-path --short-locs --type-id-style hash \
          --out-file "$2" "$1"
}

if [[ $mode == update ]]; then
    mkdir -p "$(dirname "$baseline")"
    abi_dump "$lib" "$baseline"
    echo "abi: wrote $baseline from $lib"
    exit 0
elif [[ $mode != check ]]; then
    echo "usage: $0 check|update <libafs.so> <source-dir>" >&2
    exit 2
fi

if [[ ! -f $baseline ]]; then
    echo "abi: no baseline $baseline; create it with scripts/update-abi.sh" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abi_dump "$lib" "$tmp/current.abi"

rc=0
abidiff --non-reachable-types --suppressions "$src/tests/abi/anonymous-enums.supp" \
    "$baseline" "$tmp/current.abi" >"$tmp/report" 2>&1 || rc=$?
cat "$tmp/report"

failed=0
if (( rc & 3 )); then
    echo "abi: FAIL: abidiff could not compare (exit $rc)"
    exit 1
fi
if (( rc & 8 )); then
    echo "abi: FAIL: abidiff reports an incompatible change (exit bit 8)"
    failed=1
fi
# "N Removed" / "N removed" in any summary line with N > 0.
if grep -Eq 'summary:.*\b[1-9][0-9]* [Rr]emoved' "$tmp/report"; then
    echo "abi: FAIL: a function, variable, symbol or public type was removed"
    failed=1
fi
# Leaf changes that break existing callers even though abidiff only sets bit 4.
# "entity changed" is a type of another kind in the same place, such as a
# parameter that went from `T **` to `T ***` (a list of rows turned into an
# array of structs, or back): abidiff only reports it as a sub-type change.
bad='^[[:space:]]*\[D\]|offset changed|deletion|enumerator change|name changed|replaced by|entity changed|of type .* was (added|removed)|parameter .* was (added|removed)'
if grep -Eq "$bad" "$tmp/report"; then
    echo "abi: FAIL: an existing type or signature changed incompatibly:"
    grep -En "$bad" "$tmp/report" | sed 's/^/    /'
    failed=1
fi

if (( failed )); then
    echo "abi: if the change is deliberate (it needs a new SONAME), regenerate the"
    echo "abi: baseline with scripts/update-abi.sh and explain it in the commit."
    exit 1
fi
if (( rc & 4 )); then
    echo "abi: OK: compatible additions only (printed above)."
    echo "abi: record them with scripts/update-abi.sh when the release is cut."
else
    echo "abi: OK: no ABI change against the baseline (harmless ones are filtered)"
fi
