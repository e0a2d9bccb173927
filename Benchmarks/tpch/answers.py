"""Computes DuckDB's answers to Benchmarks/tpch/queries over CSV data.

Each answer file is CSV: a first line `#types:` with DuckDB's result types, then a
header and the rows. Decimals are written exactly, doubles with repr (the Sluice
test compares DOUBLE columns to 1e-9 relative)."""
import csv, decimal, os, sys, pathlib
import duckdb
from tpch_schema import create_views

here = pathlib.Path(__file__).parent
data, out = sys.argv[1], pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
con = duckdb.connect()
con.execute("SET threads TO 2")
create_views(con, data)

def text(v):
    if v is None:
        return ""
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)

for q in sorted((here / "queries").glob("q*.sql")):
    rel = con.execute(q.read_text())
    types = [str(d[1]) for d in rel.description]
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()
    with open(out / (q.stem + ".csv"), "w", newline="") as f:
        f.write("#types:" + ",".join(types) + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for r in rows:
            w.writerow([text(v) for v in r])
    print(q.stem, len(rows), "rows")
