"""Prints the codec benchmark's JSON lines as a table."""
import json, sys

print(f"{'codec':<10}{'rows':>9}{'raw MB':>9}{'encoded MB':>12}{'ratio':>7}{'encode MB/s':>13}{'decode MB/s':>13}")
for line in sys.stdin:
    r = json.loads(line)
    raw = r["raw_bytes"] / 1e6
    print(f"{r['engine']:<10}{r['rows']:>9}{raw:>9.1f}{r['encoded_bytes'] / 1e6:>12.1f}"
          f"{r['raw_bytes'] / r['encoded_bytes']:>7.2f}{raw / r['encode_s']:>13.0f}{raw / r['decode_s']:>13.0f}")
