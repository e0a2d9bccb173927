"""Times SQL feature queries in Sluice and DuckDB on the same CSV files (see run)."""
import os, statistics, subprocess, sys, time
import duckdb

sluice, data = sys.argv[1], sys.argv[2]
rounds = int(os.environ.get("ROUNDS", "3"))
L, O = f"'{data}/lineitem.csv'", f"'{data}/orders.csv'"
queries = {
    "row_number per order": f"SELECT count(*), sum(rn) FROM (SELECT row_number() OVER (PARTITION BY l_orderkey ORDER BY l_linenumber) AS rn FROM {L}) t",
    "running sum per part": f"SELECT sum(s) FROM (SELECT sum(l_quantity) OVER (PARTITION BY l_partkey ORDER BY l_orderkey, l_linenumber) AS s FROM {L}) t",
    "rank over all rows": f"SELECT max(r) FROM (SELECT rank() OVER (ORDER BY l_extendedprice) AS r FROM {L}) t",
    "sliding avg (11 rows)": f"SELECT round(sum(m), 3) FROM (SELECT avg(l_quantity) OVER (ORDER BY l_orderkey, l_linenumber ROWS BETWEEN 5 PRECEDING AND 5 FOLLOWING) AS m FROM {L}) t",
    "top 3 per customer (QUALIFY)": f"SELECT count(*), sum(o_totalprice) FROM (SELECT o_custkey, o_totalprice FROM {O} QUALIFY row_number() OVER (PARTITION BY o_custkey ORDER BY o_totalprice DESC, o_orderkey) <= 3) t",
    "correlated scalar (Q17 shape)": f"SELECT count(*) FROM {L} l WHERE l_quantity > (SELECT avg(l_quantity) FROM {L} x WHERE x.l_partkey = l.l_partkey)",
    "NOT EXISTS (anti join)": f"SELECT count(*) FROM {O} o WHERE NOT EXISTS (SELECT 1 FROM {L} l WHERE l.l_orderkey = o.o_orderkey AND l.l_returnflag = 'R')",
    "EXCEPT ALL": f"SELECT count(*) FROM (SELECT l_suppkey FROM {L} WHERE l_quantity > 10 EXCEPT ALL SELECT l_suppkey FROM {L} WHERE l_quantity > 40) t",
    "ROLLUP": f"SELECT count(*), sum(s) FROM (SELECT l_returnflag, l_linestatus, l_shipmode, sum(l_quantity) AS s FROM {L} GROUP BY ROLLUP (l_returnflag, l_linestatus, l_shipmode)) t",
    "count(DISTINCT)": f"SELECT count(DISTINCT l_orderkey * 10 + l_linenumber) FROM {L}",
    "approx_count_distinct": f"SELECT approx_count_distinct(l_orderkey * 10 + l_linenumber) FROM {L}",
    "regexp_matches": f"SELECT count(*) FROM {L} WHERE regexp_matches(l_comment, '(fur|quick)[a-z]* (de|pa)')",
    "regexp_replace (global)": f"SELECT sum(length(regexp_replace(l_comment, '[aeiou]', '', 'g'))) FROM {L}",
    "strftime": f"SELECT count(DISTINCT strftime(l_shipdate, '%Y/%m %a')) FROM {L}",
    "ordered string_agg": f"SELECT sum(length(s)) FROM (SELECT string_agg(l_shipmode, ',' ORDER BY l_linenumber DESC) AS s FROM {L} GROUP BY l_orderkey) t",
    "EXISTS over a UNION (flattened)": f"SELECT count(*) FROM {O} o WHERE EXISTS (SELECT 1 FROM {L} l WHERE l.l_orderkey = o.o_orderkey AND l.l_quantity > 49 UNION ALL SELECT 1 FROM {L} l2 WHERE l2.l_orderkey = o.o_orderkey AND l2.l_discount > 0.09)",
    "> ALL (quantified)": f"SELECT count(*) FROM {O} o WHERE o.o_totalprice > ALL (SELECT 2 * l.l_extendedprice FROM {L} l WHERE l.l_orderkey = o.o_orderkey)",
    "recursive CTE (10k rounds)": "WITH RECURSIVE t(n, s) AS (SELECT 1, 0::BIGINT UNION ALL SELECT n + 1, s + n FROM t WHERE n < 10000) SELECT max(n), max(s) FROM t",
}

def run_sluice(sql):
    t = time.perf_counter()
    r = subprocess.run([sluice, "query", "--local", "--threads", "2", "--format", "csv", sql], capture_output=True, text=True)
    if r.returncode != 0: raise SystemExit(f"sluice failed: {r.stderr}")
    return time.perf_counter() - t, r.stdout.strip().splitlines()[1:]

con = duckdb.connect()
con.execute("SET threads TO 2")
def run_duckdb(sql):
    t = time.perf_counter()
    rows = con.execute(sql.replace(f"{L}", f"read_csv({L}, header=true)").replace(f"{O}", f"read_csv({O}, header=true)")).fetchall()
    return time.perf_counter() - t, rows

print(f"SQL features on {data}; median of {rounds}; both at 2 threads (Sluice's time includes starting its process)")
print(f"{'query':32} {'sluice':>8} {'duckdb':>8} {'ratio':>7}  answers")
ratios = []
only = os.environ.get("ONLY", "")   # a part of the names of the queries to run (all by default)
for name, sql in queries.items():
    if only and only not in name: continue
    s, d = [], []
    for _ in range(rounds):
        ts, srows = run_sluice(sql); s.append(ts)
        td, drows = run_duckdb(sql); d.append(td)
    ms, md = statistics.median(s), statistics.median(d)
    ratios.append(ms / md)
    approx = "approx" in name
    def cells_agree(a, b):
        try: return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)), 1)
        except ValueError: return a == b
    theirs = [[str(v) for v in r] for r in drows]
    mine = [r.split(",") for r in srows]
    agree = len(mine) == len(theirs) and all(len(m) == len(t) and all(cells_agree(x, y) for x, y in zip(m, t)) for m, t in zip(mine, theirs))
    same = "differ (a sketch)" if approx else ("agree" if agree else f"DIFFER: {srows} vs {drows}")
    print(f"{name:32} {ms:8.2f} {md:8.2f} {ms / md:6.2f}x  {same}")
print(f"{'geomean ratio':32} {'':8} {'':8} {statistics.geometric_mean(ratios):6.2f}x")
