#!/usr/bin/env bash
# test_cli: the afs tool driven the way an administrator drives it. Each
# case runs in a fresh sandbox directory with servers as state directories
# and checks what a user would: files, names, printed results, JSON, exit
# codes (docs/cli.md#exit-codes).
#
#   cli.sh <path-to-afs> [case...]      AFS_TEST_KEEP=1 keeps the sandboxes
set -uo pipefail

AFS=${1:?usage: cli.sh <path-to-afs> [case...]}
shift
base=${AFS_TEST_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$base"
# The tests own the environment: no config, state dir or share from outside.
unset AFS_CONFIG AFS_STATE_DIR AFS_STORAGE_URI AFS_STORAGE_ACCOUNT_KEY AFS_STORAGE_SAS
here=$(cd "$(dirname "$0")" && pwd)

# ---- helpers (each case runs in a subshell; `fail` ends only that case) ----

fail() {
    echo "    FAIL: $*" >&2
    exit 1
}

# run NAME ARGS...: the afs tool as server NAME (its state dir is $T/state-NAME);
# output in $T/out, $T/err; exit code in $rc.
run() {
    local who=$1
    shift
    "$AFS" --state "$T/state-$who" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    { echo "\$ afs --state $who $*  -> $rc"; sed 's/^/  | /' "$T/out" "$T/err"; } >>"$T/log"
    # In the sanitizer build a report is a failure whatever the exit code.
    if grep -q 'Sanitizer' "$T/err"; then fail "sanitizer report: $(cat "$T/err")"; fi
    return 0
}

# expect CODE NAME ARGS...: run and check the exit code.
expect() {
    local want=$1
    shift
    run "$@"
    [[ $rc == "$want" ]] || fail "afs --state $1 ${*:2}: exit $rc, expected $want: $(cat "$T/err")"
}

file_is() { # file_is PATH CONTENT
    [[ -f $1 ]] || fail "$1 is missing"
    [[ $(cat "$1") == "$2" ]] || fail "$1 holds \"$(cat "$1")\", expected \"$2\""
}

# json EXPR: evaluate a Python expression on the JSON document in $T/out (as j).
json() {
    python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$T/out" "$1" || fail "stdout is not the expected JSON: $(cat "$T/out")"
}

# A group "Projects" on $T/share with CentralServer's endpoint on $T/central
# (synced once) and BranchServer's on $T/branch.
two_servers() {
    mkdir -p "$T/share" "$T/central" "$T/branch"
    expect 0 central server register CentralServer
    expect 0 central group create Projects "$T/share"
    expect 0 central endpoint create --group Projects "$T/central"
    expect 0 central sync
    expect 0 branch server register BranchServer
    expect 0 branch group join "$T/share"
    expect 0 branch endpoint create --group Projects "$T/branch"
    expect 0 branch sync
}

# ---- cases ----

test_cli__two_servers_sync_both_ways() {
    mkdir -p "$T/central/projects"
    echo "step one" >"$T/central/projects/plan.txt"
    two_servers
    grep -q "1 file downloaded" "$T/out" || fail "branch sync did not report the download"
    file_is "$T/branch/projects/plan.txt" "step one"
    file_is "$T/share/projects/plan.txt" "step one"

    echo "from the branch" >"$T/branch/branch.txt"
    expect 0 branch sync
    grep -q "1 file uploaded" "$T/out" || fail "upload not reported: $(cat "$T/out")"
    expect 0 central sync
    file_is "$T/central/branch.txt" "from the branch"

    rm "$T/central/projects/plan.txt"
    expect 0 central sync
    expect 0 branch sync
    [[ ! -e $T/branch/projects/plan.txt ]] || fail "the deletion did not reach the branch"

    expect 0 central group show Projects --json
    [[ $(json 'len(j["group"]["server_endpoints"])') == 2 ]] || fail "group show: not 2 endpoints"
    [[ $(json '[e["server_name"] for e in j["group"]["server_endpoints"]]') == \
       "['CentralServer', 'BranchServer']" ]] || fail "group show: endpoints not oldest first"
    expect 0 branch endpoint show --json
    [[ $(json 'j["server_endpoint"]["path"]') == "$T/branch" ]] || fail "endpoint show path"
}

test_cli__conflict_keeps_both_with_azure_file_sync_names() {
    echo "v1" >"$T/seed.docx"
    mkdir -p "$T/central" && cp "$T/seed.docx" "$T/central/CompanyReport.docx"
    two_servers
    echo "central edit, older" >"$T/central/CompanyReport.docx"
    touch -d '2024-03-01 10:00' "$T/central/CompanyReport.docx"
    echo "branch edit, newer" >"$T/branch/CompanyReport.docx"
    touch -d '2024-03-01 11:00' "$T/branch/CompanyReport.docx"
    expect 0 central sync
    expect 0 branch sync --json
    [[ $(json 'j["sessions"][0]["conflicts"]') == 1 ]] || fail "the conflict was not counted"
    expect 0 central sync
    # The newest write keeps the name; the other is <name>-<server>.<ext>.
    for side in central branch share; do
        file_is "$T/$side/CompanyReport.docx" "branch edit, newer"
        file_is "$T/$side/CompanyReport-CentralServer.docx" "central edit, older"
    done
}

test_cli__status_json_shows_counts_and_per_item_errors() {
    mkdir -p "$T/share" "$T/data"
    echo ok >"$T/data/ok.txt"
    echo bad >"$T/data/bad:name.txt"
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create "$T/data"
    expect 4 a sync # partial: one item failed
    grep -q "bad:name.txt" "$T/out" || fail "sync did not list the failing item"
    expect 4 a sync
    expect 0 a status --json
    [[ $(json 'j["server"]["name"]') == ServerA ]] || fail "status: server name"
    [[ $(json 'len(j["endpoints"])') == 1 ]] || fail "status: not one endpoint"
    [[ $(json 'j["endpoints"][0]["item_errors"]') == 1 ]] || fail "status: item_errors"
    [[ $(json 'j["endpoints"][0]["persistent_item_errors"]') == 1 ]] || fail "status: persistent"
    [[ $(json 'j["endpoints"][0]["failed_items"][0]["path"]') == "bad:name.txt" ]] ||
        fail "status: the failing path"
    [[ $(json 'j["endpoints"][0]["failed_items"][0]["name"]') == AFS_EINVALIDNAME ]] ||
        fail "status: the error name"
    [[ $(json 'j["endpoints"][0]["failed_items"][0]["count"]') == 2 ]] ||
        fail "status: the item failed in 2 sessions"
    [[ $(json 'j["endpoints"][0]["last_session"]["item_errors"]') == 1 ]] ||
        fail "status: last session counts"
    expect 0 a status
    grep -q "per-item errors: 1" "$T/out" || fail "status text: $(cat "$T/out")"

    mv "$T/data/bad:name.txt" "$T/data/good-name.txt"
    expect 0 a sync
    expect 0 a status --json
    [[ $(json 'j["endpoints"][0]["item_errors"]') == 0 ]] || fail "the fixed item still fails"
    [[ $(json 'j["endpoints"][0]["last_session"]["files_uploaded"]') == 1 ]] ||
        fail "the renamed file was not uploaded"
}

test_cli__safety_net_exits_3_and_deletes_nothing() {
    mkdir -p "$T/share" "$T/data"
    for i in $(seq 1 30); do echo "$i" >"$T/data/f$i.txt"; done
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create "$T/data"
    expect 0 a sync
    rm "$T"/data/f{1..20}.txt
    expect 3 a sync
    grep -q -- "afs sync --force" "$T/err" || fail "no hint to use --force"
    [[ $(find "$T/share" -name 'f*.txt' | wc -l) == 30 ]] || fail "the safety net deleted files"
    expect 3 a sync --json
    [[ $(json 'j["exit"]') == 3 && $(json 'j["sessions"][0]["result_name"]') == AFS_ESAFETY ]] ||
        fail "sync --json: $(cat "$T/out")"
    expect 0 a sync --force
    [[ $(find "$T/share" -name 'f*.txt' | wc -l) == 10 ]] || fail "--force did not delete"
}

test_cli__bad_flags_are_refused_with_nothing_created() {
    mkdir -p "$T/share" "$T/data"
    # Nothing registered: no state directory may appear.
    expect 2 new server register "bad/name"
    expect 2 new server register ""
    expect 2 new server register A extra
    expect 2 new server register A --bogus
    expect 2 new group create G "ftp://example.invalid/share"
    grep -q "not built into this libafs" "$T/err" || fail "the library's message is missing"
    expect 2 new group create G "$T/no-such-dir"
    expect 2 new sync --interval 5
    expect 2 new endpoint create --safety-percent 150 "$T/data"
    expect 2 new frobnicate
    expect 2 new group
    expect 2 new --config "$T/no-such-config.json" server register A
    [[ ! -e $T/state-new ]] || fail "a refused command created the state directory"

    # Registered: refused commands create no group and no endpoint.
    expect 0 a server register ServerA
    expect 2 a group create "bad/name" "$T/share"
    expect 2 a group create G "gopher://x/y"
    expect 0 a group list --json
    [[ $(json 'len(j["groups"])') == 0 ]] || fail "a refused group create made a group"
    [[ ! -e $T/share/.libafs ]] || fail "a refused group create wrote into the share"
    expect 0 a group create Docs "$T/share"
    for bad in "--safety-percent 0" "--safety-percent 101" "--volume-free-space 20" \
               "--cloud-tiering maybe" "--initial-sync sideways" "--tier-min-file-size 4K" \
               "--change-detection-interval 5x" "--exclude=" "--initial-sync merge \
               --initial-download namespace-only" "--group" "--safety-percent=50 \
               --safety-percent=60"; do
        # shellcheck disable=SC2086 # the flags are meant to split
        expect 2 a endpoint create $bad "$T/data"
    done
    expect 2 a endpoint create "$T/no-such-dir"
    expect 2 a endpoint create "$T/share/../data/../no"
    expect 2 a endpoint create "$T/state-a" # would sync the service's own databases
    expect 2 a endpoint create "$T"         # contains them
    expect 0 a endpoint list --json
    [[ $(json 'len(j["server_endpoints"])') == 0 ]] || fail "a refused endpoint create made one"
    expect 2 a sync --interval 0 --watch
    expect 2 a sync --watch --force
    expect 2 a status --group "a/b"
}

test_cli__not_found_exits_6_with_what_to_do() {
    expect 6 nobody group list
    grep -q "afs server register NAME" "$T/err" || fail "no hint to register: $(cat "$T/err")"
    [[ ! -e $T/state-nobody ]] || fail "group list created a state directory"
    expect 0 a server register ServerA
    expect 6 a group show Nope
    expect 6 a sync
    grep -q "afs endpoint create" "$T/err" || fail "no hint to create an endpoint"
    expect 0 a status # nothing to report is not an error
    grep -q "no server endpoints" "$T/out" || fail "status text: $(cat "$T/out")"
}

# QA: a share that lost its .libafs/ (hidden folders cleaned, a restore
# without them). Before, sync, group delete and group create all failed and
# the hint sent the user to "group join", which fails too: a dead end.
test_cli__share_that_lost_its_group_is_not_a_dead_end() {
    two_servers
    echo "kept" >"$T/central/kept.txt"
    expect 0 central sync
    rm -rf "$T/share/.libafs"
    expect 6 central sync
    grep -q "afs group delete Projects" "$T/err" || fail "no way out named: $(cat "$T/err")"
    expect 0 central group delete Projects
    expect 0 central group create Projects "$T/share"
    expect 0 central endpoint create --group Projects "$T/central"
    expect 0 central sync
    expect 0 branch group delete Projects
    expect 0 branch group join "$T/share"
    expect 0 branch endpoint create --group Projects "$T/branch"
    expect 0 branch sync
    file_is "$T/branch/kept.txt" "kept"
    file_is "$T/share/kept.txt" "kept"
}

# QA: a damaged group definition in the share. Before, the hint sent the
# user to docs/state-store.md, which is about the state directory, not the
# share.
test_cli__damaged_group_definition_says_what_to_do() {
    two_servers
    printf '{"format":1,' >"$T/share/.libafs/group.json"
    expect 1 central sync
    grep -q "group.json is damaged" "$T/err" || fail "hint: $(cat "$T/err")"
    grep -q "state-store" "$T/err" && fail "hint names the state store: $(cat "$T/err")"
    rm "$T/share/.libafs/group.json"
    expect 0 central group delete Projects
    expect 0 branch group delete Projects
}

# QA: a recall refused because the placeholder was written into. Before, the
# hint said the file changed in the cloud, which it had not.
test_cli__recall_of_a_written_placeholder_has_the_right_hint() {
    tier_volume 16m
    tier_server
    mkbin "$T/vol/data/photo.bin" 1
    expect 0 a sync
    expect 0 a tier "$T/vol/data/photo.bin"
    printf 'USER' | dd of="$T/vol/data/photo.bin" conv=notrunc status=none
    touch -d @1000000000 "$T/vol/data/photo.bin"
    expect 1 a recall "$T/vol/data/photo.bin"
    grep -q "writes made without a recall host" "$T/err" || fail "hint: $(cat "$T/err")"
    grep -q "changed in the cloud" "$T/err" && fail "wrong hint: $(cat "$T/err")"
    [[ $(head -c 4 "$T/vol/data/photo.bin") == USER ]] || fail "the write was lost"
}

test_cli__json_on_every_verb() {
    mkdir -p "$T/share" "$T/data"
    echo x >"$T/data/x.txt"
    local cmds=(
        "server register ServerA" "server show" "group create Docs $T/share" "group list"
        "group show Docs" "group join $T/share" "endpoint create $T/data" "endpoint list"
        "endpoint show" "sync" "status" "endpoint delete" "group delete Docs"
    )
    for c in "${cmds[@]}"; do
        # shellcheck disable=SC2086
        expect 0 a $c --json
        [[ $(wc -l <"$T/out") == 1 ]] || fail "afs $c --json: not one line of output"
        json 'type(j).__name__' >/dev/null
    done
    # An error is a JSON document too, with the exit code.
    expect 6 a group show Docs --json
    [[ $(json 'j["error"]["name"]') == AFS_ENOTFOUND && $(json 'j["exit"]') == 6 ]] ||
        fail "error document: $(cat "$T/out")"
    expect 2 a sync --bogus --json
    [[ $(json 'j["error"]["name"]') == usage && $(json 'j["exit"]') == 2 ]] ||
        fail "usage error document: $(cat "$T/out")"
}

test_cli__config_file_and_environment_without_printing_the_key() {
    mkdir -p "$T/share" "$T/data"
    local key="S3cr3t-Acc0unt-K3y"
    printf '{"state_dir": "%s", "storage": {"uri": "%s", "account_key": "%s"}}\n' \
        "$T/fromconfig" "$T/share" "$key" >"$T/afs.json"
    chmod 600 "$T/afs.json"
    "$AFS" --config "$T/afs.json" server register ServerA >"$T/out" 2>"$T/err" || fail "register"
    "$AFS" --config "$T/afs.json" group create Docs >>"$T/out" 2>>"$T/err" || fail "create"
    AFS_CONFIG="$T/afs.json" "$AFS" status --json >>"$T/out" 2>>"$T/err" || fail "status"
    [[ -f $T/fromconfig/service.db ]] || fail "state_dir from the config was not used"
    grep -q "cloud endpoint: $T/share" "$T/out" || fail "storage.uri from the config not used"
    AFS_STATE_DIR="$T/fromenv" "$AFS" --config "$T/afs.json" server register ServerB \
        >>"$T/out" 2>>"$T/err" || fail "register from the environment"
    [[ -f $T/fromenv/service.db ]] || fail "AFS_STATE_DIR does not win over the config"
    chmod 644 "$T/afs.json"
    AFS_STORAGE_ACCOUNT_KEY="$key-env" "$AFS" --config "$T/afs.json" group list \
        >>"$T/out" 2>>"$T/err" || fail "group list"
    grep -q "chmod 600" "$T/err" || fail "no warning about a readable key file"
    if grep -rq "$key" "$T/out" "$T/err"; then fail "the account key was printed"; fi
    echo '{"state_dir": "x", "colour": "blue"}' >"$T/bad.json"
    expect 2 a --config "$T/bad.json" server show
    grep -q 'unknown key "colour"' "$T/err" || fail "unknown config key not named"
    echo '{"state_dir": ' >"$T/bad.json"
    expect 2 a --config "$T/bad.json" server show
}

test_cli__azure_share_with_the_credential_from_config_or_environment() {
    if [[ -z ${AFS_TEST_AZURITE:-} ]]; then
        [[ -z ${AFS_TEST_AZURITE_REQUIRED:-} ]] || fail "AFS_TEST_AZURITE_REQUIRED but no emulator"
        echo "    (skipped: no Azurite; scripts/test.sh starts one)"
        return 0
    fi
    # Azurite's published development key (public, emulator only).
    local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    local container="cli$RANDOM$RANDOM" uri
    python3 "$here/azurite_container.py" "$AFS_TEST_AZURITE" "$container" "$key" >/dev/null ||
        fail "could not create the test container"
    uri="azblob://devstoreaccount1/$container?endpoint=$AFS_TEST_AZURITE"
    mkdir -p "$T/a" "$T/b"
    echo "report, written on A" >"$T/a/report.txt"
    printf '{"storage": {"account_key": "%s"}}\n' "$key" >"$T/afs.json"
    chmod 600 "$T/afs.json"
    unset AFS_AZURE_ACCOUNT_KEY AFS_AZURE_SAS
    # Server A: the key comes from the config file only.
    expect 0 a --config "$T/afs.json" server register ServerA
    expect 0 a --config "$T/afs.json" group create Docs "$uri"
    expect 0 a --config "$T/afs.json" endpoint create --group Docs "$T/a"
    expect 0 a --config "$T/afs.json" sync
    grep -q "1 file uploaded" "$T/out" || fail "A did not upload: $(cat "$T/out")"
    # Server B: a wrong key is refused before anything is created, with what to do.
    expect 0 b server register ServerB
    AFS_STORAGE_ACCOUNT_KEY="${key/Eby8/AAAA}" expect 2 b group join "$uri"
    grep -q "access denied" "$T/err" || fail "wrong key: $(cat "$T/err")"
    grep -q "AFS_STORAGE_ACCOUNT_KEY" "$T/err" || fail "wrong key: no hint: $(cat "$T/err")"
    expect 0 b group list --json
    [[ $(json 'len(j["groups"])') == 0 ]] || fail "a refused join left a group: $(cat "$T/out")"
    # The right key from the environment: B gets A's file.
    AFS_STORAGE_ACCOUNT_KEY="$key" expect 0 b group join "$uri"
    AFS_STORAGE_ACCOUNT_KEY="$key" expect 0 b endpoint create --group Docs "$T/b"
    AFS_STORAGE_ACCOUNT_KEY="$key" expect 0 b sync
    file_is "$T/b/report.txt" "report, written on A"
    if grep -rqF "${key:0:20}" "$T/log" "$T/out" "$T/err" 2>/dev/null; then
        fail "the account key was printed"
    fi
}

test_cli__watch_syncs_changes_and_stops_cleanly_on_sigint() {
    mkdir -p "$T/share" "$T/data"
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create "$T/data"
    "$AFS" --state "$T/state-a" sync --watch --interval 1 >"$T/watch.out" 2>"$T/watch.err" &
    local pid=$! i
    sleep 1
    mkdir -p "$T/data/new/deeper"
    sleep 0.3
    echo "watched" >"$T/data/new/deeper/w.txt"
    for i in $(seq 1 100); do
        [[ -f $T/share/new/deeper/w.txt ]] && break
        sleep 0.2
    done
    kill -INT "$pid"
    wait "$pid"
    local wrc=$?
    cat "$T/watch.out" "$T/watch.err" >>"$T/log"
    file_is "$T/share/new/deeper/w.txt" "watched"
    [[ $wrc == 0 ]] || fail "--watch ended with $wrc after SIGINT, expected 0"
    grep -q "stopped" "$T/watch.err" || fail "--watch did not say it stopped"
}

test_cli__sigint_inside_a_session_keeps_the_work() {
    mkdir -p "$T/share" "$T/data/many"
    for i in $(seq 1 6000); do echo "$i" >"$T/data/many/f$i"; done
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create "$T/data"
    "$AFS" --state "$T/state-a" sync >"$T/out" 2>"$T/err" &
    local pid=$! src tries
    # Interrupt once the session is uploading, not after a fixed time: the
    # engine's speed must not decide what this test checks.
    for ((tries = 0; tries < 3000; tries++)); do
        [[ -n $(find "$T/share/many" -type f -print -quit 2>/dev/null) ]] && break
        sleep 0.005
    done
    kill -INT "$pid"
    wait "$pid"
    src=$?
    cat "$T/out" "$T/err" >>"$T/log"
    [[ $src == 130 ]] || fail "an interrupted sync exited $src, expected 130"
    grep -q "interrupted" "$T/out" || fail "the session was not reported as interrupted"
    expect 0 a sync
    [[ $(find "$T/share/many" -type f | wc -l) == 6000 ]] || fail "the next session did not finish"
}

test_cli__progress_bar_only_on_a_terminal() {
    command -v script >/dev/null || { echo "    (no script(1): skipped)"; return 0; }
    mkdir -p "$T/share" "$T/data"
    for i in $(seq 1 200); do echo "$i" >"$T/data/f$i"; done
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create "$T/data"
    script -qec "'$AFS' --state '$T/state-a' sync" /dev/null >"$T/tty.out" 2>&1 ||
        fail "sync on a terminal failed"
    grep -q "scanning the server endpoint" "$T/tty.out" || fail "no progress on a terminal"
    grep -q "200 files uploaded" "$T/tty.out" || fail "no result on a terminal"
    echo x >"$T/data/one-more"
    expect 0 a sync
    [[ ! -s $T/err ]] || fail "off a terminal, stderr got: $(cat "$T/err")"
    [[ $(wc -l <"$T/out") == 1 ]] || fail "off a terminal, more than the result line"
}

test_cli__help_and_the_verb_table() {
    expect 0 a --help
    for w in "server register" "group create" "endpoint create" "sync" "status" tier recall \
             heat file; do
        grep -q "  $w " "$T/out" || fail "the overview does not list $w"
    done
    expect 0 a endpoint create --help
    grep -q -- "--initial-download" "$T/out" || fail "endpoint create --help lacks its options"
    expect 0 a help sync
    grep -q -- "--watch" "$T/out" || fail "help sync"
    expect 0 a recall --help
    grep -q -- "--retry-delay" "$T/out" || fail "recall --help lacks its options"
    # Refused before the service is even looked for.
    expect 2 a tier
    expect 2 a recall
    expect 2 a file
    expect 2 a recall "$T/no-such-file"
    [[ ! -e $T/state-a ]] || fail "help created a state directory"
}

# ---- cloud tiering: endpoints on a tmpfs of their own (tiering is refused on
# the system volume), mounted at $T/vol for the case and unmounted after it ----

# tier_volume SIZE: mount it, or end the case as skipped where mounting is refused.
tier_volume() {
    mkdir -p "$T/vol"
    if ! mount -t tmpfs -o "size=$1" afs-cli-test "$T/vol" 2>/dev/null; then
        echo "    (cannot mount a tmpfs, needs root: skipped)"
        exit 0
    fi
    trap 'umount "$T/vol" 2>/dev/null' EXIT
    mkdir -p "$T/vol/data" "$T/share"
}

# mkbin FILE MIB: a file of random bytes, with a copy in $T/copies to compare with.
mkbin() {
    mkdir -p "$(dirname "$1")" "$T/copies"
    head -c "$(($2 * 1048576))" /dev/urandom >"$1"
    cp "$1" "$T/copies/$(basename "$1")"
}

# One server with a tiering endpoint on the volume; extra flags for endpoint create.
tier_server() {
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create --cloud-tiering on "$@" "$T/vol/data"
}

test_cli__tier_file_and_recall_give_back_identical_bytes() {
    tier_volume 32m
    tier_server
    mkbin "$T/vol/data/video.bin" 3
    mkbin "$T/vol/data/docs/a.bin" 1
    mkbin "$T/vol/data/docs/b.bin" 1
    echo "small" >"$T/vol/data/small.txt"
    # Not in the cloud yet: refused, with the reason and what to do.
    expect 1 a tier "$T/vol/data/video.bin"
    grep -q "not confirmed in the cloud" "$T/err" || fail "no reason given: $(cat "$T/err")"
    grep -q "afs sync" "$T/err" || fail "no hint to sync first"
    expect 0 a sync
    expect 0 a tier "$T/vol/data/video.bin" --json
    [[ $(json 'j["tiered"][0]["files_tiered"]') == 1 ]] || fail "tier --json: $(cat "$T/out")"
    [[ $(json 'j["tiered"][0]["bytes_freed"]') == 3145728 ]] || fail "tier: bytes freed"
    # The placeholder keeps its logical size and uses no blocks.
    [[ $(stat -c %s "$T/vol/data/video.bin") == 3145728 ]] || fail "the logical size changed"
    [[ $(stat -c %b "$T/vol/data/video.bin") == 0 ]] || fail "the placeholder still has blocks"
    expect 0 a file "$T/vol/data/video.bin"
    grep -q "state: *tiered" "$T/out" || fail "file: $(cat "$T/out")"
    grep -q "size on disk: *0 B" "$T/out" || fail "file: size on disk"
    grep -q "cloud path: *video.bin" "$T/out" || fail "file: the marker's cloud path"
    # No recall host runs here: a placeholder's reads give zeros, and afs file says so.
    [[ $(grep -c "warning: no recall host is active" "$T/err") == 1 ]] ||
        fail "file of a placeholder did not warn once: $(cat "$T/err")"
    expect 0 a file "$T/vol/data/small.txt"
    ! grep -q "recall host" "$T/err" || fail "file of a full file warned: $(cat "$T/err")"
    expect 0 a file --json "$T/vol/data/video.bin" "$T/vol/data/small.txt"
    [[ $(json 'j["files"][0]["state"]') == tiered && $(json 'j["files"][0]["size"]') == 3145728 &&
       $(json 'j["files"][0]["size_on_disk"]') == 0 ]] || fail "file --json: $(cat "$T/out")"
    [[ $(json 'j["files"][0]["marker"]["cloud_path"]') == video.bin ]] || fail "marker path"
    [[ $(json 'j["files"][0]["marker"]["raw_hex"][:8]') == 4146534d ]] || fail "marker bytes"
    [[ $(json 'j["files"][1]["state"]') == full && $(json 'j["files"][1]["marker"]') == None ]] ||
        fail "a full file has no marker"
    # Below the minimum size: refused with the reason.
    expect 1 a tier "$T/vol/data/small.txt"
    grep -q "smaller than the minimum" "$T/err" || fail "no reason for the small file"
    # A folder: its files go, skips are counted.
    expect 0 a tier "$T/vol/data/docs"
    grep -q "2 files tiered, 2.0 MiB freed" "$T/out" || fail "tier folder: $(cat "$T/out")"
    expect 0 a heat --index recall --json
    [[ $(json 'sorted(f["path"] for f in j["volumes"][0]["files"])') == \
       "['$T/vol/data/docs/a.bin', '$T/vol/data/docs/b.bin', '$T/vol/data/video.bin']" ]] ||
        fail "heat --index recall: $(cat "$T/out")"
    expect 0 a status --json
    [[ $(json 'j["endpoints"][0]["tiering"]["tiered_files"]') == 3 ]] || fail "status: tiered"
    [[ $(json 'j["endpoints"][0]["provisioning"]["status"]') == Ready_SyncFunctional ]] ||
        fail "status: provisioning"
    # Recall: the same bytes come back.
    expect 0 a recall --threads 4 --order path "$T/vol/data" --json
    [[ $(json 'j["recalled"][0]["files_recalled"]') == 3 ]] || fail "recall: $(cat "$T/out")"
    [[ $(json 'j["recalled"][0]["bytes_recalled"]') == 5242880 ]] || fail "recall: bytes"
    for f in video.bin docs/a.bin docs/b.bin; do
        cmp -s "$T/vol/data/$f" "$T/copies/$(basename "$f")" || fail "$f came back different"
    done
    expect 0 a file "$T/vol/data/docs/a.bin"
    grep -q "state: *full" "$T/out" || fail "a recalled file is not full"
    expect 0 a status
    grep -q "recalls: *3 (5.0 MiB" "$T/out" || fail "status recalls: $(cat "$T/out")"
    # Nothing to upload after tiering and recall.
    expect 0 a sync
    grep -q "nothing to do" "$T/out" || fail "sync after recall moved something: $(cat "$T/out")"
}

test_cli__tiering_pass_frees_space_down_to_the_policy() {
    tier_volume 16m
    tier_server --volume-free-space 60
    for i in 1 2 3 4 5 6 7 8; do mkbin "$T/vol/data/f$i.bin" 1; done
    expect 0 a sync
    local before
    before=$(df -B1 --output=avail "$T/vol" | tail -1)
    expect 0 a tier --pass --dry-run --json
    [[ $(json 'j["passes"][0]["tiering_pass"]["files_tiered"] > 0') == True ]] ||
        fail "dry run chose nothing: $(cat "$T/out")"
    [[ $(df -B1 --output=avail "$T/vol" | tail -1) == "$before" ]] || fail "the dry run freed space"
    expect 0 a tier --pass --json
    local p='j["passes"][0]["tiering_pass"]'
    [[ $(json "$p[\"files_tiered\"] == $p[\"files_tiered_space\"] > 0") == True ]] ||
        fail "the free space policy tiered nothing: $(cat "$T/out")"
    [[ $(json "$p[\"free_bytes_after\"] >= $p[\"target_free_bytes\"]") == True ]] ||
        fail "the pass stopped short of the target: $(cat "$T/out")"
    [[ $(json "$p[\"free_space_percent\"]") == 60 ]] || fail "the pass's target"
    [[ $(df -B1 --output=avail "$T/vol" | tail -1) -gt $before ]] || fail "no space freed"
    local n
    n=$(json "$p[\"files_tiered\"]")
    expect 0 a tier --pass
    grep -q "tiering pass: 0 files tiered" "$T/out" || fail "a second pass tiered more"
    grep -q "the policy keeps 60% free" "$T/out" || fail "pass text: $(cat "$T/out")"
    expect 0 a status --json
    [[ $(json 'j["endpoints"][0]["tiering"]["tiered_files"]') == "$n" ]] || fail "status count"
    # Every file still reads back whole once recalled.
    expect 0 a recall "$T/vol/data"
    for i in 1 2 3 4 5 6 7 8; do
        cmp -s "$T/vol/data/f$i.bin" "$T/copies/f$i.bin" || fail "f$i.bin came back different"
    done
}

test_cli__watch_runs_the_tiering_pass() {
    tier_volume 16m
    tier_server --volume-free-space 60
    for i in 1 2 3 4 5 6 7 8; do mkbin "$T/vol/data/f$i.bin" 1; done
    "$AFS" --state "$T/state-a" sync --watch --json >"$T/watch.out" 2>"$T/watch.err" &
    local pid=$! i
    for i in $(seq 1 100); do
        grep -q '"tiering_pass"' "$T/watch.out" && break
        sleep 0.1
    done
    kill -INT "$pid"
    wait "$pid"
    cat "$T/watch.out" "$T/watch.err" >>"$T/log"
    python3 - "$T/watch.out" <<'PY' || fail "--watch: no tiering pass after the first session"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = ["tiering_pass" if "tiering_pass" in l else "sync" for l in lines]
assert kinds[0] == "sync" and "tiering_pass" in kinds, kinds
p = next(l["tiering_pass"] for l in lines if "tiering_pass" in l)
assert p["files_tiered"] > 0 and p["next_interval_s"] in (60, 3600), p
PY
}

test_cli__tiering_bad_values_are_refused_and_nothing_changes() {
    tier_volume 32m
    tier_server
    mkbin "$T/vol/data/video.bin" 2
    expect 0 a sync
    expect 0 a tier "$T/vol/data/video.bin"
    for bad in "--threads 0" "--threads 33" "--order sideways" "--retries 101" \
               "--retries -1" "--retry-delay 5x" "--retry-delay 2h" "--bogus"; do
        # shellcheck disable=SC2086
        expect 2 a recall $bad "$T/vol/data/video.bin"
    done
    expect 2 a recall "$T/vol/data/video.bin" "$T/elsewhere"
    expect 2 a recall "$T/vol/data/video.bin" "$T" # exists, outside every endpoint
    grep -q "not inside a server endpoint" "$T/err" || fail "no reason: $(cat "$T/err")"
    expect 2 a tier --pass "$T/vol/data/video.bin"
    expect 2 a tier --dry-run "$T/vol/data/video.bin"
    expect 2 a tier --group Docs "$T/vol/data/video.bin"
    expect 2 a heat --index hottest
    expect 2 a heat --limit many
    expect 2 a file "$T/vol/data/nope"
    expect 2 a file --json "$T/vol/data/nope"
    [[ $(json 'j["error"]["name"]') == usage ]] || fail "usage error document"
    # None of it recalled the placeholder.
    expect 0 a file --json "$T/vol/data/video.bin"
    [[ $(json 'j["files"][0]["state"]') == tiered ]] || fail "a refused command recalled the file"
    # Tiering cannot be turned on on the system volume, with the library's reason.
    mkdir -p "$T/sysdata"
    expect 0 b server register ServerB
    expect 0 b group join "$T/share"
    expect 1 b endpoint create --cloud-tiering on "$T/sysdata"
    grep -q "system volume" "$T/err" || fail "no system volume message: $(cat "$T/err")"
    grep -q "what to do" "$T/err" || fail "no hint"
    expect 6 b heat # its endpoint was refused: nothing to report
    grep -q "afs endpoint create" "$T/err" || fail "heat: no hint"
}

test_cli__recall_progress_bar_only_on_a_terminal() {
    command -v script >/dev/null || { echo "    (no script(1): skipped)"; return 0; }
    tier_volume 32m
    tier_server
    for i in 1 2 3 4 5 6; do mkbin "$T/vol/data/d/f$i.bin" 1; done
    expect 0 a sync
    expect 0 a tier "$T/vol/data/d"
    script -qec "'$AFS' --state '$T/state-a' recall '$T/vol/data/d'" /dev/null >"$T/tty.out" 2>&1 ||
        fail "recall on a terminal failed"
    grep -q "6/6 items" "$T/tty.out" || fail "no progress bar on a terminal: $(cat -A "$T/tty.out")"
    grep -q "6 files recalled (6.0 MiB)" "$T/tty.out" || fail "no result on a terminal"
    expect 0 a tier "$T/vol/data/d"
    expect 0 a recall "$T/vol/data/d"
    [[ ! -s $T/err ]] || fail "off a terminal, stderr got: $(cat "$T/err")"
    [[ $(wc -l <"$T/out") == 1 ]] || fail "off a terminal, more than the result line"
}

test_cli__status_warns_when_no_recall_host_is_active() {
    # Tiering is refused on the system volume: the endpoint goes on tmpfs.
    [[ -d /dev/shm && -w /dev/shm ]] || { echo "    (skipped: no /dev/shm)"; return 0; }
    shm_data=$(mktemp -d /dev/shm/afs-cli.XXXXXX)
    trap 'rm -rf "$shm_data"' EXIT
    local data=$shm_data
    mkdir -p "$T/share"
    expect 0 a server register ServerA
    expect 0 a group create Docs "$T/share"
    expect 0 a endpoint create --cloud-tiering on "$data"
    expect 0 a status
    grep -q "warning: no recall host is active" "$T/err" ||
        fail "status did not warn: $(cat "$T/err")"
    [[ $(grep -c "recall host" "$T/err") == 1 ]] || fail "warned more than once"
    # A recall host holds an OFD lock on recall-host.lock (docs/recall-daemon.md).
    python3 -c 'import fcntl,os,struct,sys,time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
os.write(fd, b"%d 1\n" % os.getpid())
print("locked", flush=True)
time.sleep(30)' "$T/state-a/recall-host.lock" >"$T/lock.out" &
    local holder=$!
    for _ in $(seq 50); do grep -q locked "$T/lock.out" 2>/dev/null && break; sleep 0.1; done
    expect 0 a status
    kill "$holder"
    wait "$holder" 2>/dev/null
    ! grep -q "recall host" "$T/err" || fail "warned with a recall host active: $(cat "$T/err")"
    expect 0 a status
    grep -q "warning: no recall host is active" "$T/err" || fail "no warning once the host died"
}

# A server whose state directory is lost leaves its endpoint in the group,
# and "group delete" refused for good. Now another server removes it by id
# (--force), no file is deleted, and the group can be deleted; if the
# server was alive after all, its sync stops with a way back.
test_cli__endpoint_of_a_gone_server_is_removed() {
    mkdir -p "$T/central"
    echo "kept" >"$T/central/kept.txt"
    two_servers
    expect 0 central --json endpoint list --group Projects
    bid=$(json '[e["id"] for e in j["server_endpoints"] if e["server_name"] == "BranchServer"][0]')
    expect 0 central endpoint list --group Projects
    grep -q "id $bid" "$T/out" || fail "endpoint ids not listed: $(cat "$T/out")"
    expect 2 central endpoint remove --group Projects "$bid"
    grep -q -- "--force" "$T/err" || fail "no --force asked for: $(cat "$T/err")"
    expect 0 central endpoint remove --group Projects --force "$bid"
    grep -q "BranchServer" "$T/out" || fail "report: $(cat "$T/out")"
    expect 6 central endpoint remove --group Projects --force "$bid"
    file_is "$T/share/kept.txt" "kept"
    file_is "$T/branch/kept.txt" "kept"
    # The branch was not gone after all: it stops, changes nothing, says how back.
    echo "new" >"$T/branch/new.txt"
    expect 6 branch sync
    grep -q "afs endpoint delete" "$T/err" || fail "no way back named: $(cat "$T/err")"
    [[ -e $T/share/new.txt ]] && fail "a removed endpoint uploaded"
    expect 0 branch endpoint delete --group Projects
    expect 0 branch endpoint create --group Projects "$T/branch"
    expect 0 branch sync
    file_is "$T/share/new.txt" "new"
    expect 0 branch endpoint delete --group Projects
    expect 0 central endpoint delete --group Projects
    expect 0 central group delete Projects
}

# Two servers of one name in a group made conflict copies nobody could tell
# apart; the second is now refused, with what to do.
test_cli__second_server_of_the_same_name_is_refused() {
    two_servers
    mkdir -p "$T/twin"
    expect 0 twin server register BranchServer
    expect 0 twin group join "$T/share"
    expect 1 twin endpoint create --group Projects "$T/twin"
    grep -q "register this server under" "$T/err" || fail "hint: $(cat "$T/err")"
}

# ---- driver ----

cases=("$@")
if (( ${#cases[@]} == 0 )); then
    mapfile -t cases < <(declare -F | awk '{print $3}' | grep '^test_cli__')
fi
passed=0
failed=0
for c in "${cases[@]}"; do
    T=$(mktemp -d "$base/cli.XXXXXX")
    export T
    started=$(date +%s%N)
    (set -u; "$c")
    status=$?
    ms=$(( ($(date +%s%N) - started) / 1000000 ))
    if (( status == 0 )); then
        echo "ok   $c ($((ms / 1000)).$((ms % 1000 / 100)) s)"
        passed=$((passed + 1))
    else
        echo "FAIL $c; what it ran:"
        sed 's/^/    /' "$T/log" 2>/dev/null | tail -n 40
        failed=$((failed + 1))
    fi
    [[ -n ${AFS_TEST_KEEP:-} ]] || rm -rf "$T"
done
echo "test_cli: $passed passed, $failed failed"
(( failed == 0 ))
