"""Driver for Benchmarks/tpch/run: times each engine on each query in a fresh
process (so peak memory is the query's), one query after another."""
import os, pathlib, resource, subprocess, sys, tempfile, time
here = pathlib.Path(__file__).parent
sluice, data = sys.argv[1], sys.argv[2]
queries = sys.argv[3:] or sorted(p.stem for p in (here / "queries").glob("q*.sql"))
peers = [] if os.environ.get("SKIP_PEERS") else ["duckdb", "polars"]
schema = (here / "schema.sql").read_text().replace("${DATA}", data)

def run_with_rss(cmd, env=None):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # wait4 gives this child's own peak RSS (ru_maxrss, KiB on Linux).
    out = p.stdout.read(); err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    return os.waitstatus_to_exitcode(status), out.decode(), err.decode(), elapsed, usage.ru_maxrss / 1024

print(f"TPC-H from CSV at {data}; Sluice 1 thread, DuckDB and Polars 2 threads")
header = f"{'query':<6}{'sluice s':>10}{'duckdb s':>10}{'polars s':>10}{'ratio':>8}   {'sluice MiB':>10}{'duckdb MiB':>11}{'polars MiB':>11}"
print(header)
for q in queries:
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    script.write(schema + "\n" + (here / "queries" / f"{q}.sql").read_text()); script.close()
    code, out, err, secs, rss = run_with_rss([sluice, "query", "--local", "--format", "csv", "-f", script.name])
    os.unlink(script.name)
    res = {"sluice": (secs if code == 0 else None, rss)}
    if code != 0:
        print(f"  sluice {q} failed: {err.strip()[:200]}", file=sys.stderr)
    for peer in peers:
        env = dict(os.environ, POLARS_MAX_THREADS="2")
        code, out, err, _, rss = run_with_rss([sys.executable, str(here / "peer.py"), peer, data, q], env=env)
        if code == 0:
            res[peer] = (float(out.split()[0]), rss)
        else:
            res[peer] = (None, rss)
            print(f"  {peer} {q} failed: {err.strip().splitlines()[-1][:200] if err.strip() else code}", file=sys.stderr)
    fast = min((res[p][0] for p in peers if res.get(p) and res[p][0] is not None), default=None)
    s = res["sluice"][0]
    ratio = f"{s / fast:.2f}x" if s is not None and fast else "-"
    def t(e): return f"{res[e][0]:.2f}" if e in res and res[e][0] is not None else "-"
    def m(e): return f"{res[e][1]:.0f}" if e in res else "-"
    print(f"{q:<6}{t('sluice'):>10}{t('duckdb'):>10}{t('polars'):>10}{ratio:>8}   {m('sluice'):>10}{m('duckdb'):>11}{m('polars'):>11}", flush=True)
