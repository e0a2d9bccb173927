"""Drives the coordinator's status page in headless Chromium (selenium):
waits for WORKERS alive workers, prints READY, waits for a line on stdin
(the test killed a worker), then waits until the page, without a reload,
shows that worker dead and its replacement alive. Prints one JSON object:
what it saw, and the browser console's errors.
   dashboard_check.py URL WORKERS KILLED_ID"""
import json, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

url, workers, killed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
options = Options()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]:
    options.add_argument(a)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
result = {"ready": False, "dead": False, "replaced": False, "rows": [], "errors": []}

def rows():
    # Read in one script call: the page replaces its rows every 2 s, so element handles go stale.
    cells = driver.execute_script(
        "return [...document.querySelectorAll('#workers tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent))")
    return [{"worker": c[0], "state": c[2]} for c in cells if len(c) >= 3]

def wait(condition, seconds):
    end = time.time() + seconds
    while time.time() < end:
        r = rows()
        if condition(r):
            return r
        time.sleep(0.2)
    return rows()

try:
    driver.get(url)
    r = wait(lambda r: sum(1 for x in r if x["state"] == "alive") >= workers, 30)
    result["ready"] = sum(1 for x in r if x["state"] == "alive") >= workers
    print("READY", flush=True)
    sys.stdin.readline()
    def done(r):
        dead = any(x["worker"].startswith(killed + "#") and x["state"].startswith("dead") for x in r)
        alive = any(x["worker"].startswith(killed + "#") and x["state"] == "alive" for x in r)
        return dead and alive
    r = wait(done, 60)
    result["dead"] = any(x["worker"].startswith(killed + "#") and x["state"].startswith("dead") for x in r)
    result["replaced"] = any(x["worker"].startswith(killed + "#") and x["state"] == "alive" for x in r)
    result["rows"] = r
    result["errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
finally:
    driver.quit()
print(json.dumps(result), flush=True)
