"""Driver for Benchmarks/tpch/run: times each query on Sluice at 2 threads and
at 1, and on DuckDB and Polars at 2 threads, each in a fresh process (so peak
memory is the query's own). Every engine runs a query ROUNDS times, the
engines taking turns so a noisy moment hits all of them; the table shows
medians, Sluice's 1->2 thread speed-up, its ratio to the faster peer, and the
largest peak RSS of any round."""
import math, os, pathlib, statistics, subprocess, sys, tempfile, time
here = pathlib.Path(__file__).parent
sluice, data = sys.argv[1], sys.argv[2]
queries = sys.argv[3:] or sorted(p.stem for p in (here / "queries").glob("q*.sql"))
rounds = int(os.environ.get("ROUNDS", "5"))
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

def sluice_run(script, threads):
    code, out, err, secs, rss = run_with_rss([sluice, "query", "--local", "--threads", str(threads), "--format", "csv", "-f", script])
    if code != 0:
        print(f"  sluice --threads {threads} failed: {err.strip()[:200]}", file=sys.stderr)
        return None, rss
    return secs, rss

def peer_run(peer, q):
    env = dict(os.environ, POLARS_MAX_THREADS="2")
    code, out, err, _, rss = run_with_rss([sys.executable, str(here / "peer.py"), peer, data, q], env=env)
    if code != 0:
        print(f"  {peer} {q} failed: {err.strip().splitlines()[-1][:200] if err.strip() else code}", file=sys.stderr)
        return None, rss
    return float(out.split()[0]), rss

engines = ["sluice2", "sluice1"] + peers
print(f"TPC-H from CSV at {data}; median of {rounds}; Sluice at 2 threads and 1, DuckDB and Polars at 2 threads")
print(f"{'query':<6}{'sluice@2':>9}{'sluice@1':>9}{'speedup':>8}{'duckdb':>8}{'polars':>8}{'ratio':>7}"
      f"   {'sluice MiB':>10}{'duckdb MiB':>11}{'polars MiB':>11}")
medians = {e: [] for e in engines}
for q in queries:
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    script.write(schema + "\n" + (here / "queries" / f"{q}.sql").read_text()); script.close()
    times = {e: [] for e in engines}
    peak = {e: 0.0 for e in engines}
    for _ in range(rounds):
        for e in engines:
            secs, rss = sluice_run(script.name, int(e[-1])) if e.startswith("sluice") else peer_run(e, q)
            peak[e] = max(peak[e], rss)
            if secs is not None:
                times[e].append(secs)
    os.unlink(script.name)
    med = {e: statistics.median(times[e]) if len(times[e]) == rounds else None for e in engines}
    for e in engines:
        medians[e].append(med[e])
    fast = min((med[p] for p in peers if med[p] is not None), default=None)
    s2, s1 = med["sluice2"], med["sluice1"]
    def t(e): return f"{med[e]:.2f}" if e in med and med[e] is not None else "-"
    speedup = f"{s1 / s2:.2f}x" if s1 and s2 else "-"
    ratio = f"{s2 / fast:.2f}x" if s2 and fast else "-"
    def m(e): return f"{peak[e]:.0f}" if e in peak else "-"
    print(f"{q:<6}{t('sluice2'):>9}{t('sluice1'):>9}{speedup:>8}{t('duckdb'):>8}{t('polars'):>8}{ratio:>7}"
          f"   {m('sluice2'):>10}{m('duckdb'):>11}{m('polars'):>11}", flush=True)

def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs and all(xs) else None
g = {e: geomean(medians[e]) for e in engines}
def gt(e): return f"{g[e]:.2f}" if g.get(e) else "-"
fast = min((g[p] for p in peers if g.get(p)), default=None)
speedup = f"{g['sluice1'] / g['sluice2']:.2f}x" if g["sluice1"] and g["sluice2"] else "-"
ratio = f"{g['sluice2'] / fast:.2f}x" if fast and g["sluice2"] else "-"
print(f"{'geomean':<6}{gt('sluice2'):>9}{gt('sluice1'):>9}{speedup:>8}{gt('duckdb'):>8}{gt('polars'):>8}{ratio:>7}")
