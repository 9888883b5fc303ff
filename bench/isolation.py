"""Per-task cost of running attempts in processes of their own.

Starts `hangar serve` on the embedded default twice, with attempts in
child processes (the default) and with `--in-process`, runs a pipeline of
TASKS independent `noop` tasks REPEAT times on each, alternating, and prints
the median wall time per run and per task. Only the standard library."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HANGAR = sys.argv[1]
TASKS = int(os.environ.get("TASKS", "40"))
REPEAT = int(os.environ.get("REPEAT", "5"))
PASSWORD = "correct horse battery staple"


def call(base, path, token=None, body=None, yaml=False):
    data = None if body is None else (body.encode() if yaml else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET")
    request.add_header("content-type", "application/yaml" if yaml else "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read() or b"null")


def server(home, port, extra):
    env = dict(os.environ, HANGAR_JWT_SECRET="bench-secret-0123456789abcdef0123456789", HANGAR_RATE_LIMIT="off")
    env.pop("HANGAR_DATABASE_URL", None)
    env.pop("HANGAR_ARTIFACTS", None)
    subprocess.run([HANGAR, "--home", home, "users", "create", "--email", "b@h.example", "--password", PASSWORD,
                    "--admin"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([HANGAR, "--home", home, "serve", "--bind", f"127.0.0.1:{port}", "--concurrency", "2",
                                *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            call(base, "/ready")
            break
        except Exception:
            time.sleep(0.1)
    token = call(base, "/api/v1/auth/login", body={"email": "b@h.example", "password": PASSWORD})["access_token"]
    spec = "name: wide\ntasks:\n" + "".join(f"  t{i}: {{ uses: noop }}\n" for i in range(TASKS))
    call(base, "/api/v1/pipelines", token, spec, yaml=True)
    return process, base, token


def one_run(base, token):
    start = time.perf_counter()
    run_id = call(base, "/api/v1/pipelines/wide/runs", token, {})["run_id"]
    while call(base, f"/api/v1/runs/{run_id}", token)["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.02)
    return time.perf_counter() - start


with tempfile.TemporaryDirectory() as root:
    isolated = server(os.path.join(root, "a"), 18431, [])
    in_process = server(os.path.join(root, "b"), 18432, ["--in-process"])
    times = {"child process per attempt": [], "in-process": []}
    try:
        for _ in range(REPEAT):
            times["child process per attempt"].append(one_run(*isolated[1:]))
            times["in-process"].append(one_run(*in_process[1:]))
    finally:
        for process, _, _ in (isolated, in_process):
            process.terminate()
            process.wait()
    print(f"{TASKS} independent noop tasks, 2 worker slots, embedded SQLite, median of {REPEAT} runs each (alternating)")
    base = statistics.median(times["in-process"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28} {median * 1000:8.0f} ms per run  {median / TASKS * 1000:7.1f} ms per task  "
              f"(+{(median - base) / TASKS * 1000:.1f} ms per task)")
