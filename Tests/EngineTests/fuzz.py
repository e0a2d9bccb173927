#!/usr/bin/env python3
"""Differential fuzzer: random small tables (NULLs, duplicates, an empty one,
every column type) and random queries from a grammar of joins, subqueries
(correlated too), set operations, windows and aggregates, answered by DuckDB
and written as a golden file (sqllogictest format) that Sluice must then
agree with. A query DuckDB refuses becomes `statement error` (any error of
Sluice's agrees with it, whatever its text).

    .venv-engine/bin/python Tests/EngineTests/fuzz.py --seed 1 --queries 400 --out FILE

Only deterministic queries are made: a window that numbers rows or reads
neighbours orders by a unique column, LIMIT comes with an ORDER BY of every
output column, and unordered results are compared as multisets (rowsort).
`DifferentialFuzzTests` runs a fixed seed; run longer budgets by hand."""
import argparse, pathlib, random, sys
import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).parent))
ns = {"__file__": str(pathlib.Path(__file__).parent / "duckdb_check.py")}
exec(open(ns["__file__"]).read().split("def records(")[0], ns)
render = ns["render"]

COLUMNS = [("i", "INTEGER"), ("b", "BIGINT"), ("d", "DOUBLE"), ("m", "DECIMAL(10,2)"), ("s", "VARCHAR"), ("dt", "DATE"), ("f", "BOOLEAN"),
           ("t", "TINYINT"), ("u", "UINTEGER"), ("h", "HUGEINT")]
NUMERIC = ["i", "b", "d", "m", "t", "u", "h"]


