#!/usr/bin/env bash
# README command 1: build libafs and take a tour of Azure File Sync-style
# sync with the afs tool, on the default local-directory backend: nothing to
# configure, no cloud account.
#
# Installs what is missing (Debian 12, as root), builds build-demo/ and works
# in .afs-demo/ (recreated each run):
#   share/                 the cloud endpoint (an Azure file share later)
#   central-files/         CentralServer's server endpoint, with existing data
#   branch-files/          BranchServer's server endpoint, joining later with cloud
#                          tiering on: a 16 MiB tmpfs of its own (tiering is refused
#                          on the system volume), left mounted for a look afterwards
#   central-state/, branch-state/   each server's service (its state directory)
# Two servers join one sync group, edit the same file, and the conflict is
# resolved the way Azure File Sync resolves it; a tiering pass frees space on
# the branch, and a tiered file is shown and recalled.
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
cmake --build "$src/build-demo" --target afs_cli minimal layers_demo -j"$(nproc)" >/dev/null
bin="$src/build-demo/examples/afs"

work="$src/.afs-demo"
# The branch's volume from an earlier run.
if mountpoint -q "$work/branch-files" 2>/dev/null; then umount "$work/branch-files"; fi
rm -rf "$work"
mkdir -p "$work"
cd "$work"
echo "== demo: in $work"

# ---- presentation ----
step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$@"; }
# Show the command as typed (the tool is build-demo/examples/afs), then its output.
afs() {
    printf '\n$ afs %s\n' "$*"
    "$bin" "$@" 2>&1 | sed 's/^./    &/'
}
# The files under a directory with the start of their content (the share's
# reserved .libafs/ is libafs's own and never synced).
files() {
    local dir=$1 f
    printf '\n  %s/\n' "$dir"
    while IFS= read -r f; do
        if [[ -s $f && $(stat -c %b "$f") == 0 ]]; then # never read a placeholder's holes
            printf '    %-36s (a placeholder of %s bytes)\n' "${f#"$dir"/}" "$(stat -c %s "$f")"
        elif ! grep -Iq . "$f"; then
            printf '    %-36s (%s bytes of binary data)\n' "${f#"$dir"/}" "$(stat -c %s "$f")"
        else
            printf '    %-36s "%s"\n' "${f#"$dir"/}" "$(head -c 40 "$f" | tr '\n' ' ' | sed 's/ $//')"
        fi
    done < <(find "$dir" -path "$dir/.libafs" -prune -o -type f -print | sort)
}
write() { # write FILE CONTENT [TIME]
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$2" >"$1"
    [[ -z ${3:-} ]] || touch -d "$3" "$1"
}

# ---- 1. the starting point ----
step "1. A file share and a server that already has data"
mkdir -p share central-files branch-files
write central-files/CompanyReport.docx "Q3 report, draft 1" "2024-03-01 09:00"
write central-files/projects/alpha/plan.txt "alpha: step one"
write central-files/projects/beta/notes.txt "beta kickoff notes"
write central-files/~\$CompanyReport.docx "Office owner file: never synced"
write share/archive/2023-summary.txt "put into the share by someone else"
mkdir -p central-files/media
head -c 4M /dev/urandom >central-files/media/training-video.mp4
head -c 3M /dev/urandom >central-files/media/site-photos.zip
touch -d "2024-02-01 08:00" central-files/media/training-video.mp4
touch -d "2024-02-20 08:00" central-files/media/site-photos.zip
say "CentralServer's folder holds files (and an Office owner file, which never syncs);" \
    "the share already holds an archive. CentralServer brings its existing data: initial" \
    "sync merge."
files central-files
files share

# ---- 2. CentralServer: register, create the sync group, add its endpoint, sync ----
step "2. CentralServer registers, creates sync group \"Projects\" on the share, and syncs"
afs --state central-state server register CentralServer
afs --state central-state group create Projects share
afs --state central-state endpoint create --group Projects --initial-sync merge central-files
afs --state central-state sync
say "Merge: the server's files went up, the share's archive came down."
files share
files central-files

# ---- 3. BranchServer joins ----
step "3. BranchServer joins the group with a later server endpoint"
afs --state branch-state server register BranchServer
afs --state branch-state group join share
# Cloud tiering is refused on the system volume: the branch's files get a
# volume of their own, a 16 MiB tmpfs.
tiering=yes
if ! mount -t tmpfs -o size=16m afs-demo-branch branch-files 2>/dev/null; then
    tiering=no
    say "(cannot mount a tmpfs here, which needs root: the branch joins without tiering)"
fi
if [[ $tiering == yes ]]; then
    afs --state branch-state endpoint create --group Projects --cloud-tiering on \
        --volume-free-space 50 --initial-download namespace-then-content branch-files
