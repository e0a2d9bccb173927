"""The peer for the scrape cost: prometheus_client (Python's reference
client) rendering the same series: per-worker gauges for WORKERS workers,
task counters and histograms by kind, cluster gauges. Prints JSON like
MetricsRenderBenchmark's."""
import json, sys, time
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

workers, rounds = int(sys.argv[1]), int(sys.argv[2])
r = CollectorRegistry()
buckets = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
started = Counter("sluice_tasks_started", "", ["kind"], registry=r)
succeeded = Counter("sluice_tasks_succeeded", "", ["kind"], registry=r)
duration = Histogram("sluice_task_duration_seconds", "", ["kind"], buckets=buckets, registry=r)
wait = Histogram("sluice_task_queue_wait_seconds", "", ["kind"], buckets=buckets, registry=r)
for i in range(100_000):
    k = ["sql", "command", "builtin"][i % 3]
    started.labels(k).inc(); succeeded.labels(k).inc()
    duration.labels(k).observe((i % 5000) / 1000); wait.labels(k).observe((i % 1000) / 1000)
per_worker = [Gauge(n, "", ["worker", "host"], registry=r) for n in
              ["sluice_worker_cpu_percent", "sluice_worker_memory_bytes", "sluice_worker_tasks_running",
               "sluice_worker_shuffle_bytes", "sluice_worker_heartbeat_age_seconds"]]
cluster = [Gauge(n, "", registry=r) for n in ["sluice_slots_total", "sluice_slots_busy", "sluice_tasks_pending", "sluice_tasks_leased",
                                              "sluice_tasks_running", "sluice_jobs_running", "sluice_queries_running"]]
times, size = [], 0
for _ in range(rounds):
    t = time.perf_counter()
    for w in range(workers):  # set from the state each scrape, as the coordinator does
        for i, g in enumerate(per_worker):
            g.labels(f"w{w}", f"host-{w // 8}").set(w * (i + 1))
    for g in cluster:
        g.set(workers)
    size = len(generate_latest(r))
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({"workers": workers, "median_ms": times[len(times) // 2], "p99_ms": times[len(times) * 99 // 100], "bytes": size}))