class Gen:
    def __init__(self, rng):
        self.r = rng

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    # Tables: id is unique (windows that number rows order by it).
    def value(self, col, typ):
        if self.chance(0.15):
            return f"CAST(NULL AS {typ})"
        r = self.r
        if typ in ("INTEGER", "BIGINT", "TINYINT", "HUGEINT"):
            return f"CAST({r.randint(-3, 6)} AS {typ})"
        if typ == "UINTEGER":
            return f"CAST({r.randint(0, 6)} AS {typ})"
        if typ == "DOUBLE":
            return f"CAST({r.choice(['0.5', '1.25', '-2.0', '3.0', '10.75', '0.0'])} AS DOUBLE)"
        if typ.startswith("DECIMAL"):
            return f"CAST({r.choice(['1.50', '2.25', '-0.75', '3.00', '10.10', '0.00'])} AS {typ})"
        if typ == "VARCHAR":
            return "'" + r.choice(["a", "b", "ab", "B", "", "abc", "z"]) + "'"
        if typ == "DATE":
            return f"DATE '2026-01-{r.randint(1, 9):02d}'"
        return r.choice(["TRUE", "FALSE"])

    def tables(self):
        out = []
        for t in range(3):
            rows = 0 if t == 2 and self.chance(0.5) else self.r.randint(1, 10)
            cols = ", ".join(f"{c} {ty}" for c, ty in [("id", "INTEGER")] + COLUMNS)
            out.append(f"CREATE TABLE t{t} ({cols})")
            if rows:
                vals = ", ".join("(" + ", ".join([str(k)] + [self.value(c, ty) for c, ty in COLUMNS]) + ")" for k in range(rows))
                out.append(f"INSERT INTO t{t} VALUES {vals}")
        return out

    # Expressions over the columns of alias `a`.
    def num(self, a, depth=0):
        c = f"{a}.{self.pick(NUMERIC)}"
        if depth > 1 or self.chance(0.5):
            return c
        k = self.r.randint(0, 4)
        if k == 0: return f"({c} + {self.num(a, depth + 1)})"
        if k == 1: return f"({c} * 2)"
        if k == 2: return f"coalesce({c}, 0)"
        if k == 3: return f"abs({c})"
        return f"CASE WHEN {self.pred(a, depth + 1)} THEN {c} ELSE 1 END"

    def scalar(self, a, kind=None):
        """An expression and its kind (num, str, date, bool): set operations pair columns of one kind."""
        kind = kind or self.pick(["num", "num", "num", "str", "str", "date", "bool"])
        if kind == "num": return self.num(a)
        if kind == "str": return self.pick([f"{a}.s", f"upper({a}.s)"])
        if kind == "date": return f"{a}.dt"
        return f"{a}.f"

    def pred(self, a, depth=0):
        k = self.r.randint(0, 9)
        if k == 9: return f"regexp_matches({a}.s, '{self.pick(['^a', 'b$', '[ab]+', 'z|a', '^$'])}')"
        if k == 0: return f"{self.num(a, 1)} > {self.r.randint(-1, 4)}"
        if k == 1: return f"{a}.s {self.pick(['=', '<>', '<'])} '{self.pick(['a', 'ab', 'z'])}'"
        if k == 2: return f"{a}.{self.pick(NUMERIC + ['s', 'dt'])} IS {self.pick(['', 'NOT '])}NULL"
        if k == 3: return f"{a}.i IN ({', '.join(str(self.r.randint(-2, 5)) for _ in range(3))})"
        if k == 4: return f"{a}.dt BETWEEN DATE '2026-01-02' AND DATE '2026-01-06'"
        if k == 5: return f"{a}.s LIKE '{self.pick(['a%', '%b', '_'])}'"
        if k == 6 and depth == 0: return f"({self.pred(a, 1)} {self.pick(['AND', 'OR'])} {self.pred(a, 1)})"
        if k == 7: return f"{a}.f"
        return f"NOT ({a}.i = {a}.b)"

    # Subqueries (correlated with alias `a` or not).
    def subquery_pred(self, a):
        u = self.pick(["t0", "t1", "t2"])
        corr = f"u.{self.pick(['i', 'b', 's'])} = {a}.{self.pick(['i', 'b', 's'])}" if self.chance(0.7) else self.pred("u")
        corr = corr.replace("u.s = " + a + ".i", "u.i = " + a + ".i").replace("u.s = " + a + ".b", "u.b = " + a + ".b")
        corr = corr.replace("u.i = " + a + ".s", "u.s = " + a + ".s").replace("u.b = " + a + ".s", "u.s = " + a + ".s")
        k = self.r.randint(0, 5)
        extra = f" AND {self.pred('u')}" if self.chance(0.4) else ""
        if k == 0: return f"EXISTS (SELECT 1 FROM {u} u WHERE {corr}{extra})"
        if k == 1: return f"NOT EXISTS (SELECT 1 FROM {u} u WHERE {corr}{extra})"
        if k == 2: return f"{a}.i IN (SELECT u.i FROM {u} u WHERE {corr}{extra})"
        if k == 3: return f"{a}.i NOT IN (SELECT u.i FROM {u} u WHERE {corr}{extra})"
        if k == 4: return f"{a}.b > (SELECT {self.pick(['min', 'max', 'sum', 'count'])}(u.b) FROM {u} u WHERE {corr})"
        if k == 5 and self.chance(0.5):
            # Quantified comparisons, and correlations under a UNION, a LIMIT, VALUES or a FULL join (computed per distinct outer value).
            w = self.pick(["t0", "t1", "t2"])
            j = self.r.randint(0, 5)
            if j == 0: return f"{a}.i {self.pick(['<', '<=', '>', '>=', '=', '<>'])} {self.pick(['ANY', 'ALL', 'SOME'])} (SELECT u.i FROM {u} u WHERE {corr}{extra})"
            if j == 1: return f"EXISTS (SELECT u.i FROM {u} u WHERE {corr} UNION ALL SELECT w.i FROM {w} w WHERE w.b > {a}.b)"
            if j == 2: return f"{a}.i IN (SELECT u.i FROM {u} u WHERE u.b <= {a}.b ORDER BY u.i, u.id LIMIT 2)"
            if j == 3: return f"{a}.b > (SELECT count(*) FROM (SELECT u.b FROM {u} u WHERE {corr} UNION SELECT w.b FROM {w} w WHERE w.i < {a}.i) x)"
            if j == 4: return f"{a}.b >= (SELECT max(x) FROM (VALUES ({a}.i), ({a}.t), ({self.r.randint(-1, 4)})) v(x))"
            return f"{a}.i < (SELECT count(x.id) FROM (SELECT * FROM {u} u WHERE u.b > {a}.b) x FULL JOIN {w} y ON x.i = y.i)"
        return f"{a}.i IN (SELECT u.i FROM {u} u WHERE {self.pred('u')})"

    def window(self, a, aliases):
        # Rows are told apart by the ids of every table joined (one side's is NULL in an outer join's extra rows).
        ids = ", ".join(f"{x}.id" for x in aliases)
        part = f"PARTITION BY {a}.{self.pick(['s', 'f', 'i'])} " if self.chance(0.6) else ""
        k = self.r.randint(0, 6)
        if k == 0: return f"row_number() OVER ({part}ORDER BY {ids})"
        if k == 1: return f"{self.pick(['rank', 'dense_rank'])}() OVER ({part}ORDER BY {a}.{self.pick(NUMERIC)})"
        if k == 2: return f"{self.pick(['sum', 'count', 'min', 'max'])}({a}.{self.pick(['i', 'b', 'm'])}) OVER ({part}ORDER BY {a}.{self.pick(NUMERIC)})"
        if k == 3: return f"{self.pick(['lag', 'lead'])}({a}.{self.pick(['i', 's'])}) OVER ({part}ORDER BY {ids})"
        if k == 4: return f"sum({a}.i) OVER ({part}ORDER BY {ids} ROWS BETWEEN {self.r.randint(0, 2)} PRECEDING AND {self.r.randint(0, 2)} FOLLOWING)"
        if k == 5: return f"count(*) OVER ({part.strip()})"
        return f"first_value({a}.s) OVER ({part}ORDER BY {ids})"

    def from_clause(self):
        t = self.pick(["t0", "t1", "t2"])
        if self.chance(0.5):
            return f"{t} a", ["a"]
        u = self.pick(["t0", "t1", "t2"])
        kind = self.pick(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "JOIN"])
        on = f"a.{self.pick(['i', 'b'])} = c.{self.pick(['i', 'b'])}"
        if self.chance(0.3): on += f" AND {self.pred('c')}"
        if self.chance(0.1): return f"{t} a CROSS JOIN {u} c", ["a", "c"]
        return f"{t} a {kind} {u} c ON {on}", ["a", "c"]

    def select(self, kinds=None):
        """A SELECT and the kinds of its columns; given `kinds`, a plain SELECT with columns of those kinds."""
        frm, aliases = self.from_clause()
        a = aliases[0]
        where = []
        if self.chance(0.5): where.append(self.pred(self.pick(aliases)))
        if self.chance(0.3): where.append(self.subquery_pred(a))
        w = (" WHERE " + " AND ".join(where)) if where else ""
        if kinds is None and self.chance(0.35):
            # Grouped.
            g = f"{a}.{self.pick(['s', 'i', 'f', 'dt'])}"
            aggs = [f"{self.pick(['count', 'sum', 'min', 'max', 'avg'])}({self.num(self.pick(aliases))})" for _ in range(self.r.randint(1, 3))]
            if self.chance(0.3): aggs.append(f"count(DISTINCT {a}.s)")
            if self.chance(0.2): aggs.append("count(*)")
            ordered_aggs = []
            if self.chance(0.2):
                # Ordered aggregates, ordered by every joined table's id so that the order is one.
                ids = ", ".join(f"{x}.id" for x in aliases)
                ordered_aggs.append(self.pick([f"string_agg({a}.s, ',' ORDER BY {ids})", f"string_agg({a}.s, '|' ORDER BY {a}.s DESC, {ids})"]))
            having = f" HAVING count(*) > {self.r.randint(0, 2)}" if self.chance(0.3) else ""
            if self.chance(0.2):
                ids = ", ".join(f"{x}.id" for x in aliases)
                aggs.append(f"{self.pick(['first', 'last'])}({a}.{self.pick(['i', 'b'])} ORDER BY {ids})")
            items = [g] + aggs
            if self.chance(0.2): items.append(f"rank() OVER (ORDER BY count(*))")
            items += ordered_aggs
            sql = f"SELECT {', '.join(f'{e} AS c{k}' for k, e in enumerate(items))} FROM {frm}{w} GROUP BY {g}{having}"
            kinds = [{"s": "str", "i": "num", "f": "bool", "dt": "date"}[g.split(".")[1]]] + ["num"] * (len(items) - 1 - len(ordered_aggs)) + ["str"] * len(ordered_aggs)
            return sql, kinds
        wanted = kinds or [self.pick(["num", "num", "num", "str", "str", "date", "bool"]) for _ in range(self.r.randint(1, 3))]
        items = [self.scalar(self.pick(aliases), k) for k in wanted]
        out = list(wanted)
        if kinds is None and self.chance(0.3): items.append(self.window(a, aliases)); out.append("window")
        if kinds is None and self.chance(0.15): items.append(f"(SELECT max(u.i) FROM t1 u WHERE u.s = {a}.s)"); out.append("num")
        distinct = "DISTINCT " if self.chance(0.15) else ""
        return f"SELECT {distinct}{', '.join(f'{e} AS c{k}' for k, e in enumerate(items))} FROM {frm}{w}", out

    def recursive(self):
        """A recursive CTE: rows of a table, then walks along another's `i` for a few rounds."""
        t, u = self.pick(["t0", "t1", "t2"]), self.pick(["t0", "t1", "t2"])
        union = self.pick(["UNION", "UNION ALL"])
        return (f"WITH RECURSIVE r(n, x) AS (SELECT a.id, a.i FROM {t} a WHERE {self.pred('a')} {union} "
                f"SELECT r.n + 1, c.b FROM r JOIN {u} c ON c.i = r.x WHERE r.n < {self.r.randint(1, 4)}) SELECT n, x FROM r"), ["num", "num"]

    def query(self):
        sql, kinds = self.recursive() if self.chance(0.05) else self.select()
        n = len(kinds)
        if self.chance(0.25) and "window" not in kinds:
            other, _ = self.select(kinds)
            op = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"])
            sql = f"{sql} {op} {other}"
        ordered = False
        if self.chance(0.25):
            sql += " ORDER BY " + ", ".join(str(k + 1) for k in range(n))
            ordered = True
            if self.chance(0.5): sql += f" LIMIT {self.r.randint(0, 4)}"
        return sql, ordered


def letter(t):
    t = str(t).upper()
    if any(t.startswith(x) for x in ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER")): return "I"
    if t.startswith("DECIMAL") or t in ("DOUBLE", "FLOAT"): return "R"
    return "T"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    g = Gen(random.Random(args.seed))
    con = duckdb.connect()
    lines = [f"# Made by Tests/EngineTests/fuzz.py --seed {args.seed} --queries {args.queries}; answers from DuckDB {duckdb.__version__}."]
    for stmt in g.tables():
        con.execute(stmt)
        lines += ["statement ok", stmt, ""]
    errors = 0
    for _ in range(args.queries):
        sql, ordered = g.query()
        try:
            rel = con.execute(sql)
            rows = rel.fetchall()
        except Exception:
            errors += 1
            lines += ["statement error", sql, ""]
            continue
        types = "".join(letter(d[1]) for d in rel.description)
        got = [[render(v) for v in r] for r in rows]
        if not ordered: got.sort(key=lambda r: "\t".join(r))
        lines += [f"query {types}{'' if ordered else ' rowsort'}", sql, "----"] + ["\t".join(r) for r in got] + [""]
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"{args.queries} queries ({errors} refused by DuckDB) written to {args.out}")


main()
