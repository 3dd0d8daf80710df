#!/usr/bin/env python3
"""kill -9 under load: how many actions are repeated, and are any lost?

Runs the release binary against the bench's mock OneBot gateway
(/work/shared/bench/mock_gateway.py, which records every call). 40 members each
commit 3 offences (warn, mute, kick: 240 actions), posted by 8 parallel
senders that retry until they get a 2xx, as a gateway does. Once about half
the events are acknowledged the daemon is killed with SIGKILL and started
again on the same data; the senders re-send what was not acknowledged, plus
the last 20 events that were. Then it counts, from the gateway's record:

  duplicated: state-changing calls answered ok more than once for the same
              (action, target) -- recall per message, mute/kick per member, a message
              per (member mentioned, text): the warning and the mute and kick notices
  lost:       expected actions never answered ok (a member with fewer than its three
              messages counts as one lost)

Usage: python3 benches/kill9.py [--runs 10] [--binary target/release/qunguan]
Only loopback; every process it starts is stopped by pid.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

MOCK = "/work/shared/bench/mock_gateway.py"
SECRET = b"kill9-secret"
TOKEN = "kill9-token"
SELF_ID = 10001
GROUP = 726300112
MEMBERS = 40
OFFENCES = 3
SENDERS = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, limit=20.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def event(member, n):
    user = 2_000_000 + member
    mid = member * 10 + n
    text = "加微信 领红包"
    return {
        "post_type": "message", "message_type": "group", "sub_type": "normal",
        "time": int(time.time()), "self_id": SELF_ID, "group_id": GROUP,
        "user_id": user, "message_id": mid, "message": text, "raw_message": text, "font": 0,
        "sender": {"user_id": user, "nickname": f"m{member}", "card": "", "role": "member"},
    }


def post(url, body):
    sig = "sha1=" + hmac.new(SECRET, body, hashlib.sha1).hexdigest()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json", "x-signature": sig, "x-self-id": str(SELF_ID)})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def start_daemon(binary, data, rules, port, admin, gateway_port, log):
    env = dict(os.environ)
    env.update({
        "QUNGUAN__STORAGE__PATH": data, "QUNGUAN__RULES__DIR": rules,
        "QUNGUAN__SERVER__LISTEN": f"127.0.0.1:{port}",
        "QUNGUAN__SERVER__ADMIN_LISTEN": f"127.0.0.1:{admin}",
        "QUNGUAN__GATEWAY__ONEBOT__API_ROOT": f"http://127.0.0.1:{gateway_port}",
        "QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN": TOKEN,
        "QUNGUAN__GATEWAY__ONEBOT__SECRET": SECRET.decode(),
        "RUST_LOG": "warn",
        # All 40 members are in one group: lift the send governor (20 messages a minute per
        # group), or the warnings would still be queued when the run is counted.
        "QUNGUAN__OUTBOX__SENDS_PER_MINUTE_PER_GROUP": "10000",
        "QUNGUAN__OUTBOX__SENDS_PER_SECOND_TOTAL": "10000",
        # … and the group's queue of bot messages (20 by default, a minute of QQ's pace): 120
        # notices at once in one group would otherwise become dead letters by design (a
        # bound, not a crash loss), and this script counts what a crash loses.
        "QUNGUAN__LIMITS__OUTBOX_MESSAGES_PER_GROUP": "1000",
    })
    return subprocess.Popen([binary, "run"], env=env, stdout=subprocess.DEVNULL, stderr=log)


def one_run(binary, workdir, seed):
    data, rules = os.path.join(workdir, "data"), os.path.join(workdir, "rules")
    os.makedirs(rules)
    with open(os.path.join(rules, "ads.txt"), "w", encoding="utf-8") as f:
        f.write("加微信\n")
    gport, port, admin = free_port(), free_port(), free_port()
    record = os.path.join(workdir, "calls.jsonl")
    log = open(os.path.join(workdir, "daemon.log"), "w")
    gateway = subprocess.Popen([sys.executable, MOCK, "--port", str(gport), "--record", record,
                                "--access-token", TOKEN, "--self-id", str(SELF_ID), "--max-runtime", "300"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        wait_http(f"http://127.0.0.1:{gport}/__bench/count")
        daemon = start_daemon(binary, data, rules, port, admin, gport, log)
        wait_http(f"http://127.0.0.1:{admin}/healthz")
        url = f"http://127.0.0.1:{port}/onebot/v11"
        # Each member's offences in order; members interleaved across senders.
        events = [json.dumps(event(m, n)).encode() for n in range(OFFENCES) for m in range(MEMBERS)]
        acked, lock = [], threading.Lock()
        queue = list(range(len(events)))

        def sender():
            while True:
                with lock:
                    if not queue:
                        return
                    i = queue.pop(0)
                while post(url, events[i]) not in (200, 204):
                    time.sleep(0.05)
                with lock:
                    acked.append(i)

        threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
        for t in threads:
            t.start()
        kill_at = len(events) // 2 + (seed % 7) * 4
        while True:
            with lock:
                if len(acked) >= kill_at:
                    break
            time.sleep(0.001)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        with lock:
            resend = acked[-20:]
        daemon = start_daemon(binary, data, rules, port, admin, gport, log)
        for t in threads:
            t.join()
        for i in resend:  # the gateway re-sends some acknowledged events too
            while post(url, events[i]) not in (200, 204):
                time.sleep(0.05)
        # Per member: 3 recalls, a mute, a kick, and 3 messages (warning, mute and kick notices).
        expected = MEMBERS * (OFFENCES + 2 + 3)
        deadline = time.time() + 30
        while time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{gport}/__bench/count") as r:
                if json.load(r)["ok"] >= expected:
                    break
            time.sleep(0.1)
        time.sleep(2.0)  # room for late duplicates
        with urllib.request.urlopen(f"http://127.0.0.1:{gport}/__bench/actions") as r:
            calls = [c for c in json.load(r)["actions"] if c.get("outcome") == "ok"]
    finally:
        for p in (daemon, gateway):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
    counts = {}
    for c in calls:
        a, p = c["endpoint"], c.get("body") or {}
        if a == "delete_msg":
            key = (a, p.get("message_id"))
        elif a == "send_group_msg":
            msg = p.get("message")
            ats = [s["data"]["qq"] for s in msg if s.get("type") == "at"] if isinstance(msg, list) else []
            key = (a, str(ats[0]) if ats else "", json.dumps(msg, ensure_ascii=False, sort_keys=True))
        elif a in ("set_group_ban", "set_group_kick"):
            key = (a, p.get("user_id"))
        else:
            continue
        counts[key] = counts.get(key, 0) + 1
    expected_keys = set()
    for m in range(MEMBERS):
        user = 2_000_000 + m
        for n in range(OFFENCES):
            expected_keys.add(("delete_msg", m * 10 + n))
        expected_keys |= {("set_group_ban", user), ("set_group_kick", user)}
    duplicated = {k: v - 1 for k, v in counts.items() if v > 1}
    lost = sorted(k for k in expected_keys if k not in counts)
    for m in range(MEMBERS):
        said = {k for k in counts if k[0] == "send_group_msg" and k[1] == str(2_000_000 + m)}
        if len(said) < 3:
            lost.append(("send_group_msg", str(2_000_000 + m), f"{len(said)} of 3 messages"))
    return sum(duplicated.values()), duplicated, lost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--binary", default="target/release/qunguan")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    totals = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as workdir:
            dups, detail, lost = one_run(binary, workdir, run)
        totals.append((dups, len(lost)))
        print(f"run {run + 1}: duplicated {dups} {sorted(detail.items()) if detail else ''} lost {len(lost)} {lost[:5]}",
              flush=True)
    print(f"duplicated per run: {[d for d, _ in totals]} (max {max(d for d, _ in totals)}); "
          f"lost per run: {[l for _, l in totals]}")


if __name__ == "__main__":
    main()
