# Sourced by scripts/test.sh and scripts/demo.sh: install the Debian 12
# packages libafs needs, only when some are missing.
#
#   afs_ensure_packages pkg...

afs_ensure_packages() {
    local missing=() pkg status
    if ! command -v dpkg-query >/dev/null; then
        echo "deps: dpkg-query not found; this script expects Debian 12." >&2
        echo "deps: install by hand: $*" >&2
        return 1
    fi
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [[ $status == installed ]] || missing+=("$pkg")
    done
    if (( ${#missing[@]} == 0 )); then
        echo "deps: all ${#} packages are installed"
        return 0
    fi
    echo "deps: missing: ${missing[*]}"
    if (( EUID != 0 )); then
        echo "deps: not root, so they cannot be installed here. As root run:" >&2
        echo "deps:   apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# The packages: toolchain, the library's dependencies, the test tools.
AFS_BUILD_PACKAGES=(build-essential cmake pkg-config libsqlite3-dev sqlite3 libmbedtls-dev
                    libcurl4-openssl-dev libyajl-dev libexpat1-dev attr)
AFS_TEST_PACKAGES=(libcmocka-dev abigail-tools rsync rclone python3 python3-pytest)
# The Azurite emulator's runtime (scripts/lib/azurite.sh), installed only
# when node or npm is missing.
AFS_AZURITE_PACKAGES=(nodejs npm)
