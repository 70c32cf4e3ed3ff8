#!/usr/bin/env bash
# Exported symbols of libafs.so == the functions declared AFS_EXTERN in the
# public headers (STYLE.md 6), all in the AFS_0 version node.
#
#   exports.sh <libafs.so> <include-dir>   (ctest test_exports)
#
# Catches: an internal function that leaks (missing static, or an afs__ name
# made visible), an API function declared but not built or not marked
# AFS_EXTERN, a symbol outside the version script's node, a wrong SONAME.
set -euo pipefail

lib=${1:-}
inc=${2:-}
if [[ -z $lib || -z $inc ]]; then
    echo "usage: $0 <libafs.so> <include-dir>" >&2
    exit 2
fi
for tool in nm readelf; do
    command -v "$tool" >/dev/null || { echo "exports: $tool not found (binutils)" >&2; exit 1; }
done
command -v "${CC:-cc}" >/dev/null || { echo "exports: no C compiler (${CC:-cc})" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "exports: FAIL: $*"; failed=1; }

# SONAME: the ABI generation of include/afs/version.h.
soversion=$(sed -n 's/^#define AFS_SOVERSION[[:space:]]*\([0-9]*\).*/\1/p' "$inc/afs/version.h")
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[[ $soname == "libafs.so.$soversion" ]] || fail "SONAME is '$soname', expected libafs.so.$soversion"

# Dynamic symbols defined by the library, "name@@VERSION" (binutils >= 2.35
# prints the version). The version node itself shows up as an absolute symbol.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sort >"$tmp/dynsyms"
nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }' | sort >"$tmp/nodes"

if ! grep -qx 'AFS_0' "$tmp/nodes"; then
    fail "version node AFS_0 is not defined (lib/libafs.map)"
fi
# 0.x releases may add nodes AFS_0.<minor> that inherit AFS_0; nothing else.
if grep -vxE 'AFS_0(\.[0-9]+)?' "$tmp/nodes" >"$tmp/badnodes"; then
    fail "unexpected version nodes: $(tr '\n' ' ' <"$tmp/badnodes")"
fi
: >"$tmp/exported"
while read -r sym; do
    name=${sym%%@*}
    version=${sym#*@@}
    if [[ $sym != *@@* ]]; then
        fail "$name is exported without a default version"
    elif [[ ! $version =~ ^AFS_0(\.[0-9]+)?$ ]]; then
        fail "$name is in version node '$version', expected AFS_0"
    fi
    if [[ $name == afs__* ]]; then
        fail "$name is semi-private (afs__) but exported"
    elif [[ $name != afs_* ]]; then
        fail "$name is exported but is not an afs_ name"
    fi
    echo "$name" >>"$tmp/exported"
done <"$tmp/dynsyms"
sort -u -o "$tmp/exported" "$tmp/exported"

# Functions declared AFS_EXTERN in the public headers. Comments are removed
# by the compiler's preprocessor in "already preprocessed" mode (macros are
# not expanded), directives are dropped, and each declaration, which may
# span lines, is cut at its ';'.
find "$inc" -name '*.h' | sort >"$tmp/headers"
while read -r h; do
    "${CC:-cc}" -fpreprocessed -dD -E -P -x c "$h" 2>/dev/null | grep -v '^[[:space:]]*#' || true
done <"$tmp/headers" | tr '\n' ' ' | tr ';' '\n' \
    | grep -E '(^|[^A-Za-z0-9_])AFS_EXTERN[[:space:]]' \
    | sed -E 's/.*AFS_EXTERN[[:space:]]//; s/\(.*//; s/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*$/\1/' \
    | sort -u >"$tmp/declared"

if [[ ! -s $tmp/declared ]]; then
    fail "found no AFS_EXTERN declarations under $inc"
fi
comm -13 "$tmp/declared" "$tmp/exported" >"$tmp/extra"
comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
if [[ -s $tmp/extra ]]; then
    fail "exported but not declared AFS_EXTERN in $inc:"
    sed 's/^/    /' "$tmp/extra"
fi
if [[ -s $tmp/missing ]]; then
    fail "declared AFS_EXTERN but not exported (not built, not defined, or hidden):"
    sed 's/^/    /' "$tmp/missing"
fi

echo "exports: $(wc -l <"$tmp/exported") exported, $(wc -l <"$tmp/declared") declared, SONAME $soname"
if (( failed )); then
    exit 1
fi
echo "exports: OK"
