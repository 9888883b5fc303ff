"""Chaos under load on PostgreSQL + S3.

RUNS runs (half shell pipelines that write a ledger, half data pipelines)
are submitted at once to `hangar serve --no-workers` (the coordinator) and
run by WORKERS `hangar worker` processes. For CHAOS_S seconds a random worker
is SIGKILLed every few seconds and restarted, and the coordinator is
SIGKILLed once, half-way, and restarted. Then every run must end
`succeeded`; no shell task may run again after its successful attempt (the
ledger); every data output must be downloadable at its recorded size.
Prints the figures. Only the standard library; PostgreSQL and the S3 server
must be running (scripts/services.sh)."""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

HANGAR = sys.argv[1]
RUNS = int(os.environ.get("RUNS", "100"))
WORKERS = int(os.environ.get("WORKERS", "4"))
CHAOS_S = float(os.environ.get("CHAOS_S", "120"))
ADMIN_URL = os.environ.get("HANGAR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BUCKET = os.environ.get("HANGAR_TEST_S3", "s3://hangar-test").rstrip("/")
PASSWORD = "correct horse battery staple"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def psql(sql):
    subprocess.run(["psql", ADMIN_URL, "-qc", sql], check=True, capture_output=True)


def call(base, path, token=None, body=None, yaml=False, raw=False):
    data = None if body is None else (body.encode() if yaml else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET")
    request.add_header("content-type", "application/yaml" if yaml else "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=30) as reply:
        payload = reply.read()
        return payload if raw else json.loads(payload or b"null")


def wait_ready(base):
    for _ in range(300):
        try:
            call(base, "/ready")
            return
        except Exception:
            time.sleep(0.1)


def main():
    name = f"hangar_chaos_{os.getpid()}"
    psql(f"CREATE DATABASE {name}")
    work = tempfile.mkdtemp(prefix="hangar-chaos-")
    ledger = os.path.join(work, "ledger")
    env = dict(os.environ,
               HANGAR_DATABASE_URL=ADMIN_URL.rsplit("/", 1)[0] + "/" + name,
               HANGAR_ARTIFACTS=f"{BUCKET}/{name}",
               HANGAR_JWT_SECRET="chaos-secret-0123456789abcdef0123456789",
               HANGAR_LEASE="2s", HANGAR_POLL="50ms", HANGAR_RATE_LIMIT="off", HANGAR_LOG="warn")
    processes = {}
    logs = open(os.path.join(work, "processes.log"), "ab")

    def start(key, *args):
        home = os.path.join(work, key)
        processes[key] = subprocess.Popen([HANGAR, "--home", home, *args], env=env, stdout=logs, stderr=logs)

    def hangar(*args):
        subprocess.run([HANGAR, "--home", os.path.join(work, "admin"), *args], env=env, check=True,
                       capture_output=True)

    try:
        hangar("migrate")
        hangar("users", "create", "--email", "ops@hangar.example", "--password", PASSWORD, "--admin")
        port = 18500 + os.getpid() % 1000
        base = f"http://127.0.0.1:{port}"
        start("coordinator", "serve", "--no-workers", "--bind", f"127.0.0.1:{port}")
        for i in range(WORKERS):
            start(f"worker{i}", "worker", "--concurrency", "2")
        wait_ready(base)
        token = call(base, "/api/v1/auth/login", body={"email": "ops@hangar.example", "password": PASSWORD})[
            "access_token"]
        step = "echo \\\"$HANGAR_RUN_ID $HANGAR_TASK_ID $HANGAR_ATTEMPT {what}\\\" >> " + ledger
        shell = "name: chaos-shell\ntasks:\n" + "".join(
            f"  {t}:\n    uses: shell\n{needs}    with: {{ run: \"{step.format(what='start')}; sleep 2; "
            f"{step.format(what='end')}\" }}\n"
            for t, needs in [("a", ""), ("b", "    needs: [a]\n"), ("c", "    needs: [b]\n")])
        data = ("name: chaos-data\ntasks:\n"
                f"  ingest: {{ uses: ingest, cache: false, with: {{ path: \"{ROOT}/examples/corpus\" }} }}\n"
                "  clean: { uses: clean, cache: false, with: { documents: \"${{ tasks.ingest.outputs.documents }}\" } }\n"
                "  dedup: { uses: dedup, cache: false, with: { documents: \"${{ tasks.clean.outputs.documents }}\" } }\n")
        call(base, "/api/v1/pipelines", token, shell, yaml=True)
        call(base, "/api/v1/pipelines", token, data, yaml=True)
        started = time.monotonic()
        runs = []
        for i in range(RUNS):
            pipeline = "chaos-shell" if i % 2 == 0 else "chaos-data"
            runs.append((pipeline, call(base, f"/api/v1/pipelines/{pipeline}/runs", token, {})["run_id"]))

        kills = {"worker": 0, "coordinator": 0}
        coordinator_killed = False
        while time.monotonic() - started < CHAOS_S:
            time.sleep(random.uniform(2, 5))
            victim = f"worker{random.randrange(WORKERS)}"
            processes[victim].kill()
            processes[victim].wait()
            kills["worker"] += 1
            time.sleep(0.5)
            start(victim, "worker", "--concurrency", "2")
            if not coordinator_killed and time.monotonic() - started > CHAOS_S / 2:
                processes["coordinator"].kill()
                processes["coordinator"].wait()
                kills["coordinator"] += 1
                coordinator_killed = True
                time.sleep(0.5)
                start("coordinator", "serve", "--no-workers", "--bind", f"127.0.0.1:{port}")
                wait_ready(base)

        deadline = time.monotonic() + 900
        details = {}
        while time.monotonic() < deadline:
            pending = [r for _, r in runs if r not in details]
            for run_id in pending:
                detail = call(base, f"/api/v1/runs/{run_id}", token)
                if detail["status"] in ("succeeded", "failed", "cancelled"):
                    details[run_id] = detail
            if len(details) == len(runs):
                break
            time.sleep(1)
        wall = time.monotonic() - started

        statuses = {}
        for detail in details.values():
            statuses[detail["status"]] = statuses.get(detail["status"], 0) + 1
        stuck = len(runs) - len(details)
        lost = sum(1 for d in details.values() for t in d["tasks"] for a in t["attempts"] if a["status"] == "lost")
        problems = []
        lines = [line.split() for line in open(ledger).read().splitlines()] if os.path.exists(ledger) else []
        for pipeline, run_id in runs:
            detail = details.get(run_id)
            if detail is None:
                continue
            for task in detail["tasks"]:
                if pipeline == "chaos-shell" and task["status"] == "succeeded":
                    after = [l for l in lines if l[0] == run_id and l[1] == task["task_id"] and int(l[2]) > task["attempt"]]
                    if after:
                        problems.append(f"{run_id} {task['task_id']} ran again after attempt {task['attempt']}: {after}")
                for output, view in task["outputs"].items():
                    body = call(base, f"/api/v1/runs/{run_id}/tasks/{task['task_id']}/outputs/{output}", token, raw=True)
                    if len(body) != view["size"]:
                        problems.append(f"{run_id} {task['task_id']}.{output}: {len(body)} bytes of {view['size']}")
        print(f"{RUNS} runs ({RUNS // 2} shell, {RUNS - RUNS // 2} data) on {WORKERS} workers, PostgreSQL + S3, "
              f"{CHAOS_S:.0f} s of chaos")
        print(f"kills: {kills['worker']} workers (SIGKILL), {kills['coordinator']} coordinator (SIGKILL)")
        print(f"runs: {statuses}, stuck: {stuck}; lost attempts re-run: {lost}; wall time {wall:.0f} s")
        print(f"problems: {len(problems)}")
        for problem in problems[:20]:
            print("  " + problem)
        return 0 if not problems and stuck == 0 and statuses.get("succeeded", 0) == RUNS else 1
    finally:
        for process in processes.values():
            process.kill()
        for process in processes.values():
            process.wait()
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
