"""Driver for Benchmarks/cluster/run. Starts a Sluice coordinator and 2
workers (1 slot, 1 thread each) on loopback, then times every query on the
cluster, on Sluice in one process at 2 threads and on DuckDB at 2 threads
(engines taking turns, each in a fresh client process), then on Spark
local[2] (one session; its start-up reported apart) and on Dask (2 worker
processes of 1 thread; Q1, Q3, Q5, Q6, Q10, Q12 only). Medians of ROUNDS.
Also the bytes the cluster's tasks wrote per query and that rate per worker."""
import math, os, pathlib, re, statistics, subprocess, sys, time
here = pathlib.Path(__file__).parent
tpch = here.parent / "tpch"
sluice, data = sys.argv[1], sys.argv[2]
queries = sys.argv[3:] or sorted(p.stem for p in (tpch / "queries").glob("q*.sql"))
rounds = int(os.environ.get("ROUNDS", "3"))
dask_queries = [q for q in queries if q in ("q01", "q03", "q05", "q06", "q10", "q12")]
schema = (tpch / "schema.sql").read_text().replace("${DATA}", data)

sys.path.insert(0, str(here))
from local_cluster import LocalCluster
cluster = LocalCluster(sluice, data, prefix="sluice-bench-cluster-").__enter__()
env, work = cluster.env, cluster.work
try:
    def timed(cmd):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        t = time.perf_counter() - t0
        if r.returncode != 0:
            print(f"  {' '.join(cmd[:3])} failed: {r.stderr.strip()[:300]}", file=sys.stderr)
            return None
        return t

    def duckdb(q):
        r = subprocess.run([sys.executable, str(tpch / "peer.py"), "duckdb", data, q], capture_output=True, text=True,
                           env=dict(env, PYTHONPATH=str(tpch)))
        return float(r.stdout.split()[0]) if r.returncode == 0 else None

    times = {e: {q: [] for q in queries} for e in ("cluster", "local2", "duckdb")}
    out_bytes = {}
    for q in queries:
        script = f"{work}/{q}.sql"
        with open(script, "w") as f: f.write(schema + "\n" + (tpch / "queries" / f"{q}.sql").read_text())
        for _ in range(rounds):
            log_size = os.path.getsize(f"{work}/coordinator.log")
            t = timed([sluice, "query", "--no-progress", "--partitions", "4", "--format", "csv", "-f", script])
            if t is not None: times["cluster"][q].append(t)
            with open(f"{work}/coordinator.log") as f:
                f.seek(log_size)
                b = [int(m) for m in re.findall(r"output\.bytes=(\d+)", f.read())]
            if b: out_bytes[q] = sum(b)
            t = timed([sluice, "query", "--local", "--threads", "2", "--format", "csv", "-f", script])
            if t is not None: times["local2"][q].append(t)
            t = duckdb(q)
            if t is not None: times["duckdb"][q].append(t)
        print(f"  {q}: cluster {statistics.median(times['cluster'][q]) if times['cluster'][q] else float('nan'):.2f} s", file=sys.stderr)
finally:
    cluster.__exit__(None, None, None)   # stopped before the peers run

def peer(script, qs):
    if not qs: return None, {}
    r = subprocess.run([sys.executable, str(here / script), data, str(rounds)] + qs, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  {script} failed: {r.stderr.strip()[-500:]}", file=sys.stderr)
    startup, per = None, {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[0] == "startup": startup = float(parts[1])
        else: per.setdefault(parts[0], []).append(float(parts[1]))
    return startup, per

spark_start, spark = (None, {}) if os.environ.get("SKIP_SPARK") else peer("spark_peer.py", queries)
dask_start, dask = (None, {}) if os.environ.get("SKIP_DASK") else peer("dask_peer.py", dask_queries)

med = lambda xs: statistics.median(xs) if xs and len(xs) == rounds else None
def fmt(x): return f"{x:8.2f}" if x is not None else "       -"
print(f"TPC-H from CSV at {data}; median of {rounds}. Sluice cluster: coordinator + 2 workers (1 slot, 1 thread each), 4 partitions;")
print(f"Sluice local and DuckDB at 2 threads; Spark local[2] (start-up {spark_start or float('nan'):.1f} s, not counted); "
      f"Dask 2 processes x 1 thread (start-up {dask_start or float('nan'):.1f} s, not counted).")
print(f"{'query':<6}{'cluster':>8}{'local@2':>8}{'duckdb':>8}{'spark':>8}{'dask':>8}{'c/local':>8}{'spark/c':>8}{'dask/c':>8}{'MB out':>8}{'MB/s/wk':>8}")
cols = {k: [] for k in ("cluster", "local2", "duckdb", "spark", "dask")}
pairs = {"local": [], "spark": [], "dask": []}
for q in queries:
    c, l, d = med(times["cluster"][q]), med(times["local2"][q]), med(times["duckdb"][q])
    s, k = med(spark.get(q, [])), med(dask.get(q, []))
    for name, v in (("cluster", c), ("local2", l), ("duckdb", d), ("spark", s), ("dask", k)):
        if v is not None: cols[name].append(v)
    if c and l: pairs["local"].append(c / l)
    if c and s: pairs["spark"].append(s / c)
    if c and k: pairs["dask"].append(k / c)
    mb = out_bytes.get(q, 0) / 1e6
    rate = mb / c / 2 if c else None
    print(f"{q:<6}{fmt(c)}{fmt(l)}{fmt(d)}{fmt(s)}{fmt(k)}"
          f"{(f'{c / l:7.2f}x' if c and l else '       -')}{(f'{s / c:7.1f}x' if c and s else '       -')}{(f'{k / c:7.1f}x' if c and k else '       -')}"
          f"{mb:8.2f}{(f'{rate:8.1f}' if rate else '       -')}")
g = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")
print(f"geomean ratios: cluster/local@2 {g(pairs['local']):.2f}x (target <= 1.5x); Spark/cluster {g(pairs['spark']):.1f}x, "
      f"Dask/cluster {g(pairs['dask']):.1f}x on the queries each ran (target >= 5x)")
