"""Runs TPC-H queries on Spark (local[2]) over the CSV files with TPC-H's DDL
types. One session for all of them; prints `startup SECONDS`, then per query
and round `QUERY SECONDS ROWS` (reading the CSV included, start-up not)."""
import sys, time, pathlib
data, rounds, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
here = pathlib.Path(__file__).parent
start = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").appName("sluice-bench")
         .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "6g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
ddl = {
    "nation": "n_nationkey INT, n_name STRING, n_regionkey INT, n_comment STRING",
    "region": "r_regionkey INT, r_name STRING, r_comment STRING",
    "part": "p_partkey INT, p_name STRING, p_mfgr STRING, p_brand STRING, p_type STRING, p_size INT, p_container STRING, p_retailprice DECIMAL(15,2), p_comment STRING",
    "supplier": "s_suppkey INT, s_name STRING, s_address STRING, s_nationkey INT, s_phone STRING, s_acctbal DECIMAL(15,2), s_comment STRING",
    "partsupp": "ps_partkey INT, ps_suppkey INT, ps_availqty INT, ps_supplycost DECIMAL(15,2), ps_comment STRING",
    "customer": "c_custkey INT, c_name STRING, c_address STRING, c_nationkey INT, c_phone STRING, c_acctbal DECIMAL(15,2), c_mktsegment STRING, c_comment STRING",
    "orders": "o_orderkey INT, o_custkey INT, o_orderstatus STRING, o_totalprice DECIMAL(15,2), o_orderdate DATE, o_orderpriority STRING, o_clerk STRING, o_shippriority INT, o_comment STRING",
    "lineitem": "l_orderkey INT, l_partkey INT, l_suppkey INT, l_linenumber INT, l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), l_tax DECIMAL(15,2), l_returnflag STRING, l_linestatus STRING, l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE, l_shipinstruct STRING, l_shipmode STRING, l_comment STRING",
}
for t, schema in ddl.items():
    spark.read.csv(f"{data}/{t}.csv", header=True, schema=schema).createOrReplaceTempView(t)
print(f"startup {time.perf_counter() - start:.3f}", flush=True)
for q in queries:
    sql = (here.parent / "tpch" / "queries" / f"{q}.sql").read_text().strip().rstrip(";")
    for _ in range(rounds):
        t0 = time.perf_counter()
        rows = spark.sql(sql).collect()
        print(f"{q} {time.perf_counter() - t0:.4f} {len(rows)}", flush=True)
spark.stop()
