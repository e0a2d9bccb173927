"""The peer: Dask's adaptive scaling on a backlog of the same size.

A LocalCluster of 1-thread worker processes starts with one worker and
`adapt(minimum=1, maximum=2)` at Dask's defaults (interval 1 s, wait_count 3,
target_duration 5 s). N tasks of MS milliseconds each arrive at once (about
the example backfill's work on one worker). A thread samples the cluster every
20 ms. Prints JSON: the seconds to drain the backlog, from the backlog to the
scale-up decision (the worker spec grows), from the decision to the new
worker's first task, and from the drain to the worker's release.

    dask_adapt.py N MS
"""
import json
import sys
import threading
import time

from dask.distributed import Client, LocalCluster, get_worker


def task(i, ms):
    began = time.time()
    time.sleep(ms / 1000)
    return get_worker().address, began


def main():
    n, ms = int(sys.argv[1]), float(sys.argv[2])
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    cluster.adapt(minimum=1, maximum=2)
    client = Client(cluster)
    client.wait_for_workers(1)
    first = set(client.scheduler_info()["workers"])
    events = {}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            now = time.time()
            if len(cluster.worker_spec) > 1 and "decided" not in events:
                events["decided"] = now
            if "decided" in events and "released" not in events and "drained" in events and len(cluster.worker_spec) <= 1:
                events["released"] = now
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.time()
    results = client.gather(client.map(task, range(n), ms=ms, pure=False))
    events["drained"] = time.time()
    deadline = time.time() + 60
    while "released" not in events and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    new = [began for address, began in results if address not in first]
    out = {
        "seconds": events["drained"] - start,
        "to_decision": events["decided"] - start if "decided" in events else None,
        "decision_to_first_task": min(new) - events["decided"] if new and "decided" in events else None,
        "release": events["released"] - events["drained"] if "released" in events else None,
    }
    client.close()
    cluster.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
