"""Arrow IPC (LZ4 frame) on the same lineitem batches: pyarrow reads the CSV with
TPC-H's types, re-chunks to Sluice's batch size, then writes and reads an IPC
stream in memory, 1 thread (Sluice's codec runs on one). Prints one JSON line."""
import io, json, sys, time
import pyarrow as pa, pyarrow.csv as csv, pyarrow.ipc as ipc

data, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
pa.set_cpu_count(1)
D = pa.decimal128(15, 2)
types = {"l_orderkey": pa.int32(), "l_partkey": pa.int32(), "l_suppkey": pa.int32(), "l_linenumber": pa.int32(),
         "l_quantity": D, "l_extendedprice": D, "l_discount": D, "l_tax": D, "l_returnflag": pa.string(),
         "l_linestatus": pa.string(), "l_shipdate": pa.date32(), "l_commitdate": pa.date32(), "l_receiptdate": pa.date32(),
         "l_shipinstruct": pa.string(), "l_shipmode": pa.string(), "l_comment": pa.string()}
table = csv.read_csv(f"{data}/lineitem.csv", convert_options=csv.ConvertOptions(column_types=types))
batches = table.to_batches(max_chunksize=16384)
raw = sum(b.nbytes for b in batches)
best_w = best_r = float("inf")
for _ in range(rounds):
    sink = io.BytesIO()
    t = time.perf_counter()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="lz4", use_threads=False)) as w:
        for b in batches:
            w.write_batch(b)
    best_w = min(best_w, time.perf_counter() - t)
    buf = sink.getvalue()
    t = time.perf_counter()
    rows = sum(b.num_rows for b in ipc.open_stream(pa.BufferReader(buf), options=ipc.IpcReadOptions(use_threads=False)))
    best_r = min(best_r, time.perf_counter() - t)
    assert rows == table.num_rows
print(json.dumps({"engine": "arrow-ipc", "rows": table.num_rows, "batches": len(batches), "columns": table.num_columns,
                  "raw_bytes": raw, "encoded_bytes": len(buf), "encode_s": best_w, "decode_s": best_r}))
