#!/usr/bin/env python3
"""Runs every golden SQL file (sql/**/*.test) through DuckDB and reports where
DuckDB disagrees with the expected rows, so no wrong answer is locked in as
golden. Statements that Sluice expects to fail must fail in DuckDB too (the
messages differ and are not compared).

    Benchmarks/tpch/venv >/dev/null   # makes .venv-engine with the pinned duckdb
    .venv-engine/bin/python Tests/EngineTests/duckdb_check.py [FILE...]

Exit status 1 when DuckDB disagrees anywhere. Known, intended differences are
listed in KNOWN below with the reason."""
import datetime, decimal, math, pathlib, sys, tempfile
import duckdb

HERE = pathlib.Path(__file__).parent
DATA = str(HERE / "data")

# A record preceded by a `# duckdb: reason` comment differs from DuckDB on purpose
# (a Sluice extension, or a stricter error); it is listed, not counted.

def fmt_double(d):
    if math.isnan(d): return "nan"
    if math.isinf(d): return "inf" if d > 0 else "-inf"
    if d == int(d) and abs(d) < 1e15: return f"{int(d)}.0"
    return repr(d)

def render(v):
    if v is None: return "NULL"
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, decimal.Decimal): s = format(v, "f")
    elif isinstance(v, float): s = fmt_double(v)
    elif isinstance(v, datetime.datetime):
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond: s += ("." + f"{v.microsecond:06d}").rstrip("0")
    elif isinstance(v, datetime.date): s = v.isoformat()
    else: s = str(v)
    return "(empty)" if s == "" else s.replace("\n", "\\n").replace("\t", "\\t")

def same(a, b, real):
    if a == b: return True
    if not real: return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)

def records(path, scratch):
    lines = path.read_text().split("\n")
    i = 0
    known = None
    while i < len(lines):
        l = lines[i].strip()
        if l.startswith("# duckdb:"):
            known = l[len("# duckdb:"):].strip()
        if not l or l.startswith("#") or not (l.startswith("statement") or l.startswith("query")):
            i += 1; continue
        head, start = l, i + 1
        i += 1
        sql = []
        while i < len(lines) and lines[i].strip() and lines[i] != "----":
            sql.append(lines[i]); i += 1
        expected = []
        if i < len(lines) and lines[i] == "----":
            i += 1
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i]); i += 1
        yield start, head, "\n".join(sql).replace("__DATA__", DATA).replace("__SCRATCH__", scratch), expected, known
        known = None

def check(path):
    with tempfile.TemporaryDirectory(prefix="sluice-golden-") as scratch:
        return check_in(path, scratch)

def check_in(path, scratch):
    con = duckdb.connect()
    problems = 0
    for line, head, sql, expected, known in records(path, scratch):
        where = f"{path.relative_to(HERE)}:{line}"
        if known:
            try:
                con.execute(sql)   # keep the session's state as Sluice's
            except Exception:
                pass
            print(f"{where}: known difference: {known}")
            continue
        try:
            rel = con.execute(sql)
            # Fetch even for statements: DuckDB reads lazily and fails only then.
            rows = rel.fetchall() if rel.description is not None else []
            error = None
        except Exception as e:
            error = str(e).splitlines()[0]
        if head.startswith("statement error"):
            if error is None:
                print(f"{where}: Sluice expects an error, DuckDB succeeds"); problems += 1
            continue
        if error is not None:
            print(f"{where}: DuckDB fails: {error}"); problems += 1
            continue
        if not head.startswith("query"): continue
        parts = head.split()
        types = parts[1] if len(parts) > 1 else ""
        sort = parts[2] if len(parts) > 2 else "nosort"
        got = [[render(v) for v in r] for r in rows]
        if sort == "valuesort":
            actual = sorted(v for r in got for v in r)
        else:
            if sort == "rowsort": got.sort(key=lambda r: "\t".join(r))
            actual = ["\t".join(r) for r in got]
        ok = len(actual) == len(expected) and all(
            len(a.split("\t")) == len(e.split("\t")) and all(
                same(x, y, k < len(types) and types[k] == "R") for k, (x, y) in enumerate(zip(a.split("\t"), e.split("\t"))))
            for a, e in zip(actual, expected))
        if not ok:
            print(f"{where}: DuckDB disagrees\n  sql: {sql}\n  golden: {expected}\n  duckdb: {actual}"); problems += 1
    return problems

files = [pathlib.Path(p) for p in sys.argv[1:]] or sorted((HERE / "sql").rglob("*.test"))
total = sum(check(f.resolve()) for f in files)
print(f"{total} disagreement(s) in {len(files)} file(s)")
sys.exit(1 if total else 0)