else
    afs --state branch-state endpoint create --group Projects branch-files
fi
afs --state branch-state sync
say "Namespace then content: every file appeared at once as a placeholder, then the" \
    "content came down, newest first, as long as the volume kept its free space policy" \
    "(here all of it fit)."
files branch-files

# ---- 4. edits on both sides: a conflict ----
step "4. Both servers edit CompanyReport.docx before syncing; the branch adds minutes"
write central-files/CompanyReport.docx "Q3 report, central's edit" "2024-03-04 10:00"
write branch-files/CompanyReport.docx "Q3 report, branch's edit" "2024-03-04 11:00"
write branch-files/projects/alpha/minutes.txt "alpha: minutes of Monday"
afs --state central-state sync
afs --state branch-state sync
afs --state central-state sync
say "Both versions are kept. The newest write (the branch's, 11:00) keeps the name;" \
    "the other is renamed <name>-<server>.<ext>, as Azure File Sync names it."
files central-files
files branch-files
# The tour below says what happened; make sure it did.
for side in central-files branch-files share; do
    if ! grep -qx "Q3 report, branch's edit" "$side/CompanyReport.docx" ||
       ! grep -qx "Q3 report, central's edit" "$side/CompanyReport-CentralServer.docx"; then
        echo "demo: the conflict did not resolve as expected in $side" >&2
        exit 1
    fi
done
[[ ! -e share/~\$CompanyReport.docx && -f branch-files/projects/alpha/minutes.txt ]] ||
    { echo "demo: the files did not sync as expected" >&2; exit 1; }

# ---- 5. cloud tiering on the branch ----
if [[ $tiering == yes ]]; then
    step "5. The branch's volume fills up; a tiering pass frees space"
    head -c 5M /dev/urandom >branch-files/media/site-survey.raw
    afs --state branch-state sync
    say "A 5 MiB survey was added and uploaded. The volume now has less free space than the" \
        "endpoint's policy (50%); the tiering pass, which sync --watch runs hourly, tiers" \
        "the coolest files whose content is safe in the cloud:"
    afs --state branch-state tier --pass
    placeholder=$("$bin" --state branch-state heat --index recall | awk 'NR == 3 { print $NF }')
    [[ -n $placeholder ]] || { echo "demo: the tiering pass tiered nothing" >&2; exit 1; }
    placeholder=${placeholder#"$work"/}
    afs --state branch-state file "$placeholder"
    say "A placeholder: the logical size is kept, nothing is on disk, the tier marker names" \
        "the cloud version. ls -ls shows the same (blocks first):"
    printf '\n$ ls -ls %s\n' "$placeholder"
    ls -ls "$placeholder" | sed 's/^/    /'
    afs --state branch-state recall "$placeholder"
    cmp -s "$placeholder" "share/${placeholder#branch-files/}" ||
        { echo "demo: the recalled file differs from the share's" >&2; exit 1; }
    say "Recalled: the same bytes as in the share, a full file again."
    afs --state branch-state file "$placeholder"
fi

# ---- 6. status ----
step "6. Where each server stands"
afs --state central-state status
afs --state branch-state status

# ---- the tour ----
step "What happened, and where to look"
cat <<EOF
   - Two servers, each with its own state directory (central-state/, branch-state/:
     service.db and one database per endpoint), joined sync group "Projects", whose
     cloud endpoint is share/. The group's definition, its endpoints and the change
     journal live in share/.libafs/, so every server that reaches the share sees them.
   - CentralServer brought existing data (merge); BranchServer joined later with
     cloud tiering on and namespace then content: the namespace first, then the
     content while its volume had room. Changes travel through the share, hub and spoke.
   - The conflicting edit left CompanyReport.docx (newest) and
     CompanyReport-CentralServer.docx on both servers and in the share.
   - The Office owner file ~\$CompanyReport.docx stayed on CentralServer only.
   - On the branch, a tiering pass turned the coolest files into placeholders (full
     size, no blocks) until half its volume was free; "afs file" showed one, "afs
     recall" brought it back. "afs heat" lists the files in tiering order.

   All of it is in $work. Try, from $src:
     build-demo/examples/afs --state .afs-demo/branch-state status --json
     build-demo/examples/afs --state .afs-demo/central-state sync --watch   (Ctrl-C stops)
     build-demo/examples/afs --state .afs-demo/branch-state heat
     build-demo/examples/afs --state .afs-demo/branch-state recall .afs-demo/branch-files
     build-demo/examples/minimal STATE_DIR SHARE_DIR DATA_DIR   (the C embedding, README.md)
     build-demo/examples/layers_demo                            (the layers underneath)
   The tool's reference: docs/cli.md. The branch's volume stays mounted for a look;
   "umount .afs-demo/branch-files" removes it (the next demo run does too).
EOF
