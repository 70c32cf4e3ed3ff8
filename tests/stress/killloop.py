#!/usr/bin/env python3
"""
Kill loop (QA, not run by ctest): three servers on one local-directory share
edit, delete, rename files and folders at random, every sync session is
killed (SIGKILL) at a random moment 70% of the time, then all sync until they
converge. It checks that every version a user wrote and did not overwrite or
delete survives somewhere (as the file or a conflict copy), and that every
server ends up with the share's tree.

    tests/stress/killloop.py WORKDIR [ROUNDS] [SEED]

Environment: AFS_BIN (default build/examples/afs), TIER=1 (server 3 on a
tmpfs with cloud tiering, tiering passes killed too; needs root), NORECALL=1
(with TIER: 30% of server 3's writes go into placeholders without a recall),
PAR=1 (the three sessions of a round run at once), DIRP (share of operations
that rename a folder, default 0.05). A per-seed log of what was done is
written to /tmp/qa/log-SEED.txt. Exit 0 when nothing was lost.
"""
import os, random, subprocess, sys, time, signal, hashlib
AFS = os.environ.get("AFS_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "examples", "afs"))
Q = sys.argv[1] if len(sys.argv) > 1 else "/tmp/qa/kl"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 1
NS = 3
rnd = random.Random(SEED)
os.makedirs("/tmp/qa", exist_ok=True)
LOG = open(f"/tmp/qa/log-{SEED}.txt", "w")
subprocess.run(["rm", "-rf", Q]); os.makedirs(Q + "/share")
def afs(i, *a, check=True):
    r = subprocess.run([AFS, "--state", f"{Q}/s{i}"] + list(a), capture_output=True)
    try:
        r.stderr.decode("utf-8"); r.stdout.decode("utf-8")
    except UnicodeDecodeError:
        open(f"/tmp/qa/badutf8-{SEED}.bin", "ab").write(b"ARGS " + repr(a).encode() + b"\n" + r.stdout + b"\n----\n" + r.stderr + b"\n====\n")
    r.stdout = r.stdout.decode("utf-8", "replace"); r.stderr = r.stderr.decode("utf-8", "replace")
    if check and r.returncode not in (0, 4):
        print("FAIL", a, r.returncode, r.stdout, r.stderr); sys.exit(1)
    return r
TIER = os.environ.get("TIER") == "1"
subprocess.run(["umount", f"{Q}/d3"], capture_output=True)
subprocess.run(["rm", "-rf", Q]); os.makedirs(Q + "/share")
for i in range(1, NS + 1):
    os.makedirs(f"{Q}/d{i}")
    afs(i, "server", "register", f"S{i}")
    if i == 1: afs(1, "group", "create", "G", Q + "/share")
    else: afs(i, "group", "join", Q + "/share")
    if TIER and i == 3:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", f"{Q}/d3"], check=True)
        afs(i, "endpoint", "create", "--cloud-tiering", "on", "--tier-min-file-size", "8K", "--volume-free-space", "99", f"{Q}/d{i}")
    else:
        afs(i, "endpoint", "create", f"{Q}/d{i}")
paths = ["a.txt", "b.bin", "dir/c.txt", "dir/sub/d.txt", "e", "dir2/f.txt"]
alive = set(); dead = set(); n = 0
def files(root):
    out = {}
    for dp, dn, fn in os.walk(root):
        if "/.libafs" in dp + "/": dn[:] = []; continue
        dn[:] = [d for d in dn if not (dp == root and d == ".libafs")]
        for f in fn:
            p = os.path.join(dp, f)
            if os.path.islink(p) or f.startswith(".~afs-"): continue
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out
def kill_key(b): return b.split(b"|", 3)[:3] and b[:64]
def mark_dead(p):
    if TIER and p.startswith(f"{Q}/d3/") and os.path.isfile(p):
        import json as _j
        r = afs(3, "--json", "file", p, check=False)
        try:
            f = _j.loads(r.stdout)["files"][0]
            if f.get("state") != "full" and f.get("marker"):
                cp = os.path.join(Q, "share", f["marker"]["cloud_path"])
                if os.path.isfile(cp): dead.add(open(cp, "rb").read())
        except Exception as e:
            pass
    try: dead.add(open(p, "rb").read())
    except FileNotFoundError: pass
    except IsADirectoryError: pass
def write(i):
    global n
    d = f"{Q}/d{i}"; p = rnd.choice(paths); ap = os.path.join(d, p)
    if TIER and i == 3 and os.path.isfile(ap) and (os.environ.get("NORECALL") != "1" or rnd.random() < 0.7):
        rr = afs(3, "recall", ap, check=False)  # what a recall host does on open
        if rr.returncode != 0: return  # the open fails
    op = rnd.random()
    if op > 1 - float(os.environ.get("DIRP", "0.05")):
        src, dst = rnd.choice([("dir", "dirX"), ("dirX", "dir"), ("dir2", "dir2b"), ("dir2b", "dir2"), ("dir/sub", "dirsub")])
        if os.path.isdir(os.path.join(d, src)) and not os.path.exists(os.path.join(d, dst)):
            os.rename(os.path.join(d, src), os.path.join(d, dst)); LOG.write(f"dirrename S{i} {src} {dst}\n")
        return
    if op < 0.1 and os.path.isfile(ap):
        mark_dead(ap); os.unlink(ap); LOG.write(f"delete S{i} {p}\n"); return
    if op < 0.2 and os.path.isfile(ap):
        q = rnd.choice(paths); aq = os.path.join(d, q)
        if not os.path.exists(aq) and not os.path.isfile(os.path.dirname(aq)):
            os.makedirs(os.path.dirname(aq), exist_ok=True); os.rename(ap, aq); LOG.write(f"rename S{i} {p} {q}\n")
        return
    n += 1
    size = rnd.choice([0, 10, 1000, 300000, 2000000])
    head = f"{p}|S{i}|{n}|".encode()
    body = head + (hashlib.sha256(head).digest() * (size // 32 + 1))[:size]
    if size == 1000 and rnd.random() < 0.5:  # same size as other versions
        body = head.ljust(1000, b"x")
    os.makedirs(os.path.dirname(ap) or d, exist_ok=True)
    if os.path.isdir(ap): return
    mark_dead(ap)
    with open(ap, "wb") as f: f.write(body)
    LOG.write(f"write S{i} {p} {head!r} size={size}\n")
    if rnd.random() < 0.3:
        t = rnd.choice([0, -86400 * 365 * 60, 4102444800, 1700000000]);
        os.utime(ap, (t, t))
    alive.add(body)
def sync_killed(i):
    args = [AFS, "--state", f"{Q}/s{i}", "sync"] + (["--full"] if rnd.random() < 0.3 else []) + ["--force"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if rnd.random() < 0.7:
        time.sleep(rnd.random() * 0.15)
        p.send_signal(signal.SIGKILL)
    out, err = p.communicate()
    LOG.write(f"sync S{i} rc={p.returncode} {out.decode().strip()} {err.decode().strip()}\n")
    if p.returncode not in (0, 4, -9):
        print("sync", i, p.returncode, out.decode(), err.decode())
def tier_killed():
    p = subprocess.Popen([AFS, "--state", f"{Q}/s3", "tier", "--pass"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if rnd.random() < 0.5:
        time.sleep(rnd.random() * 0.05); p.send_signal(signal.SIGKILL)
    out, err = p.communicate()
    if p.returncode not in (0, 4, -9): print("tier", p.returncode, out.decode(), err.decode())
for r in range(ROUNDS):
    for i in range(1, NS + 1):
        for _ in range(rnd.randint(0, 3)): write(i)
    if TIER and rnd.random() < 0.5: tier_killed()
    if os.environ.get("PAR") == "1":
        procs = []
        for i in range(1, NS + 1):
            args = [AFS, "--state", f"{Q}/s{i}", "sync", "--force"] + (["--full"] if rnd.random() < 0.3 else [])
            procs.append((i, subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        time.sleep(rnd.random() * 0.1)
        for i, p in procs:
            if rnd.random() < 0.3: p.send_signal(signal.SIGKILL)
        for i, p in procs:
            out, err = p.communicate()
            LOG.write(f"psync S{i} rc={p.returncode} {out.decode().strip()} {err.decode().strip()}\n")
            if p.returncode not in (0, 4, -9): print("psync", i, p.returncode, out.decode(), err.decode())
    else:
        for i in rnd.sample(range(1, NS + 1), NS):
            sync_killed(i)
for k in range(3):
    for i in range(1, NS + 1):
        afs(i, "sync", "--full", "--force")
if TIER:
    r = afs(3, "recall", f"{Q}/d3", check=False)
    if r.returncode != 0: print("final recall", r.returncode, r.stdout, r.stderr)
trees = [files(f"{Q}/d{i}") for i in range(1, NS + 1)]
share = files(Q + "/share")
ok = True
for i, t in enumerate(trees):
    if t != share:
        ok = False
        print(f"server {i+1} differs from share:", sorted(set(t) ^ set(share)), [k for k in t if k in share and t[k] != share[k]])
have = set(share.values())
for t in trees: have |= set(t.values())
lost = [v[:40] for v in alive - dead if v not in have]
if lost: ok = False; print("LOST", len(lost), lost)
print("seed", SEED, "versions", len(alive), "dead", len(alive & dead), "files", len(share), "ok" if ok else "BAD")
if TIER and ok: subprocess.run(["umount", f"{Q}/d3"])
sys.exit(0 if ok else 1)
