"""closeout against Microsoft's official Graph SDK for Python, on the same simulated tenant, in
the same run.

Run it through bench/run.sh (which builds the release binaries and the SDK's venv):

    bench/run.sh            # 10,000 users, plan of 100,000 users
    bench/run.sh --quick    #  2,000 users, plan of  20,000 users

What it does, in order:

1. `graph-sim generate` a tenant of N users (the Global Administrator admin@<domain> and
   N-1 members) and `closeout plan --spec bench/closeout-spec.yaml --keep admin@...` it;
2. for each contender, start graph-sim afresh on that snapshot (Graph's default throttling
   quotas, time-scaled, and a fixed latency; a request log per contender) and delete every
   user but the administrator:
     closeout          `closeout apply PLAN --auto-approve` (plus any pacing flag it has)
     sdk-sequential    bench/sdk_delete.py: msgraph-sdk, PageIterator, one DELETE at a time
     sdk-concurrent    the same with 10 asyncio workers, the SDK's own RetryHandler
   then read the users left (`GET /_sim/snapshot`, not logged) and the request log;
3. assert every contender left the same set of users (the administrator alone);
4. `closeout plan` a tenant of 100,000 users and `closeout show` that plan: wall time,
   requests, peak memory (ru_maxrss of the child, from os.wait4).

Everything it writes goes under --work-dir (default target/bench): snapshots, plans, request
logs, outputs, results.json and results.md. Exit status: 0 when every check held, 1 when one
did not (the figures are printed either way), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# Graph's identity-service write quota per application, as graph-sim models it
# (sim/README.md, "Protocol under load"): 3,000 writes per 150 s, the bucket full at start.
APP_WRITES = 3000
APP_WINDOW_S = 150.0


class SetupError(Exception):
    pass


@dataclass
class Measured:
    """One process run: wall seconds, exit status, peak resident memory (KiB), CPU seconds
    (user + system)."""

    wall_s: float
    returncode: int
    max_rss_kib: int
    cpu_s: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], stdout_path: Path, env: dict | None = None) -> Measured:
    """Runs `cmd` to completion, its stdout to `stdout_path` (stderr beside it, `.err`), and
    measures it alone: os.wait4 gives this child's own rusage."""
    err_path = stdout_path.with_name(stdout_path.name + ".err")
    with open(stdout_path, "w") as out, open(err_path, "w") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        wall,
        proc.returncode,
        int(usage.ru_maxrss),
        usage.ru_utime + usage.ru_stime,
        stdout_path.read_text(),
        err_path.read_text(),
    )


