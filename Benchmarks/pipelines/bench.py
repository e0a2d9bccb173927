"""The example backfill against the same SQL by hand.

Orchestrated: `sluice backfill start examples/lake/pipeline.yaml --from D1
--to D60 --max-active-runs N --wait` on `sluice local --workers 2`.

By hand: for each date, each model of the example in dependency order, one
`sluice query` with the statements the pipeline's model runner executes
(source views, COPY of the SELECT to a staging file, the output's INSERT
OVERWRITE), one date after another, as someone would script it without an
orchestrator. Both write the same partitions; the by-hand pass runs second,
over datasets that exist.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

binary, root, days, per_day, max_active = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
work = tempfile.mkdtemp(prefix="sluice-bench-pipelines-")
port = 7400 + os.getpid() % 500
env = dict(os.environ, SLUICE_COORDINATOR=f"127.0.0.1:{port}", SLUICE_SECRET_FILE=f"{work}/cluster/secret")


def sluice(*args, check=True):
    r = subprocess.run([binary, *args], cwd=work, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"sluice {' '.join(args[:3])}: {r.stderr}")
    return r


def day(i):
    return time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2026, 9, 1 + i, 12, 0, 0, 0, 0, 0))))


local = None
try:
    subprocess.run([f"{root}/examples/lake/generate", f"{work}/lake", "--days", str(days + 3), "--per-day", str(per_day)],
                   env=dict(os.environ, SLUICE=binary), check=True, capture_output=True)
    shutil.copy(f"{root}/examples/lake/pipeline.yaml", f"{work}/pipeline.yaml")
    local = subprocess.Popen([binary, "local", "--workers", "2", "--port", str(port), "--data-dir", f"{work}/cluster"], cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(200):
        if sluice("status", check=False).returncode == 0 and "alive" in sluice("status", check=False).stdout:
            break
        time.sleep(0.1)

    start = time.time()
    r = sluice("backfill", "start", "pipeline.yaml", "--from", day(0), "--to", day(days - 1), "--max-active-runs", str(max_active), "--wait", "--json")
    orchestrated = time.time() - start
    b = json.loads(r.stdout)
    assert b["state"] == "succeeded" and b["done"] == days, b
    # Again one run at a time: the orchestration's own cost per run, without its concurrency.
    start = time.time()
    r = sluice("backfill", "start", "pipeline.yaml", "--from", day(0), "--to", day(days - 1), "--max-active-runs", "1", "--reprocess", "all", "--wait", "--json")
    serial = time.time() - start
    assert json.loads(r.stdout)["done"] == days

    raw = f"{work}/lake/raw"
    sales = (f"read_csv('{raw}/sales/*/*.csv', header=true, columns={{'sale_id': 'BIGINT', 'sold_at': 'TIMESTAMP', 'customer_id': 'BIGINT', "
             f"'product_id': 'BIGINT', 'quantity': 'INTEGER', 'unit_price': 'DECIMAL(10,2)'}}, on_error='quarantine', quarantine='{work}/q.csv')")
    customers = f"read_csv('{raw}/customers/*.csv', header=true, columns={{'customer_id': 'BIGINT', 'name': 'VARCHAR', 'country': 'VARCHAR', 'updated_at': 'TIMESTAMP'}})"
    products = f"read_csv('{raw}/products.csv', header=true, columns={{'product_id': 'BIGINT', 'name': 'VARCHAR', 'category': 'VARCHAR', 'unit_price': 'DECIMAL(10,2)'}})"
    st = f"{work}/by-hand"
    os.makedirs(st, exist_ok=True)

    def models(d):
        D = f"DATE '{d}'"
        return [
            f"CREATE VIEW raw_sales AS SELECT * FROM {sales}; COPY (SELECT sale_id, sold_at, customer_id, product_id, quantity, unit_price, date AS landed "
            f"FROM raw_sales WHERE date BETWEEN {D} AND {D} + 3 AND CAST(sold_at AS DATE) = {D}) TO '{st}/bronze.sluice' (FORMAT sluice)",
            f"CREATE VIEW bronze_sales AS SELECT * FROM '{st}/bronze.sluice'; COPY (SELECT sale_id, sold_at, customer_id, product_id, quantity, unit_price, "
            f"quantity * unit_price AS amount FROM (SELECT *, row_number() OVER (PARTITION BY sale_id ORDER BY landed) AS delivery FROM bronze_sales) "
            f"WHERE delivery = 1) TO '{st}/silver.sluice' (FORMAT sluice); INSERT OVERWRITE silver_sales PARTITION (date = '{d}') SELECT * FROM '{st}/silver.sluice'",
            f"CREATE VIEW raw_customers AS SELECT * FROM {customers}; COPY (SELECT customer_id, name, country FROM (SELECT *, row_number() OVER "
            f"(PARTITION BY customer_id ORDER BY updated_at DESC) AS version FROM raw_customers) WHERE version = 1) TO '{st}/customers.sluice' (FORMAT sluice)",
            f"CREATE VIEW products AS SELECT * FROM {products}; CREATE VIEW silver_sales_run AS SELECT * FROM '{st}/silver.sluice'; "
            f"CREATE VIEW customers AS SELECT * FROM '{st}/customers.sluice'; COPY (SELECT c.country, p.category, count(*) AS orders, sum(s.quantity) AS units, "
            f"sum(s.amount) AS revenue FROM silver_sales_run s JOIN customers c ON c.customer_id = s.customer_id JOIN products p ON p.product_id = s.product_id "
            f"GROUP BY c.country, p.category) TO '{st}/gold.sluice' (FORMAT sluice); INSERT OVERWRITE gold_revenue PARTITION (date = '{d}') SELECT * FROM '{st}/gold.sluice'",
            f"CREATE VIEW products AS SELECT * FROM {products}; CREATE VIEW silver_sales_run AS SELECT * FROM '{st}/silver.sluice'; "
            f"COPY (SELECT p.name AS product, sum(s.quantity) AS units, sum(s.amount) AS revenue FROM silver_sales_run s JOIN products p ON p.product_id = s.product_id "
            f"GROUP BY p.name ORDER BY revenue DESC, product LIMIT 5) TO '{st}/top.sluice' (FORMAT sluice); "
            f"INSERT OVERWRITE gold_top_products PARTITION (date = '{d}') SELECT * FROM '{st}/top.sluice'",
        ]

    start = time.time()
    for i in range(days):
        for sql in models(day(i)):
            sluice("query", sql)
    by_hand = time.time() - start

    print(f"example backfill, {days} daily partitions, {per_day} sales a day, 2 local workers:")
    print(f"  {'':34} {'seconds':>8} {'runs/min':>9} {'s/run':>7}")
    print(f"  {'sluice backfill (max-active ' + str(max_active) + ')':34} {orchestrated:8.2f} {days / orchestrated * 60:9.1f} {orchestrated / days:7.3f}")
    print(f"  {'sluice backfill (max-active 1)':34} {serial:8.2f} {days / serial * 60:9.1f} {serial / days:7.3f}")
    print(f"  {'by hand, one sluice query a model':34} {by_hand:8.2f} {days / by_hand * 60:9.1f} {by_hand / days:7.3f}")
    print(f"  time against by hand: {orchestrated / by_hand:.2f}x (max-active {max_active}), {serial / by_hand:.2f}x (one run at a time)")
finally:
    if local:
        local.send_signal(signal.SIGINT)
        try:
            local.wait(timeout=20)
        except subprocess.TimeoutExpired:
            local.kill()
    shutil.rmtree(work, ignore_errors=True)
