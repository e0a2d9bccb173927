"""Runs one TPC-H query in DuckDB or Polars over the CSV files with TPC-H's DDL
types, 2 threads; prints the seconds the query took (reading the CSV included)."""
import os, sys, time, pathlib
engine, data, query = sys.argv[1], sys.argv[2], sys.argv[3]
here = pathlib.Path(__file__).parent
sql = (here / "queries" / f"{query}.sql").read_text()

if engine == "duckdb":
    import duckdb
    from tpch_schema import create_views
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    create_views(con, data)
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - start
elif engine == "polars":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    import polars as pl
    D = pl.Decimal(15, 2)
    schemas = {
        "nation": {"n_nationkey": pl.Int32, "n_name": pl.Utf8, "n_regionkey": pl.Int32, "n_comment": pl.Utf8},
        "region": {"r_regionkey": pl.Int32, "r_name": pl.Utf8, "r_comment": pl.Utf8},
        "part": {"p_partkey": pl.Int32, "p_name": pl.Utf8, "p_mfgr": pl.Utf8, "p_brand": pl.Utf8, "p_type": pl.Utf8, "p_size": pl.Int32, "p_container": pl.Utf8, "p_retailprice": D, "p_comment": pl.Utf8},
        "supplier": {"s_suppkey": pl.Int32, "s_name": pl.Utf8, "s_address": pl.Utf8, "s_nationkey": pl.Int32, "s_phone": pl.Utf8, "s_acctbal": D, "s_comment": pl.Utf8},
        "partsupp": {"ps_partkey": pl.Int32, "ps_suppkey": pl.Int32, "ps_availqty": pl.Int32, "ps_supplycost": D, "ps_comment": pl.Utf8},
        "customer": {"c_custkey": pl.Int32, "c_name": pl.Utf8, "c_address": pl.Utf8, "c_nationkey": pl.Int32, "c_phone": pl.Utf8, "c_acctbal": D, "c_mktsegment": pl.Utf8, "c_comment": pl.Utf8},
        "orders": {"o_orderkey": pl.Int32, "o_custkey": pl.Int32, "o_orderstatus": pl.Utf8, "o_totalprice": D, "o_orderdate": pl.Date, "o_orderpriority": pl.Utf8, "o_clerk": pl.Utf8, "o_shippriority": pl.Int32, "o_comment": pl.Utf8},
        "lineitem": {"l_orderkey": pl.Int32, "l_partkey": pl.Int32, "l_suppkey": pl.Int32, "l_linenumber": pl.Int32, "l_quantity": D, "l_extendedprice": D, "l_discount": D, "l_tax": D, "l_returnflag": pl.Utf8, "l_linestatus": pl.Utf8, "l_shipdate": pl.Date, "l_commitdate": pl.Date, "l_receiptdate": pl.Date, "l_shipinstruct": pl.Utf8, "l_shipmode": pl.Utf8, "l_comment": pl.Utf8},
    }
    frames = {t: pl.scan_csv(f"{data}/{t}.csv", schema=s) for t, s in schemas.items()}
    ctx = pl.SQLContext(frames=frames)
    start = time.perf_counter()
    rows = ctx.execute(sql.rstrip().rstrip(";"), eager=True).rows()
    elapsed = time.perf_counter() - start
else:
    raise SystemExit(f"unknown engine {engine}")
print(f"{elapsed:.4f} {len(rows)}")