class Sim:
    """A graph-sim server on 127.0.0.1 (ephemeral port), stopped by `stop()`."""

    def __init__(self, binary: Path, snapshot: Path, log: Path, flags: list[str]):
        log.unlink(missing_ok=True)
        self.log_path = log
        out_path = log.with_name(log.name + ".sim-out")
        self._out = open(out_path, "w+")
        self.proc = subprocess.Popen(
            [str(binary), "serve", str(snapshot), "--port", "0", "--log", str(log), *flags],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        # The first stdout line is exactly "graph-sim listening on http://127.0.0.1:PORT";
        # loading a 100,000-user snapshot takes a few seconds.
        deadline = time.monotonic() + 300
        line = ""
        while time.monotonic() < deadline:
            text = out_path.read_text()
            if "\n" in text or self.proc.poll() is not None:
                line = text.split("\n", 1)[0].strip()
                break
            time.sleep(0.02)
        m = re.fullmatch(r"graph-sim listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.stop()
            raise SetupError(f"graph-sim did not start on {snapshot}: {out_path.read_text().strip()[-2000:]}")
        self.url = m.group(1)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=120) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def __enter__(self) -> "Sim":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class LogStats:
    """Figures from graph-sim's request log (one JSON line per request or $batch item)."""

    http_requests: int = 0  # top-level HTTP requests ($batch envelopes count once)
    operations: int = 0  # Graph operations: $batch items and plain requests, not envelopes
    batched: int = 0  # operations that travelled inside a $batch
    throttled: int = 0  # 429 answers (top-level or items)
    errors: int = 0  # other 4xx/5xx answers (and dropped connections, status 0)
    user_deletes: int = 0  # DELETE /v1.0/users/{id} answered 2xx
    other_writes: int = 0  # other non-GET operations answered 2xx
    reads: int = 0  # GET operations answered 2xx
    first_ms: int = 0  # first request (unix ms)
    last_ms: int = 0  # last request
    first_delete_ms: int = 0  # first DELETE /v1.0/users/{id}, whatever its answer
    last_delete_ms: int = 0  # last one answered 2xx

    def listing_s(self) -> float:
        """From the first request to the first user deletion: reading the tenant."""
        return (self.first_delete_ms - self.first_ms) / 1000 if self.first_delete_ms else 0.0

    def deleting_s(self) -> float:
        """From the first user deletion to the last one that succeeded."""
        return (self.last_delete_ms - self.first_delete_ms) / 1000 if self.first_delete_ms else 0.0


USER_DELETE = re.compile(r"^/v1\.0/users/[^/?]+$")
BATCH = re.compile(r"^/(v1\.0|beta)/\$batch")


def log_stats(path: Path) -> LogStats:
    s = LogStats()
    if not path.exists():
        return s
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            method, p, status = e["method"], e["path"], int(e["status"])
            via_batch = bool(e.get("viaBatch"))
            ms = int(e.get("unixMs", 0))
            s.first_ms = ms if not s.first_ms else min(s.first_ms, ms)
            s.last_ms = max(s.last_ms, ms)
            if not via_batch:
                s.http_requests += 1
            envelope = (not via_batch) and BATCH.match(p) is not None
            if envelope:
                continue
            s.operations += 1
            s.batched += via_batch
            is_user_delete = method == "DELETE" and USER_DELETE.match(p.split("?")[0]) is not None
            if is_user_delete and not s.first_delete_ms:
                s.first_delete_ms = ms
            if status == 429:
                s.throttled += 1
            elif status >= 400 or status == 0:
                s.errors += 1
            elif method == "GET":
                s.reads += 1
            elif is_user_delete:
                s.user_deletes += 1
                s.last_delete_ms = max(s.last_delete_ms, ms)
            else:
                s.other_writes += 1
    return s


@dataclass
class Result:
    name: str
    what: str
    wall_s: float
    cpu_s: float
    failures: int
    users_left: int
    remaining: list[str] = field(default_factory=list)
    log: LogStats = field(default_factory=LogStats)
    detail: dict = field(default_factory=dict)


def users_left(sim: Sim) -> list[str]:
    """userPrincipalNames of the users in the tenant now (the admin route is not logged)."""
    snap = sim.get("/_sim/snapshot")
    return sorted(u["userPrincipalName"].lower() for u in snap.get("users", []))


def closeout_flags(closeout: Path, sub: str, time_scale: float, extra: list[str]) -> list[str]:
    """Pass-through flags: the simulator's time scale to the first flag of `closeout SUB --help`
    whose name ends in `time-scale` (e.g. `--time-scale`, `--pace-time-scale` of a client that
    paces itself by Graph's quotas), unless `extra` already gives it; then `extra`."""
    helptext = subprocess.run(
        [str(closeout), sub, "--help"], capture_output=True, text=True, check=False
    ).stdout
    flags = []
    m = re.search(r"(--[a-z-]*time-scale)\b", helptext)
    if m and not any(e.split("=", 1)[0] == m.group(1) for e in extra):
        flags += [m.group(1), f"{time_scale:g}"]
    return flags + extra


MAX_PASSES = 5


def run_closeout_apply(args, bins, snapshot: Path, plan: Path, sim_flags, extra, label="closeout") -> Result:
    """`closeout apply PLAN`; when actions fail (apply exits 1 listing them), apply the same
    plan again, as closeout tells its user to (apply is resumable), for at most MAX_PASSES
    passes. Wall and CPU time cover every pass."""
    work = args.work_dir
    flags = closeout_flags(bins["closeout"], "apply", args.time_scale, extra)
    passes: list[dict] = []
    with Sim(bins["graph-sim"], snapshot, work / f"{label}.requests.jsonl", sim_flags) as sim:
        cmd = [str(bins["closeout"]), "apply", str(plan), "--graph-url", sim.url, "--auto-approve", *flags]
        fresh_state(work, label)
        started = time.monotonic()
        cpu = 0.0
        rss = 0
        while len(passes) < MAX_PASSES:
            out = work / f"{label}.pass{len(passes) + 1}.out"
            m = run_measured(cmd, out, env=closeout_env(work, label))
            cpu += m.cpu_s
            rss = max(rss, m.max_rss_kib)
            summary = re.search(r"Apply finished: .*", m.stdout)
            if not summary:
                raise SetupError(
                    f"closeout apply exited {m.returncode} without a summary (see {out}.err): {m.stderr.strip()[-2000:]}"
                )
            failed = int(re.search(r"(\d+) failed", summary.group(0)).group(1))
            passes.append(
                {"exit": m.returncode, "summary": summary.group(0), "failed": failed, "wall_s": m.wall_s}
            )
            if m.returncode != 1 or failed == 0:
                break
        wall = time.monotonic() - started
        left = users_left(sim)
    return Result(
        name=label,
        what="closeout apply of the saved plan" + (f" ({' '.join(flags)})" if flags else ""),
        wall_s=wall,
        cpu_s=cpu,
        failures=sum(p["failed"] for p in passes),
        users_left=len(left),
        remaining=left,
        log=log_stats(work / f"{label}.requests.jsonl"),
        detail={"passes": len(passes), "apply_runs": passes, "flags": flags, "max_rss_kib": rss},
    )


def run_sdk(args, bins, snapshot: Path, admin: str, sim_flags, concurrency: int, label: str) -> Result:
    work = args.work_dir
    with Sim(bins["graph-sim"], snapshot, work / f"{label}.requests.jsonl", sim_flags) as sim:
        cmd = [
            sys.executable,
            str(BENCH / "sdk_delete.py"),
            "--url",
            sim.url,
            "--keep",
            admin,
            "--concurrency",
            str(concurrency),
            "--token",
            SIM_TOKEN,
        ]
        m = run_measured(cmd, work / f"{label}.out")
        left = users_left(sim)
    if m.returncode != 0:
        raise SetupError(f"{label} exited {m.returncode}: {m.stderr.strip()[-2000:]}")
    report = json.loads(m.stdout.strip().splitlines()[-1])
    what = "msgraph-sdk, PageIterator, " + (
        "one DELETE at a time" if concurrency == 1 else f"{concurrency} concurrent DELETEs (asyncio)"
    )
    return Result(
        name=label,
        what=what,
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        failures=report["failures"],
        users_left=len(left),
        remaining=left,
        log=log_stats(work / f"{label}.requests.jsonl"),
        detail={**report, "max_rss_kib": m.max_rss_kib},
    )


# A token graph-sim accepts (JWT-shaped, every permission it checks): set by main() from
# `graph-sim token --all`.
SIM_TOKEN = ""


def closeout_env(work: Path, label: str) -> dict:
    """closeout's environment for run `label`: graph-sim's full-permission token (closeout
    needs one for a --graph-url) and a state directory of the run's own, so
    no apply journal or lock of an earlier run (same seed, same tenant id) is resumed."""
    env = dict(os.environ)
    env["CLOSEOUT_ACCESS_TOKEN"] = SIM_TOKEN
    env["CLOSEOUT_STATE_DIR"] = str(work / "state" / label)
    env.pop("CLOSEOUT_GRAPH_URL", None)
    return env


def fresh_state(work: Path, label: str) -> None:
    shutil.rmtree(work / "state" / label, ignore_errors=True)


def generate(bins, users: int, seed: int, path: Path) -> tuple[Path, str]:
    """A snapshot of `users` users (JSON, loads fastest) and its Global Administrator's UPN."""
    if not path.exists():
        subprocess.run(
            [str(bins["graph-sim"]), "generate", "--users", str(users), "--seed", str(seed), "-o", str(path)],
            check=True,
            capture_output=True,
        )
    with open(path) as f:
        snap = json.load(f)
    admins = [u["userPrincipalName"] for u in snap["users"] if u["userPrincipalName"].startswith("admin@")]
    if len(admins) != 1:
        raise SetupError(f"{path}: expected one admin@<domain> user, found {admins}")
    return path, admins[0]


def plan(bins, work: Path, snapshot: Path, admin: str, sim_flags, out: Path, spec: Path | None, label: str):
    """`closeout plan` against a fresh graph-sim; returns (Measured, LogStats)."""
    with Sim(bins["graph-sim"], snapshot, work / f"{label}.requests.jsonl", sim_flags) as sim:
        cmd = [str(bins["closeout"]), "plan", "--graph-url", sim.url, "--keep", admin, "-o", str(out)]
        if spec:
            cmd += ["--spec", str(spec)]
        fresh_state(work, label)
        m = run_measured(cmd, work / f"{label}.out", env=closeout_env(work, label))
    if m.returncode not in (0, 2):
        raise SetupError(f"closeout plan exited {m.returncode}: {m.stderr.strip()[-2000:]}")
    return m, log_stats(work / f"{label}.requests.jsonl")


def fmt_s(s: float) -> str:
    return f"{s:.1f} s" if s >= 10 else f"{s:.2f} s"


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=int, default=None, help="tenant size (default 10000; 2000 with --quick)")
    p.add_argument("--quick", action="store_true", help="2,000 users and a 20,000-user plan")
    p.add_argument(
        "--plan-users",
        type=int,
        default=None,
        help="tenant size of the plan/show measurement (default 100000; 20000 with --quick; 0 skips it)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="graph-sim's clocks run this many times faster (default 10)",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=10,
        help="graph-sim's added latency per request, real ms (default 10)",
    )
    p.add_argument(
        "--concurrency", type=int, default=10, help="workers of the concurrent SDK contender (default 10)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--closeout-flags",
        default=os.environ.get("BENCH_CLOSEOUT_FLAGS", ""),
        help="extra flags for closeout apply (default: $BENCH_CLOSEOUT_FLAGS)",
    )
    p.add_argument(
        "--only", default="closeout,sdk-sequential,sdk-concurrent", help="comma-separated contenders to run"
    )
    p.add_argument("--work-dir", type=Path, default=ROOT / "target" / "bench")
    p.add_argument(
        "--bin-dir",
        type=Path,
        default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release",
        help="where closeout and graph-sim are (default: $CARGO_TARGET_DIR/release or target/release)",
    )
    args = p.parse_args()
    users = args.users or (2000 if args.quick else 10000)
    plan_users = args.plan_users if args.plan_users is not None else (20000 if args.quick else 100000)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = args.work_dir
    bins = {b: args.bin_dir / b for b in ("closeout", "graph-sim")}
    global SIM_TOKEN
    SIM_TOKEN = subprocess.run(
        [str(bins["graph-sim"]), "token", "--all"], check=True, capture_output=True, text=True
    ).stdout.strip()
    for path in bins.values():
        if not path.exists():
            raise SetupError(f"{path} is missing: build it with `cargo build --release --workspace`")
    extra = shlex.split(args.closeout_flags)
    contenders = [c.strip() for c in args.only.split(",") if c.strip()]

    F = args.time_scale
    sim_flags = [
        "--throttle",
        "--time-scale",
        f"{F:g}",
        "--latency-ms",
        str(args.latency_ms),
        "--seed",
        str(args.seed),
    ]
    write_rate = APP_WRITES / APP_WINDOW_S * F  # writes per real second
    deletions = users - 1
    limit_s = deletions / write_rate
    floor_s = max(0, deletions - APP_WRITES) / write_rate

    sdk_version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('msgraph-sdk'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    cpu = (
        next(
            (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    print(
        f"closeout benchmark: {users:,} users, closeout {commit}, msgraph-sdk {sdk_version}, Python {platform.python_version()}"
    )
    print(f"machine: {os.cpu_count()} cores, {cpu}")
    print(
        f"graph-sim: {' '.join(sim_flags)}\n"
        f"  time scale {F:g}: Graph's clocks run {F:g}x faster (quota refill, Retry-After); "
        f"latency {args.latency_ms} ms real = {args.latency_ms * F:g} ms of Graph time\n"
        f"  write ceiling {APP_WRITES:,} writes / {APP_WINDOW_S:g} s per app = {write_rate:g} writes/s real\n"
        f"  physical limit for {deletions:,} deletions: {deletions:,} / {write_rate:g} = {fmt_s(limit_s)} "
        f"({deletions / (APP_WRITES / APP_WINDOW_S):,.0f} s of Graph time)\n"
        f"  floor: the bucket starts full, so a client never slower than the ceiling finishes in "
        f"({deletions:,} - {APP_WRITES:,}) / {write_rate:g} = {fmt_s(floor_s)}"
        + ("" if floor_s > 0 else " (fewer deletions than the bucket holds: the ceiling is never reached)")
    )
    sys.stdout.flush()

    snapshot, admin = generate(bins, users, args.seed, work / f"tenant-{users}.json")
    spec = BENCH / "closeout-spec.yaml"
    plan_path = work / f"tenant-{users}.plan.yaml"
    pm, _ = plan(bins, work, snapshot, admin, sim_flags, plan_path, spec, f"plan-{users}")
    print(f"planned with closeout plan --spec bench/closeout-spec.yaml --keep {admin}: {fmt_s(pm.wall_s)}")

    # Warm-up, not measured: first use of the SDK compiles its thousands of modules to .pyc,
    # and the first process start pays for cold file caches.
    warm, warm_admin = generate(bins, 50, args.seed, work / "tenant-50.json")
    warm_plan = work / "tenant-50.plan.yaml"
    plan(bins, work, warm, warm_admin, sim_flags, warm_plan, spec, "warmup-plan")
    if "closeout" in contenders:
        run_closeout_apply(args, bins, warm, warm_plan, sim_flags, extra, label="warmup-closeout")
    if any(c.startswith("sdk") for c in contenders):
        run_sdk(args, bins, warm, warm_admin, sim_flags, args.concurrency, "warmup-sdk")

    results: list[Result] = []
    for c in contenders:
        print(f"running {c} ...", flush=True)
        if c == "closeout":
            r = run_closeout_apply(args, bins, snapshot, plan_path, sim_flags, extra)
        elif c == "sdk-sequential":
            r = run_sdk(args, bins, snapshot, admin, sim_flags, 1, c)
        elif c == "sdk-concurrent":
            r = run_sdk(args, bins, snapshot, admin, sim_flags, args.concurrency, c)
        else:
            raise SetupError(f"unknown contender {c!r}")
        print(
            f"  {c}: {fmt_s(r.wall_s)}, {r.log.http_requests:,} requests, {r.log.throttled:,} 429s, {r.failures} failures, {r.users_left} users left",
            flush=True,
        )
        results.append(r)

    # Checks: same final tenant for everyone, the administrator alone.
    problems = []
    expected = [admin.lower()]
    for r in results:
        if r.remaining != expected:
            problems.append(f"{r.name} left {r.users_left} users, expected only {admin}")
    sets = {tuple(r.remaining) for r in results}
    if len(sets) > 1:
        problems.append("the contenders left different sets of users")

    base = next((r for r in results if r.name == "closeout"), None)
    rows = []
    for r in results:
        rows.append(
            [
                r.name,
                fmt_s(r.wall_s),
                f"{r.log.http_requests:,}",
                f"{r.log.throttled:,}",
                str(r.failures),
                str(r.detail.get("passes", 1)),
                str(r.users_left),
                f"{base.wall_s / r.wall_s:.2f}" if base else "-",
                f"{limit_s / r.wall_s * 100:.0f} %",
                f"{floor_s / r.wall_s * 100:.0f} %" if floor_s > 0 else "-",
            ]
        )
    header = [
        "contender",
        "wall",
        "requests",
        "429s",
        "failures",
        "passes",
        "users left",
        "closeout/this",
        "limit/wall",
        "floor/wall",
    ]
    table = render_table(header, rows)
    rows = []
    for r in results:
        deleting = r.log.deleting_s()
        rows.append(
            [
                r.name,
                fmt_s(r.log.listing_s()),
                fmt_s(deleting),
                f"{r.log.user_deletes / deleting:,.0f}" if deleting > 0 else "-",
                f"{floor_s / deleting * 100:.0f} %" if floor_s > 0 and deleting > 0 else "-",
                fmt_s(r.cpu_s),
                f"{r.cpu_s / max(1, r.log.http_requests) * 1000:.2f} ms",
            ]
        )
    phases = render_table(
        ["contender", "reading", "deleting", "deletions/s", "floor/deleting", "client CPU", "CPU/request"],
        rows,
    )
    print()
    print(table)
    print(
        f"\nlimit/wall: physical limit {fmt_s(limit_s)} ({deletions:,} deletions / {write_rate:g} writes/s) over the wall time; "
        + (
            f"floor/wall: the floor {fmt_s(floor_s)} (the same, less the bucket's initial {APP_WRITES:,} writes) over the wall time. "
            if floor_s > 0
            else f"no floor: the bucket's initial {APP_WRITES:,} writes cover every deletion, so the quota never binds and this run measures the clients alone. "
        )
        + "100 % = as fast as the write quota allows. closeout/this: closeout's wall time over this one's."
    )
    print("\nWhere the time went (from graph-sim's request log; CPU of the contender's process):\n")
    print(phases)
    print(
        "\nreading: first request to first user DELETE; deleting: first user DELETE to the last successful one."
    )
    for r in results:
        print(
            f"  {r.name}: {r.what}; {r.log.reads:,} reads, {r.log.user_deletes:,} user deletions, "
            f"{r.log.other_writes:,} other writes, {r.log.batched:,} in $batch, {r.log.errors:,} error answers"
        )

    big = None
    if plan_users:
        print(f"\nplanning {plan_users:,} users ...", flush=True)
        big_snap, big_admin = generate(bins, plan_users, args.seed, work / f"tenant-{plan_users}.json")
        big_plan = work / f"tenant-{plan_users}.plan.yaml"
        bm, bl = plan(bins, work, big_snap, big_admin, sim_flags, big_plan, None, f"plan-{plan_users}")
        show = run_measured([str(bins["closeout"]), "show", str(big_plan)], work / "show.out")
        show_full = run_measured(
            [str(bins["closeout"]), "show", "--full", str(big_plan)], work / "show-full.out"
        )
        for what, m in (("show", show), ("show --full", show_full)):
            if m.returncode != 0:
                problems.append(f"closeout {what} exited {m.returncode}: {m.stderr.strip()[-500:]}")
        big = {
            "users": plan_users,
            "plan_wall_s": bm.wall_s,
            "plan_requests": bl.http_requests,
            "plan_429s": bl.throttled,
            "plan_max_rss_mib": bm.max_rss_kib / 1024,
            "plan_file_mib": big_plan.stat().st_size / 2**20,
            "show_wall_s": show.wall_s,
            "show_max_rss_mib": show.max_rss_kib / 1024,
            "show_full_wall_s": show_full.wall_s,
            "show_full_max_rss_mib": show_full.max_rss_kib / 1024,
        }
        print(
            f"closeout plan, {plan_users:,} users (default spec, --keep {big_admin}): {fmt_s(bm.wall_s)}, "
            f"{bl.http_requests:,} requests ({bl.throttled} 429s), peak memory {big['plan_max_rss_mib']:.0f} MiB, "
            f"plan file {big['plan_file_mib']:.1f} MiB\n"
            f"closeout show of that plan: {fmt_s(show.wall_s)}, peak memory {big['show_max_rss_mib']:.0f} MiB; "
            f"show --full: {fmt_s(show_full.wall_s)}, {big['show_full_max_rss_mib']:.0f} MiB"
        )

    if base:
        for r in results:
            if r is not base and not base.wall_s < r.wall_s:
                problems.append(
                    f"closeout ({fmt_s(base.wall_s)}) is not faster than {r.name} ({fmt_s(r.wall_s)})"
                )
        target = floor_s if floor_s > 0 else limit_s
        reach = target / base.wall_s
        print(
            f"\ncloseout: {reach * 100:.0f} % of the {'floor' if floor_s > 0 else 'physical limit'} "
            f"({fmt_s(target)}) in {base.detail.get('passes', 1)} apply pass(es); "
            f"{base.log.http_requests:,} requests carrying {base.log.batched:,} operations in $batch, "
            f"{base.log.throttled:,} 429s, with --parallelism {parallelism_of(bins['closeout'], base)} "
            f"(actions in flight; concurrent writes share $batch requests) and "
            f"{args.latency_ms} ms of added latency per request."
        )

    out = {
        "users": users,
        "time_scale": F,
        "latency_ms": args.latency_ms,
        "write_rate_per_s": write_rate,
        "physical_limit_s": limit_s,
        "floor_s": floor_s,
        "machine": {"cores": os.cpu_count(), "cpu": cpu},
        "closeout_commit": commit,
        "msgraph_sdk": sdk_version,
        "contenders": [{**asdict(r), "remaining": r.remaining[:5]} for r in results],
        "plan": big,
        "problems": problems,
    }
    (work / "results.json").write_text(json.dumps(out, indent=2))
    (work / "results.md").write_text(table + "\n\n" + phases + "\n")
    print()
    if problems:
        for pr in problems:
            print(f"CHECK FAILED: {pr}")
        return 1
    print(f"checks: every contender left the same tenant ({admin} alone); closeout was the fastest")
    return 0


def parallelism_of(closeout: Path, r: Result) -> str:
    """closeout's --parallelism in this run: the flag given, else its --help default."""
    flags = r.detail.get("flags", [])
    if "--parallelism" in flags:
        return flags[flags.index("--parallelism") + 1]
    helptext = subprocess.run(
        [str(closeout), "apply", "--help"], capture_output=True, text=True, check=False
    ).stdout
    m = re.search(r"--parallelism[^\[]*\[default: (\d+)\]", helptext)
    return f"{m.group(1)} (default)" if m else "default"


def render_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "| " + " | ".join(padded) + " |"

    sep = (
        "|"
        + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SetupError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as e:
        print(
            f"bench: {' '.join(map(str, e.cmd))} exited {e.returncode}: {(e.stderr or b'').decode(errors='replace')[-2000:]}",
            file=sys.stderr,
        )
        sys.exit(2)
