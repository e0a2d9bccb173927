"""Autoscaling against fixed pools, on the example backfill, and against Dask.

Three clusters in turn, each `sluice local` on a fresh data dir over the same
generated lake: 1 worker, 2 workers (1 slot each), and `--autoscale` from 1
to 2 with short windows (up_window 1s, consecutive 1, idle_timeout 3s) so a
60-partition backfill shows a whole cycle. The autoscaled run is watched by
polling `sluice status --json` every 100 ms. Then the peer, when PEER_PYTHON
names a Python with dask.distributed: `adapt(minimum=1, maximum=2)` at Dask's
defaults on a backlog of sleeping tasks as long as Sluice's 1-worker run.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

binary, root, days, per_day = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
work = tempfile.mkdtemp(prefix="sluice-bench-autoscale-")
port = 7500 + os.getpid() % 400


def day(i):
    return time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2026, 9, 1 + i, 12, 0, 0, 0, 0, 0))))


def run_cluster(name, args, watch=False):
    data = f"{work}/{name}"
    env = dict(os.environ, SLUICE_COORDINATOR=f"127.0.0.1:{port}", SLUICE_SECRET_FILE=f"{data}/secret")

    def sluice(*a):
        return subprocess.run([binary, *a], cwd=work, env=env, capture_output=True, text=True)

    local = subprocess.Popen([binary, "local", "--port", str(port), "--data-dir", data, *args], cwd=work, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            r = sluice("status", "--json")
            if r.returncode == 0 and any(w["state"] == "alive" for w in json.loads(r.stdout)["workers"]):
                break
            time.sleep(0.1)
        start = time.time()
        r = sluice("backfill", "start", "pipeline.yaml", "--from", day(0), "--to", day(days - 1), "--max-active-runs", "8", "--json")
        bid = json.loads(r.stdout)["id"]
        samples = []
        while True:
            b = json.loads(sluice("backfill", "status", str(bid), "--json").stdout)
            if watch:
                samples.append((time.time(), json.loads(sluice("status", "--json").stdout)))
            if b["state"] != "running":
                break
            time.sleep(0.1)
        took = time.time() - start
        assert b["state"] == "succeeded" and b["done"] == days, b
        release = None
        if watch:
            drained = time.time()
            while time.time() - drained < 60:
                s = json.loads(sluice("status", "--json").stdout)
                samples.append((time.time(), s))
                if sum(1 for w in s["workers"] if w["state"] == "alive") <= 1:
                    release = time.time() - drained
                    break
                time.sleep(0.1)
        history = json.loads(sluice("autoscaler", "history", "--json").stdout) if watch else []
        return took, samples, history, release, start
    finally:
        local.send_signal(signal.SIGINT)
        try:
            local.wait(timeout=30)
        except subprocess.TimeoutExpired:
            local.kill()


try:
    subprocess.run([f"{root}/examples/lake/generate", f"{work}/lake", "--days", str(days + 3), "--per-day", str(per_day)],
                   env=dict(os.environ, SLUICE=binary), check=True, capture_output=True)
    shutil.copy(f"{root}/examples/lake/pipeline.yaml", f"{work}/pipeline.yaml")
    with open(f"{work}/scale.yaml", "w") as f:
        f.write("min: 1\nmax: 2\nslots_per_worker: 1\nup_window: 1s\nidle_timeout: 3s\nup_cooldown: 1s\ndown_cooldown: 2s\nconsecutive: 1\nprovider: local\n")
    one, *_ = run_cluster("one", ["--workers", "1", "--slots", "1"])
    two, *_ = run_cluster("two", ["--workers", "2", "--slots", "1"])
    auto, samples, history, release, began = run_cluster("auto", ["--autoscale", "scale.yaml"], watch=True)

    ups = sorted((d for d in history if d["direction"] == "up" and d["acted"] and "demand" in d["reason"]), key=lambda d: d["atMs"])
    decision = ups[0]["atMs"] / 1000 if ups else None
    first_task = None
    if ups:
        new = set(ups[0]["workers"])
        for t, s in samples:
            if any(w["workerID"] in new and w["tasksLeased"] + w["tasksRunning"] + w.get("tasksDone", 0) > 0 for w in s["workers"]):
                first_task = t
                break
    peer = None
    if os.environ.get("PEER_PYTHON"):
        # As many 10 ms tasks as make Sluice's 1-worker time: the same backlog, in seconds of work.
        r = subprocess.run([os.environ["PEER_PYTHON"], os.path.join(os.path.dirname(__file__), "dask_adapt.py"), str(int(one * 100)), "10"],
                           capture_output=True, text=True)
        peer = json.loads(r.stdout) if r.returncode == 0 else None
    print(f"example backfill, {days} partitions, {per_day} sales a day, 1 slot a worker, on {os.cpu_count()} cores:")
    print(f"  {'':30} {'seconds':>8} {'runs/min':>9}")
    for name, t in [("1 worker", one), ("2 workers", two), ("autoscaled 1 -> 2", auto)]:
        print(f"  {name:30} {t:8.2f} {days / t * 60:9.1f}")

    def f(x):
        return f"{x:.2f}" if x is not None else "-"
    print(f"\n  {'autoscaled 1 -> 2, seconds':44} {'Sluice':>8} {'Dask adapt':>11}")
    rows = [("backlog to the scale-up decision", decision - began if decision else None, peer and peer["to_decision"]),
            ("decision to the new worker's first task", first_task - decision if decision and first_task else None, peer and peer["decision_to_first_task"]),
            ("queue drained to the worker released", release, peer and peer["release"]),
            ("the whole backlog", auto, peer and peer["seconds"])]
    for name, a, b in rows:
        print(f"  {name:44} {f(a):>8} {f(b):>11}")
    print("  (Sluice: up_window 1s, consecutive 1, idle_timeout 3s, observed once a second;"
          " Dask: interval 1s, wait_count 3, target_duration 5s)")
finally:
    shutil.rmtree(work, ignore_errors=True)
