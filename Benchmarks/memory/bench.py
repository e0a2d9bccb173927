"""Driver for Benchmarks/memory/run: Sluice (query --local, EXPLAIN ANALYZE, so
rows are not printed) and DuckDB (fetching all rows) on TPC-H queries within a
memory limit, each run its own process; peak RSS from wait4, bytes written
(spill files; DuckDB reports no spill figure of its own) from /proc/PID/io."""
import os, pathlib, re, statistics, subprocess, sys, tempfile, time
here = pathlib.Path(__file__).parent
tpch = here.parent / "tpch"
sluice, sf1, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
sf10 = sys.argv[4] if len(sys.argv) > 4 else None
units = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}

class Failed(Exception):
    pass

def written(pid):
    """Bytes the process passed to write() (its spill files, for both engines), from /proc before it is reaped."""
    try:
        return int(re.search(r"wchar: (\d+)", pathlib.Path(f"/proc/{pid}/io").read_text()).group(1))
    except (OSError, AttributeError):
        return 0

def run(argv):
    """Seconds, peak RSS (MB), stdout and bytes written of one process; `Failed` with its last error line otherwise."""
    global last_written
    out = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    last_written = written(p.pid)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    err = p.stderr.read().decode()
    out.seek(0)
    text = out.read().decode()
    if status != 0:
        lines = [l for l in err.splitlines() if "Error" in l]
        raise Failed(lines[-1][:90] if lines else err[-90:])
    return seconds, usage.ru_maxrss / 1024, text

def script(data, q, explain):
    s = (tpch / "schema.sql").read_text().replace("${DATA}", data) + "\n"
    return s + ("EXPLAIN ANALYZE " if explain else "") + (tpch / "queries" / f"{q}.sql").read_text()

def sluice_run(data, q, limit):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f: f.write(script(data, q, True))
    argv = [sluice, "query", "--local", "--threads", "2", "--format", "csv", "-f", f.name] + (["--memory-limit", limit] if limit else [])
    try:
        seconds, rss, text = run(argv)
    finally:
        os.unlink(f.name)
    spilled = sum(float(n) * units[u] for n, u in re.findall(r"spilled=([0-9.]+)(B|KB|MB|GB|TB)", text))
    return seconds, rss, spilled, last_written

def duck_run(data, q, limit):
    code = f"""
import duckdb
con = duckdb.connect(); con.execute("SET threads = 2")
{"con.execute(" + repr(f"SET memory_limit = '{limit}'") + ")" if limit else ""}
for stmt in {script(data, q, False)!r}.split(";"):
    if stmt.strip(): con.execute(stmt).fetchall()
"""
    seconds, rss, _ = run([sys.executable, "-c", code])
    return seconds, rss, last_written

def table(title, data, queries, limits):
    print(title)
    print(f"{'query':6} {'engine':8} {'limit':>6} {'seconds':>8} {'spilled MB':>10} {'written MB':>10} {'peak RSS MB':>11}")
    for q in queries:
        for limit in limits:
            med = lambda xs, i: statistics.median(x[i] for x in xs)
            try:
                s = [sluice_run(data, q, limit) for _ in range(rounds)]
                print(f"{q:6} {'sluice':8} {limit or 'none':>6} {med(s, 0):8.2f} {med(s, 2) / 1e6:10.1f} {med(s, 3) / 1e6:10.1f} {med(s, 1):11.0f}")
            except Failed as e:
                print(f"{q:6} {'sluice':8} {limit or 'none':>6} failed: {e}")
            try:
                d = [duck_run(data, q, limit) for _ in range(rounds)]
                print(f"{q:6} {'duckdb':8} {limit or 'none':>6} {med(d, 0):8.2f} {'-':>10} {med(d, 2) / 1e6:10.1f} {med(d, 1):11.0f}")
            except Failed as e:
                print(f"{q:6} {'duckdb':8} {limit or 'none':>6} failed: {e}")
    print()

table(f"TPC-H SF1 CSV at {sf1}, 2 threads, median of {rounds}: the cost of spilling", sf1, ["q09", "q18"], [None, "64MB"])
if sf10:
    table(f"TPC-H SF10 CSV at {sf10}, 2 threads, 1GB limit, median of {rounds}", sf10, ["q01", "q03", "q09", "q18"], ["1GB"])
