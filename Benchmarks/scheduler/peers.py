"""The same measurements for Dask distributed and Ray: N no-op tasks on two
worker processes (tasks per second, submit to last result), and the latency
from submitting one task to that task starting (median over rounds).

Usage: peers.py dask|ray TASKS ROUNDS  -> one JSON object on stdout
"""
import json
import statistics
import sys
import time


def noop(x):
    return x


def started(_):
    return time.time()


def bench_dask(n, rounds):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(1000), pure=False))
        t0 = time.time()
        client.gather(client.map(noop, range(n), pure=False))
        seconds = time.time() - t0
        lat = []
        for i in range(rounds):
            sent = time.time()
            start = client.submit(started, i, pure=False).result()
            lat.append((start - sent) * 1000)
            time.sleep(0.05)
    return seconds, lat


def bench_ray(n, rounds):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    rnoop = ray.remote(noop)
    rstarted = ray.remote(started)
    ray.get([rnoop.remote(i) for i in range(1000)])
    t0 = time.time()
    ray.get([rnoop.remote(i) for i in range(n)])
    seconds = time.time() - t0
    lat = []
    for i in range(rounds):
        sent = time.time()
        start = ray.get(rstarted.remote(i))
        lat.append((start - sent) * 1000)
        time.sleep(0.05)
    ray.shutdown()
    return seconds, lat


def main():
    which, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seconds, lat = (bench_dask if which == "dask" else bench_ray)(n, rounds)
    lat.sort()
    print(json.dumps({
        "tasks": n,
        "seconds": seconds,
        "tasks_per_second": n / seconds,
        "first_task_ms_median": statistics.median(lat),
        "first_task_ms_p90": lat[min(len(lat) - 1, len(lat) * 9 // 10)],
    }))


if __name__ == "__main__":
    main()
