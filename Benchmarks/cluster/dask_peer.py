"""TPC-H Q1, Q3, Q5, Q6, Q10 and Q12 in dask.dataframe (Dask has no SQL) on a
local cluster of 2 worker processes of 1 thread, over the CSV files with
TPC-H's types (DECIMAL columns as float64: pandas has no fixed-point type).
Prints `startup SECONDS`, then per query and round `QUERY SECONDS ROWS`."""
import sys, time
data, rounds, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
import pandas as pd
import dask.dataframe as dd
from dask.distributed import Client, LocalCluster
I, F, S = "int32", "float64", "string"
cols = {
    "nation": {"n_nationkey": I, "n_name": S, "n_regionkey": I, "n_comment": S},
    "region": {"r_regionkey": I, "r_name": S, "r_comment": S},
    "supplier": {"s_suppkey": I, "s_name": S, "s_address": S, "s_nationkey": I, "s_phone": S, "s_acctbal": F, "s_comment": S},
    "customer": {"c_custkey": I, "c_name": S, "c_address": S, "c_nationkey": I, "c_phone": S, "c_acctbal": F, "c_mktsegment": S, "c_comment": S},
    "orders": {"o_orderkey": I, "o_custkey": I, "o_orderstatus": S, "o_totalprice": F, "o_orderdate": S, "o_orderpriority": S, "o_clerk": S, "o_shippriority": I, "o_comment": S},
    "lineitem": {"l_orderkey": I, "l_partkey": I, "l_suppkey": I, "l_linenumber": I, "l_quantity": F, "l_extendedprice": F, "l_discount": F, "l_tax": F, "l_returnflag": S, "l_linestatus": S, "l_shipdate": S, "l_commitdate": S, "l_receiptdate": S, "l_shipinstruct": S, "l_shipmode": S, "l_comment": S},
}
dates = {"orders": ["o_orderdate"], "lineitem": ["l_shipdate", "l_commitdate", "l_receiptdate"]}

def table(t, use):
    df = dd.read_csv(f"{data}/{t}.csv", dtype={c: cols[t][c] for c in use}, usecols=use, blocksize="64MB")
    for c in dates.get(t, []):
        if c in use:
            df[c] = dd.to_datetime(df[c], format="%Y-%m-%d")
    return df

D = pd.Timestamp
def q01():
    l = table("lineitem", ["l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount", "l_tax", "l_shipdate"])
    l = l[l.l_shipdate <= D("1998-09-02")]
    l = l.assign(disc=l.l_extendedprice * (1 - l.l_discount), charge=l.l_extendedprice * (1 - l.l_discount) * (1 + l.l_tax))
    g = l.groupby(["l_returnflag", "l_linestatus"]).agg(
        sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"), sum_disc_price=("disc", "sum"),
        sum_charge=("charge", "sum"), avg_qty=("l_quantity", "mean"), avg_price=("l_extendedprice", "mean"),
        avg_disc=("l_discount", "mean"), count_order=("l_quantity", "count"))
    return g.compute().sort_index()

def q03():
    c = table("customer", ["c_custkey", "c_mktsegment"]); c = c[c.c_mktsegment == "BUILDING"]
    o = table("orders", ["o_orderkey", "o_custkey", "o_orderdate", "o_shippriority"]); o = o[o.o_orderdate < D("1995-03-15")]
    l = table("lineitem", ["l_orderkey", "l_extendedprice", "l_discount", "l_shipdate"]); l = l[l.l_shipdate > D("1995-03-15")]
    j = c.merge(o, left_on="c_custkey", right_on="o_custkey").merge(l, left_on="o_orderkey", right_on="l_orderkey")
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"]).revenue.sum().reset_index()
    return g.nlargest(10, "revenue").compute()

def q05():
    r = table("region", ["r_regionkey", "r_name"]); r = r[r.r_name == "ASIA"]
    n = table("nation", ["n_nationkey", "n_name", "n_regionkey"])
    s = table("supplier", ["s_suppkey", "s_nationkey"])
    c = table("customer", ["c_custkey", "c_nationkey"])
    o = table("orders", ["o_orderkey", "o_custkey", "o_orderdate"]); o = o[(o.o_orderdate >= D("1994-01-01")) & (o.o_orderdate < D("1995-01-01"))]
    l = table("lineitem", ["l_orderkey", "l_suppkey", "l_extendedprice", "l_discount"])
    j = (r.merge(n, left_on="r_regionkey", right_on="n_regionkey").merge(c, left_on="n_nationkey", right_on="c_nationkey")
         .merge(o, left_on="c_custkey", right_on="o_custkey").merge(l, left_on="o_orderkey", right_on="l_orderkey")
         .merge(s, left_on=["l_suppkey", "n_nationkey"], right_on=["s_suppkey", "s_nationkey"]))
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    return j.groupby("n_name").revenue.sum().compute().sort_values(ascending=False)

def q06():
    l = table("lineitem", ["l_shipdate", "l_discount", "l_quantity", "l_extendedprice"])
    l = l[(l.l_shipdate >= D("1994-01-01")) & (l.l_shipdate < D("1995-01-01")) & (l.l_discount >= 0.05) & (l.l_discount <= 0.07) & (l.l_quantity < 24)]
    return pd.Series([(l.l_extendedprice * l.l_discount).sum().compute()])

def q10():
    c = table("customer", ["c_custkey", "c_name", "c_acctbal", "c_phone", "c_nationkey", "c_address", "c_comment"])
    o = table("orders", ["o_orderkey", "o_custkey", "o_orderdate"]); o = o[(o.o_orderdate >= D("1993-10-01")) & (o.o_orderdate < D("1994-01-01"))]
    l = table("lineitem", ["l_orderkey", "l_returnflag", "l_extendedprice", "l_discount"]); l = l[l.l_returnflag == "R"]
    n = table("nation", ["n_nationkey", "n_name"])
    j = c.merge(o, left_on="c_custkey", right_on="o_custkey").merge(l, left_on="o_orderkey", right_on="l_orderkey").merge(n, left_on="c_nationkey", right_on="n_nationkey")
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby(["c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment"]).revenue.sum().reset_index()
    return g.nlargest(20, "revenue").compute()

def q12():
    o = table("orders", ["o_orderkey", "o_orderpriority"])
    l = table("lineitem", ["l_orderkey", "l_shipmode", "l_commitdate", "l_receiptdate", "l_shipdate"])
    l = l[l.l_shipmode.isin(["MAIL", "SHIP"]) & (l.l_commitdate < l.l_receiptdate) & (l.l_shipdate < l.l_commitdate)
          & (l.l_receiptdate >= D("1994-01-01")) & (l.l_receiptdate < D("1995-01-01"))]
    j = o.merge(l, left_on="o_orderkey", right_on="l_orderkey")
    high = j.o_orderpriority.isin(["1-URGENT", "2-HIGH"])
    j = j.assign(high=high.astype("int64"), low=(~high).astype("int64"))
    return j.groupby("l_shipmode")[["high", "low"]].sum().compute().sort_index()

if __name__ == "__main__":   # the worker processes import this file again
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="8GiB")
    client = Client(cluster)
    print(f"startup {time.perf_counter() - start:.3f}", flush=True)
    for q in queries:
        f = globals()[q]
        for _ in range(rounds):
            t0 = time.perf_counter()
            rows = f()
            print(f"{q} {time.perf_counter() - t0:.4f} {len(rows)}", flush=True)
    client.close(); cluster.close()
