#!/usr/bin/env bash
# Install the build into a temporary prefix and build tests/consumer/consumer.c
# against it the ways a user would:
#   1. pkg-config --cflags --libs libafs           (shared, LD_LIBRARY_PATH)
#   2. pkg-config --static, libafs.a linked in     (no libafs.so.0 needed)
#   3. find_package(afs CONFIG) + afs::afs and afs::afs_static
#   4. the prefix moved elsewhere: pkg-config and find_package again
#
#   consumer.sh <build-dir> <source-dir> <version>   (ctest test_consumer)
#
# Catches: a header or library missing from the install, a wrong pc file
# (paths, private dependencies), a non-relocatable prefix, a broken CMake
# package (targets, find_dependency of the static target's dependencies).
set -euo pipefail

build=${1:-}
src=${2:-}
version=${3:-}
if [[ -z $build || -z $src || -z $version ]]; then
    echo "usage: $0 <build-dir> <source-dir> <version>" >&2
    exit 2
fi
cc=${CC:-cc}
for tool in cmake pkg-config readelf "$cc"; do
    command -v "$tool" >/dev/null || { echo "consumer: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { echo; echo "== consumer: $*"; }
die() { echo "consumer: FAIL: $*" >&2; exit 1; }

# Run a built consumer and check what it printed.
check_run() {
    local exe=$1 out
    shift
    out=$(env "$@" "$exe" 2>&1) || { echo "$out"; die "$exe exited non-zero"; }
    echo "$out"
    grep -qx "libafs $version" <<<"$out" || die "$exe did not report libafs $version"
    grep -qx 'consumer: ok' <<<"$out" || die "$exe did not finish"
}
needs_libafs_so() { readelf -d "$1" | grep -q 'NEEDED.*\[libafs\.so\.0\]'; }

step "install into a temporary prefix"
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
    cat "$tmp/install.log"; die "cmake --install failed"; }
pcfile=$(find "$prefix" -name libafs.pc -path '*/pkgconfig/*' | head -n1)
[[ -n $pcfile ]] || die "libafs.pc was not installed"
libdir=$(dirname "$(dirname "$pcfile")")
for f in include/afs.h include/afs/common.h include/afs/errors.h include/afs/version.h \
         include/afs/sys/fs.h include/afs/sys/storage.h; do
    [[ -f $prefix/$f ]] || die "$f was not installed"
