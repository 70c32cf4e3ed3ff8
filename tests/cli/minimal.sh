#!/usr/bin/env bash
# test_minimal: run examples/minimal in a fresh sandbox, as the README shows
# it, and check what a user would: its output, the file in the share, and
# that a second run opens what the first created and syncs a new file; and
# that README.md shows the program as it is.
#
#   minimal.sh <path-to-minimal> [source-dir]
set -euo pipefail

minimal=${1:?usage: minimal.sh <path-to-minimal> [source-dir]}
src=${2:-}
base=${AFS_TEST_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$base"
root=$(mktemp -d "$base/minimal.XXXXXX")
[[ -n ${AFS_TEST_KEEP:-} ]] || trap 'rm -rf "$root"' EXIT
fail() { echo "test_minimal: FAIL: $*" >&2; exit 1; }

mkdir -p "$root/share" "$root/data/reports"
echo "quarterly numbers" >"$root/data/reports/q3.txt"

out=$("$minimal" "$root/state" "$root/share" "$root/data" 2>&1) || { echo "$out"; fail "the first run failed"; }
echo "$out"
grep -qx "synced $root/data with $root/share: 1 uploaded, 0 downloaded, 0 conflicts, 0 item errors" \
    <<<"$out" || fail "unexpected output of the first run"
[[ $(cat "$root/share/reports/q3.txt") == "quarterly numbers" ]] || fail "the file did not arrive in the share"

# A second run opens what the first created; a new local file goes up.
echo "meeting notes" >"$root/data/notes.txt"
out=$("$minimal" "$root/state" "$root/share" "$root/data" 2>&1) || { echo "$out"; fail "the second run failed"; }
echo "$out"
grep -q ": 1 uploaded, 0 downloaded, 0 conflicts, 0 item errors" <<<"$out" ||
    fail "unexpected output of the second run"
[[ $(cat "$root/share/notes.txt") == "meeting notes" ]] || fail "the second file did not arrive"

# A wrong argument: the library's message, exit 1.
if out=$("$minimal" "$root/state2" "$root/no-such-share" "$root/data" 2>&1); then
    fail "a missing share was accepted"
fi
echo "$out"
grep -q "^minimal: sync group: .*no-such-share" <<<"$out" || fail "no useful error message"
if [[ -n $src ]]; then
    # README.md quotes examples/minimal.c from its #include on.
    python3 - "$src/examples/minimal.c" "$src/README.md" <<'PY' || fail "README.md does not show examples/minimal.c as it is"
import sys
code = open(sys.argv[1]).read()
body = code[code.index("#include <afs.h>"):]
sys.exit(0 if "```c\n" + body + "```" in open(sys.argv[2]).read() else 1)
PY
fi
echo "test_minimal: ok"
