"""TPC-H's tables as DuckDB views over the CSV files (schema.sql, DDL types)."""
import pathlib

HERE = pathlib.Path(__file__).parent

def create_views(con, data):
    schema = "\n".join(l for l in (HERE / "schema.sql").read_text().splitlines() if not l.startswith("--"))
    for stmt in schema.replace("${DATA}", data).split(";"):
        if stmt.strip():
            con.execute(stmt)
