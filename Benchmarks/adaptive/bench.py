"""Driver for Benchmarks/adaptive/run: a skewed join on a 2-worker Sluice
cluster with adaptive execution off and on, and DuckDB on the same query."""
import pathlib, statistics, subprocess, sys, time
here = pathlib.Path(__file__).parent
sluice, data, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = (here.parent / "tpch" / "schema.sql").read_text().replace("${DATA}", data)
query = ("SELECT o_orderpriority, count(*) AS n, sum(l_extendedprice) AS s FROM lineitem JOIN orders "
         "ON (CASE WHEN l_orderkey % 10 < 7 THEN 1 ELSE l_orderkey END) = o_orderkey GROUP BY 1 ORDER BY 1")
modes = {"off": "SET adaptive = false;", "on": ""}

sys.path.insert(0, str(here.parent / "cluster"))
from local_cluster import LocalCluster
with LocalCluster(sluice, data, prefix="sluice-bench-adaptive-") as cluster:
    times, answers, changes = {m: [] for m in modes}, {}, []
    for k in range(rounds):
        for mode, setting in modes.items():
            # Both plan the join as a shuffle (orders is under the row limit for a broadcast at small scales).
            script = schema + f"\nSET broadcast_threshold = 0; {setting}\n{query};\n"
            path = f"{cluster.work}/q.sql"
            pathlib.Path(path).write_text(script)
            t0 = time.perf_counter()
            r = subprocess.run([sluice, "query", "--no-progress", "--format", "csv", "-f", path], capture_output=True, text=True, env=cluster.env)
            times[mode].append(time.perf_counter() - t0)
            if r.returncode != 0: raise SystemExit(f"{mode} failed: " + r.stderr[-1000:])
            answers[mode] = r.stdout
        if k == 0:
            for mode, setting in modes.items():
                pathlib.Path(path).write_text(schema + f"\nSET broadcast_threshold = 0; {setting}\nEXPLAIN ANALYZE {query};\n")
                r = subprocess.run([sluice, "query", "--no-progress", "--format", "csv", "-f", path], capture_output=True, text=True, env=cluster.env)
                changes.append(f"adaptive {mode}:")
                changes += [l.strip('" ') for l in r.stdout.splitlines() if "adaptive:" in l or "ran:" in l or l.startswith('"STAGE')]
    if answers["off"] != answers["on"]: raise SystemExit("the answers differ:\n" + answers["off"] + "\n" + answers["on"])
    code = f"""
import duckdb, time
con = duckdb.connect(); con.execute("SET threads = 2")
for stmt in {schema!r}.split(";"):
    if stmt.strip(): con.execute(stmt)
t0 = time.perf_counter(); con.execute({query!r}).fetchall(); print(time.perf_counter() - t0)
"""
    duck = []
    for _ in range(rounds):
        d = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if d.returncode != 0: raise SystemExit("DuckDB failed: " + d.stderr[-1000:])
        duck.append(float(d.stdout.split()[-1]))
    off, on, dk = statistics.median(times["off"]), statistics.median(times["on"]), statistics.median(duck)
    print(f"skewed join (70% of lineitem on one order key) at {data}; median of {rounds}")
    print(f"{'engine':34} {'seconds':>8}")
    print(f"{'sluice cluster, adaptive off':34} {off:8.2f}")
    print(f"{'sluice cluster, adaptive on':34} {on:8.2f}")
    print(f"{'duckdb @2 threads (one process)':34} {dk:8.2f}")
    print(f"adaptive on/off: {on / off:.2f}x; sluice (on)/duckdb: {on / dk:.2f}x")
    print("EXPLAIN ANALYZE (first round):")
    for l in changes: print("  " + l)
