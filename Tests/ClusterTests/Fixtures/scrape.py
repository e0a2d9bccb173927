"""GETs a URL (with a bearer token when given) and prints one JSON object:
the status, the body, and for Prometheus text the samples as parsed by
prometheus_client's own parser ("name{label=value,...}" -> value)."""
import json, sys, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families

url = sys.argv[1]
req = urllib.request.Request(url)
if len(sys.argv) > 2 and sys.argv[2]:
    req.add_header("Authorization", "Bearer " + sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        status, body, ctype = r.status, r.read().decode(), r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    status, body, ctype = e.code, e.read().decode(), e.headers.get("Content-Type", "")
out = {"status": status, "body": body, "samples": {}}
if status == 200 and "version=0.0.4" in ctype:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out["samples"][f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
