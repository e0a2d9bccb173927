"""A Sluice coordinator and 2 workers (1 slot, 1 thread each) on loopback for
the benchmark drivers, as separate processes with their own data dirs under a
scratch folder; `env` points the CLI at it. Use as a context manager."""
import os, shutil, socket, subprocess, tempfile, time

class LocalCluster:
    def __init__(self, sluice, sql_root, workers=2, prefix="sluice-bench-"):
        self.sluice, self.sql_root, self.workers = sluice, sql_root, workers
        self.work = tempfile.mkdtemp(prefix=prefix)
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        self.address = f"tcp://127.0.0.1:{port}"
        self.secret = f"{self.work}/secret"
        with open(self.secret, "w") as f: f.write(os.urandom(32).hex())
        os.chmod(self.secret, 0o600)
        self.env = dict(os.environ, SLUICE_COORDINATOR=self.address, SLUICE_SECRET_FILE=self.secret)
        self.procs, self.logs = [], []

    def _start(self, name, args):
        log = open(f"{self.work}/{name}.log", "w")
        self.logs.append(log)
        self.procs.append(subprocess.Popen([self.sluice] + args + ["--secret-file", self.secret], stdout=log, stderr=log, env=self.env))

    def __enter__(self):
        self._start("coordinator", ["coordinator", "--listen", self.address, "--data-dir", f"{self.work}/coordinator", "--sql-root", self.sql_root])
        for w in range(1, self.workers + 1):
            self._start(f"worker-{w}", ["worker", "--coordinator", self.address, "--listen", "tcp://127.0.0.1:0", "--advertise", "127.0.0.1",
                                        "--data-dir", f"{self.work}/worker-{w}", "--slots", "1", "--threads-per-task", "1", "--id", f"w{w}"])
        for _ in range(200):
            r = subprocess.run([self.sluice, "status", "--json"], capture_output=True, text=True, env=self.env)
            if r.returncode == 0 and r.stdout.count('"alive"') >= self.workers: return self
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise SystemExit("the cluster did not come up")

    def __exit__(self, *_):
        for p in self.procs: p.terminate()
        for p in self.procs: p.wait()
        for f in self.logs: f.close()
        shutil.rmtree(self.work, ignore_errors=True)
