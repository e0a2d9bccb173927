"""Driver for Benchmarks/write/run: CTAS of lineitem JOIN orders on a 2-worker
Sluice cluster beside DuckDB's COPY (same join) TO Parquet, medians of ROUNDS."""
import os, pathlib, statistics, subprocess, sys, time
here = pathlib.Path(__file__).parent
tpch = here.parent / "tpch"
sluice, data, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = (tpch / "schema.sql").read_text().replace("${DATA}", data)
join = ("SELECT l_orderkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_shipdate, l_comment, "
        "o_custkey, o_orderdate, o_orderpriority FROM lineitem JOIN orders ON l_orderkey = o_orderkey")

sys.path.insert(0, str(here.parent / "cluster"))
from local_cluster import LocalCluster
with LocalCluster(sluice, data, prefix="sluice-bench-write-") as cluster:
    env, work = cluster.env, cluster.work
    sluice_t, duck_t, rows, sluice_bytes, duck_bytes = [], [], 0, 0, 0
    for k in range(rounds):
        script = f"{work}/ctas.sql"
        pathlib.Path(script).write_text(schema + f"\nCREATE OR REPLACE TABLE li_orders AS {join};\n")
        t0 = time.perf_counter()
        r = subprocess.run([sluice, "query", "--no-progress", "-f", script], capture_output=True, text=True, env=env)
        sluice_t.append(time.perf_counter() - t0)
        if r.returncode != 0: raise SystemExit("CTAS failed: " + r.stderr[-1000:])
        rows = int(r.stderr.strip().split()[-1])
        info = subprocess.run([sluice, "catalog", "show", "li_orders", "--json"], capture_output=True, text=True, env=env).stdout
        sluice_bytes = int(info.split('"sizeBytes" : ')[1].split(",")[0].split("\n")[0])
        out = f"{work}/duck.parquet"
        code = f"""
import duckdb, time
con = duckdb.connect(); con.execute("SET threads = 2")
for stmt in open({script!r}).read().split(";")[:-2]:
    if stmt.strip(): con.execute(stmt)
t0 = time.perf_counter()
con.execute("COPY ({join}) TO '{out}' (FORMAT parquet)")
print(time.perf_counter() - t0)
"""
        d = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if d.returncode != 0: raise SystemExit("DuckDB failed: " + d.stderr[-1000:])
        duck_t.append(float(d.stdout.split()[-1]))
        duck_bytes = os.path.getsize(out)
    s, d = statistics.median(sluice_t), statistics.median(duck_t)
    print(f"CTAS of lineitem JOIN orders ({rows} rows) from CSV at {data}; median of {rounds}")
    print(f"{'engine':28} {'seconds':>8} {'Mrows/s':>8} {'MB written':>11} {'MB/s':>7}")
    print(f"{'sluice cluster (2 workers)':28} {s:8.2f} {rows / s / 1e6:8.2f} {sluice_bytes / 1e6:11.1f} {sluice_bytes / s / 1e6:7.1f}")
    print(f"{'duckdb COPY to parquet @2':28} {d:8.2f} {rows / d / 1e6:8.2f} {duck_bytes / 1e6:11.1f} {duck_bytes / d / 1e6:7.1f}")
    print(f"ratio sluice/duckdb: {s / d:.2f}x (the cluster time includes its client start and the join's shuffle)")
