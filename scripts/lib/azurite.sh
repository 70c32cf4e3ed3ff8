# Sourced by scripts/test.sh and tests/bench/azure/run.sh: the Azurite blob
# emulator for the Azure tests, pinned to the last release that runs on
# Node 20, installed with npm into a local folder, on a free loopback port,
# in memory, telemetry off.
#
#   afs_azurite_install <dir>     npm install azurite@AFS_AZURITE_VERSION into <dir> if missing
#   afs_azurite_start <dir>       start it; exports AFS_TEST_AZURITE (the endpoint) and
#                                 AFS_TEST_AZURITE_BIN; sets afs_azurite_pid
#   afs_azurite_stop              stop it (safe to call twice, or when it never started)

AFS_AZURITE_VERSION=3.35.0
afs_azurite_pid=

afs_azurite_install() {
    local dir=$1
    local bin="$dir/node_modules/.bin/azurite-blob"
    if [[ -x $bin ]] && grep -q "\"version\": \"$AFS_AZURITE_VERSION\"" \
           "$dir/node_modules/azurite/package.json" 2>/dev/null; then
        return 0
    fi
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        # Debian's nodejs and npm; a machine with another Node 20 build keeps its own.
        afs_ensure_packages "${AFS_AZURITE_PACKAGES[@]}" || return 1
    fi
    echo "azurite: installing azurite@$AFS_AZURITE_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "azurite@$AFS_AZURITE_VERSION" || return 1
    [[ -x $bin ]]
}

afs_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

afs_azurite_start() {
    local dir=$1 port tries
    local bin="$dir/node_modules/.bin/azurite-blob"
    port=$(afs_free_port) || return 1
    # In memory: no --location (Azurite refuses both); run from $dir so
    # nothing it writes lands in the caller's directory.
    (cd "$dir" && exec "$bin" --blobHost 127.0.0.1 --blobPort "$port" --inMemoryPersistence \
        --disableTelemetry --silent) >"$dir/azurite.log" 2>&1 &
    afs_azurite_pid=$!
    for ((tries = 0; tries < 150; tries++)); do
        if ! kill -0 "$afs_azurite_pid" 2>/dev/null; then
            echo "azurite: exited at start; its log:" >&2
            cat "$dir/azurite.log" >&2
            afs_azurite_pid=
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            export AFS_TEST_AZURITE="http://127.0.0.1:$port/devstoreaccount1"
            export AFS_TEST_AZURITE_BIN="$bin"
            echo "azurite: $AFS_AZURITE_VERSION listening on 127.0.0.1:$port (pid $afs_azurite_pid)"
            return 0
        fi
        sleep 0.2
    done
    echo "azurite: not listening after 30 s" >&2
    afs_azurite_stop
    return 1
}

afs_azurite_stop() {
    if [[ -n $afs_azurite_pid ]]; then
        kill "$afs_azurite_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$afs_azurite_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$afs_azurite_pid" 2>/dev/null || true
        wait "$afs_azurite_pid" 2>/dev/null || true
        echo "azurite: stopped (pid $afs_azurite_pid)"
        afs_azurite_pid=
    fi
}