done
for h in "$src"/include/afs/*.h "$src"/include/afs/sys/*.h; do
    rel=${h#"$src/"}
    [[ -f $prefix/$rel ]] || die "$rel was not installed"
done
[[ -f $libdir/libafs.a ]] || die "libafs.a was not installed"
[[ -L $libdir/libafs.so && -L $libdir/libafs.so.0 ]] || die "libafs.so symlinks missing"
[[ $(readlink "$libdir/libafs.so") == libafs.so.0 ]] || die "libafs.so does not point to libafs.so.0"
[[ -f $libdir/libafs.so.$version ]] || die "libafs.so.$version was not installed"
[[ -f $libdir/cmake/afs/afsConfig.cmake && -f $libdir/cmake/afs/afsConfigVersion.cmake ]] ||
    die "the CMake package was not installed"
if grep -rq -- "$build" "$pcfile" "$libdir/cmake/afs"; then
    die "installed package files mention the build directory $build"
fi
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

# Build with pkg-config against the prefix that holds $1/.../pkgconfig.
build_pkgconfig() {
    local pcdir=$1 out=$2 libpath=$3
    local cflags libs
    cflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags libafs)
    libs=$(PKG_CONFIG_PATH=$pcdir pkg-config --libs libafs)
    echo "cflags: $cflags"
    echo "libs:   $libs"
    # shellcheck disable=SC2086 # word splitting of pkg-config output is intended
    "$cc" -std=c99 -Wall -Wextra -Werror -o "$out" "$src/tests/consumer/consumer.c" $cflags $libs
    needs_libafs_so "$out" || die "$out does not need libafs.so.0"
    check_run "$out" LD_LIBRARY_PATH="$libpath"
}

step "pkg-config --cflags --libs libafs (shared)"
PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists --print-errors libafs ||
    die "pkg-config cannot read libafs.pc (are sqlite3, yajl, expat .pc files installed?)"
[[ $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --modversion libafs) == "$version" ]] ||
    die "libafs.pc has the wrong version"
build_pkgconfig "$libdir/pkgconfig" "$tmp/consumer_pc" "$libdir"

step "pkg-config --static (libafs.a linked in)"
static_libs=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --static --libs libafs)
echo "pkg-config --static --libs: $static_libs"
for want in -lafs -lmbedtls -lmbedx509 -lmbedcrypto -lpthread -lsqlite3 -lyajl -lexpat; do
    grep -qw -- "$want" <<<"$static_libs" || die "pkg-config --static lacks $want"
done
# libcurl is loaded at run time by the Azure backends (docs/azure.md): a
# static link must not need it.
if grep -qw -- -lcurl <<<"$static_libs"; then
    die "pkg-config --static asks for -lcurl; libcurl is loaded with dlopen"
fi
# Link libafs itself statically (-l:libafs.a) and its dependencies as shared
# libraries. A library listed by a dependency's own Libs.private that has no
# development files installed is left out (the shared dependency has it).
link=()
for flag in $static_libs; do
    case $flag in
        -lafs) link+=("-l:libafs.a") ;;
        -l*)
            name=${flag#-l}
            if [[ $("$cc" -print-file-name="lib$name.so") == /* ||
                  $("$cc" -print-file-name="lib$name.a") == /* ]]; then
                link+=("$flag")
            else
                echo "(not installed, only needed by a static dependency: $flag)"
            fi ;;
        *) link+=("$flag") ;;
    esac
done
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror -o "$tmp/consumer_static" "$src/tests/consumer/consumer.c" \
    $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags libafs) "${link[@]}"
needs_libafs_so "$tmp/consumer_static" && die "the static consumer still needs libafs.so.0"
readelf -d "$tmp/consumer_static" | grep -q 'NEEDED.*libcurl' &&
    die "the static consumer needs libcurl"
check_run "$tmp/consumer_static" LD_LIBRARY_PATH=

# Configure and build tests/consumer with find_package(afs) from $1.
build_cmake() {
    local pfx=$1 bdir=$2 lpath=$3
    cmake -S "$src/tests/consumer" -B "$bdir" -DCMAKE_PREFIX_PATH="$pfx" \
          -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug >"$tmp/cmake.log" 2>&1 || {
        cat "$tmp/cmake.log"; die "find_package(afs) failed"; }
    cmake --build "$bdir" >"$tmp/cmake-build.log" 2>&1 || {
        cat "$tmp/cmake-build.log"; die "building the CMake consumer failed"; }
    needs_libafs_so "$bdir/consumer_shared" || die "consumer_shared does not need libafs.so.0"
    needs_libafs_so "$bdir/consumer_static" && die "consumer_static needs libafs.so.0"
    # The installed targets carry no RPATH: LD_LIBRARY_PATH is what finds the library.
    check_run "$bdir/consumer_shared" LD_LIBRARY_PATH="$lpath"
    check_run "$bdir/consumer_static" LD_LIBRARY_PATH=
}

step "find_package(afs CONFIG REQUIRED): afs::afs and afs::afs_static"
build_cmake "$prefix" "$tmp/cmake-consumer" "$libdir"

step "relocation: the prefix moved to another directory"
moved="$tmp/elsewhere/deeper/prefix"
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
mlibdir=${libdir/#"$prefix"/"$moved"}
cflags=$(PKG_CONFIG_PATH="$mlibdir/pkgconfig" pkg-config --cflags libafs)
grep -q -- "$moved" <<<"$cflags" || die "pkg-config --cflags does not follow the moved prefix: $cflags"
build_pkgconfig "$mlibdir/pkgconfig" "$tmp/consumer_moved" "$mlibdir"
build_cmake "$moved" "$tmp/cmake-consumer-moved" "$mlibdir"

echo
echo "consumer: OK"
