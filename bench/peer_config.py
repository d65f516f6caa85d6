#!/usr/bin/python3
"""PyTorch at its best on the machine at hand, for bench/run_mlp.sh and bench/run_cnn.sh.

Debian's OpenBLAS 0.3.21 picks its kernels from the CPU's model number, and a
CPU newer than the library falls back to a generic one: an Intel Xeon with
AVX-512 ran as "Prescott" (SSE, sgemm 512^3 32 GFLOP/s against 154 with
OPENBLAS_CORETYPE=SkylakeX). Its pthreads pool and PyTorch's OpenMP pool, both
busy-waiting on two CPUs, made PyTorch's 2-thread runs 40x slower than its
1-thread runs. So the run scripts ask this helper for PyTorch's configuration:

    /usr/bin/python3 bench/peer_config.py cpu
        one line naming the CPU (model, core family, vector ISA, CPU count);
        needs no torch.
    /usr/bin/python3 bench/peer_config.py choose FILE [--pin CPU] [--threads T]
                     [--core-from FILE] [--trial SCRIPT ARGS...]
        1. finds the OpenBLAS library torch loads and asks it which core it
           runs (openblas_get_corename), then measures sgemm 512^3 on one
           thread (pinned to CPU, as the scripts' 1-thread runs are) with the
           detected core and with each core this CPU should run
           (OPENBLAS_CORETYPE: SkylakeX or Cooperlake on an Intel CPU with
           AVX-512, Haswell with AVX2; Zen on AMD, and SkylakeX too where it
           has AVX-512), each in its own process; a core that crashes or
           computes a wrong product is dropped. A forced core is kept only
           when it is at least 5% faster than the detected one.
        2. for T threads (default 2), runs the trial command (a pytorch_*.py
           script with short settings; the helper adds --threads) under
           each thread setting: torch T with OpenBLAS 1, torch T with
           OpenBLAS T (OMP_NUM_THREADS = T), torch 1 with OpenBLAS T;
           twice each, alternating, and keeps the fastest.
        Prints what it measured and what it kept; writes the choice to FILE
        (JSON). Exits 3 when torch cannot be imported or every core failed
        (PyTorch is skipped). --core-from FILE takes the core another choose
        kept and only tries the thread settings (one trial per model).
    /usr/bin/python3 bench/peer_config.py describe FILE
        FILE's choice in one line, for the README's speed table.
    /usr/bin/python3 bench/peer_config.py run FILE T SCRIPT ARGS...
        runs SCRIPT with --threads as FILE's setting for T threads says, in
        that setting's environment (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
        unset, or set both, in that command alone; OPENBLAS_NUM_THREADS,
        OMP_NUM_THREADS).

As a module, pytorch_mlp.py and pytorch_cnn.py use config_line() to print the
configuration they ran with, as torch and OpenBLAS report it from inside the
process.

Never set OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE in tests or CI: on some
machines they are set on purpose, since older OpenBLAS builds compute wrong
results or crash there. The helper changes them for the PyTorch runs only.
"""
import ctypes
import json
import os
import subprocess
import sys
import time

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FORCED_MARGIN = 1.05  # a forced core must beat the detected one by 5%


# ---- the CPU ----

def _cpuinfo():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first CPU is enough
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu():
    """vendor ("intel", "amd", "other"), model name, core family, ISA, flags."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(info.get("vendor_id"), "other")
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "SSE"
    family = int(info.get("cpu family", "0") or 0)
    model = int(info.get("model", "0") or 0)
    core = ""
    if vendor == "amd":  # the model name of a VM often says "AMD EPYC" alone
        if family == 0x17:
            core = "Zen 2" if model >= 0x30 else "Zen/Zen+"
        elif family == 0x19:
            core = "Zen 4" if "avx512f" in flags else "Zen 3"
        elif family == 0x1A:
            core = "Zen 5"
    name = " ".join(info.get("model name", "unknown CPU").split())
    return {"vendor": vendor, "name": name, "core": core, "family": family, "model": model, "isa": isa,
            "flags": flags}


def cpu_line():
    c = cpu()
    core = f"{c['core']}, " if c["core"] else ""
    return f"{c['name']} ({core}family {c['family']} model {c['model']}), {c['isa']}, {os.cpu_count()} CPUs"


def cores_for_cpu():
    """The OpenBLAS 0.3.21 cores (OPENBLAS_CORETYPE values) this CPU should run."""
    c = cpu()
    f = c["flags"]
    if c["vendor"] == "intel":
        if "avx512f" in f:
            return ["Cooperlake", "SkylakeX"] if "avx512_bf16" in f else ["SkylakeX"]
        if "avx2" in f:
            return ["Haswell"]
        if "avx" in f:
            return ["Sandybridge"]
    elif c["vendor"] == "amd":
        if "avx512f" in f:  # Zen 4: OpenBLAS's Zen kernels are AVX2 ones
            return ["Zen", "SkylakeX"]
        if "avx2" in f:
            return ["Zen"]
    return []


# ---- what a process with torch loaded runs ----

def openblas(torch=None):
    """The BLAS library this process loaded (after import torch), as it reports itself:
    {"path", "corename", "config", "version", "threads"} or {"path", "error"}."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "/" in path and "blas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    for path in paths:
        if "openblas" not in os.path.basename(path).lower():
            continue
        lib = ctypes.CDLL(path)  # already loaded: the same handle
        try:
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            config = lib.openblas_get_config().decode()
            words = config.split()
            return {"path": path, "corename": lib.openblas_get_corename().decode(), "config": config,
                    "version": words[1] if len(words) > 1 and words[0] == "OpenBLAS" else "?",
                    "threads": lib.openblas_get_num_threads()}
        except AttributeError:
            continue
    return {"path": ", ".join(paths) or "none found", "error": "not OpenBLAS"}


def blas_words(blas):
    """ "OpenBLAS 0.3.21 Cooperlake (detected)", with where the core came from."""
    if "error" in blas:
        return f"BLAS {blas['path']} ({blas['error']})"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    src = f"OPENBLAS_CORETYPE={forced}" if forced else "detected"
    if os.environ.get("OPENBLAS_L2_SIZE"):
        src += f", OPENBLAS_L2_SIZE={os.environ['OPENBLAS_L2_SIZE']}"
    return f"OpenBLAS {blas['version']} {blas['corename']} ({src})"


def threads_label(torch_threads):
    """The thread count a run stands for: peer_config.py run says it (a 2-thread run may be
    torch 1 with OpenBLAS 2); a script run by hand is labelled by its --threads."""
    return int(os.environ.get("PEER_THREADS", torch_threads))


def config_short(torch, onednn_conv=None):
    """The configuration of this process in a few words, for a table cell."""
    blas = openblas(torch)
    threads = f"torch {torch.get_num_threads()} / OpenBLAS {blas.get('threads', '?')} / OMP " \
              f"{os.environ.get('OMP_NUM_THREADS', 'unset')} threads"
    text = f"{blas_words(blas)}, {threads}"
    if onednn_conv is not None:
        text += f", oneDNN convolutions {'on' if onednn_conv else 'off'}"
    return text


def config_line(torch, onednn_conv=None):
    """One line: torch's version, its BLAS and core, threads, oneDNN for convolutions, the CPU."""
    blas = openblas(torch)
    line = (f"PyTorch {torch.__version__}; {blas_words(blas)}; threads: torch {torch.get_num_threads()}, "
            f"OpenBLAS {blas.get('threads', '?')}, OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')}; ")
    if onednn_conv is not None:
        onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        line += f"oneDNN {'on' if onednn else 'off'}, convolutions {'through it' if onednn_conv else 'not through it'}; "
    return line + cpu_line()


# ---- probes, one process each ----

def probe():
    """sgemm 512^3 on one thread in this process's configuration: prints one JSON line."""
    import torch
    torch.set_num_threads(1)
    blas = openblas(torch)
    torch.manual_seed(0)
    a, b = torch.rand(512, 512), torch.rand(512, 512)
    c = a @ b
    ref = a.double() @ b.double()
    err = ((c.double() - ref).abs().max() / ref.abs().max()).item()
    at, bt = torch.rand(300, 200).t(), torch.rand(100, 300).t()  # transposed operands too
    ref2 = at.double() @ bt.double()
    err = max(err, ((at @ bt).double() - ref2).abs().max().item() / ref2.abs().max().item())
    best = 0.0
    for _ in range(5):  # best of 5 rounds of ~0.15 s: a busy machine distorts the best least
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < 0.15:
            torch.mm(a, b, out=c)
            n += 1
        best = max(best, 2 * 512 ** 3 * n / (time.perf_counter() - t0) * 1e-9)
    print(json.dumps({"blas": blas, "gflops": best, "rel_err": err, "torch": torch.__version__}))


def blas_env(core_env):
    """The environment of a PyTorch run: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as core_env says."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    env.update(core_env)
    return env


def run_probe(core_env, pin):
    cmd = ([] if pin is None else ["taskset", "-c", str(pin)]) + [sys.executable, __file__, "probe"]
    env = blas_env(core_env)
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    if p.returncode != 0:
        why = f"signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
        last = (p.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"crashed ({why}) {last}".strip()}
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "no result"}
    if r["rel_err"] > 1e-4:
        r["error"] = f"wrong product (relative error {r['rel_err']:.1e})"
    return r


def choose_core(pin, passes=3):
    """Probe the detected core and this CPU's cores, `passes` times each, alternating (the
    machine's speed drifts), keeping each one's best; returns (core_env, label, rows)."""
    rows = [("detected", {})]
    env_set = {k: os.environ[k] for k in BLAS_VARS if os.environ.get(k)}
    if env_set:
        rows.append(("environment", env_set))
    rows = [(how, core_env, run_probe(core_env, pin)) for how, core_env in rows]
    detected = rows[0][2].get("blas", {})  # {} when the probe crashed: a forced core may do better
    if "error" not in detected:  # OpenBLAS (any other BLAS knows no OPENBLAS_CORETYPE)
        l2 = {"OPENBLAS_L2_SIZE": env_set["OPENBLAS_L2_SIZE"]} if "OPENBLAS_L2_SIZE" in env_set else {}
        for core in cores_for_cpu():
            if core not in (detected.get("corename"), env_set.get("OPENBLAS_CORETYPE")):
                core_env = dict(l2, OPENBLAS_CORETYPE=core)
                rows.append(("forced", core_env, run_probe(core_env, pin)))
    for _ in range(passes - 1):
        for how, core_env, r in rows:
            if "error" not in r:  # a core that failed once is out
                again = run_probe(core_env, pin)
                if "error" in again:
                    r.clear()
                    r.update(again)
                else:
                    r["gflops"] = max(r["gflops"], again["gflops"])
    ok = [r for r in rows if "error" not in r[2]]
    if not ok:
        return None, "every core tried failed", rows
    base = ok[0]
    best = max(ok, key=lambda r: r[2]["gflops"])
    if best is not base and best[2]["gflops"] < FORCED_MARGIN * base[2]["gflops"]:
        best = base
    return best[1], best[0], rows


THREAD_SETTINGS = {  # name: (torch threads, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) for T threads
    "torch T, OpenBLAS 1": lambda t: (t, 1, 1),
    "torch T, OpenBLAS T": lambda t: (t, t, t),
    "torch 1, OpenBLAS T": lambda t: (1, t, 1),
}


def command(core_env, setting, script, args):
    """argv and environment of one PyTorch run."""
    torch_threads, blas_threads, omp_threads = setting
    env = blas_env(core_env)
    env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    env["OMP_NUM_THREADS"] = str(omp_threads)
    env["PEER_THREADS"] = str(max(setting))
    return [sys.executable, script, "--threads", str(torch_threads)] + list(args), env


def trial(core_env, setting, script, args):
    argv, env = command(core_env, setting, script, args)
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return 0.0
    for line in p.stdout.splitlines():
        if line.startswith("RESULT"):
            for word in line.split():
                if word.startswith("samples_per_s="):
                    return float(word.split("=")[1])
    return 0.0


def choose(path, pin, threads, trial_cmd, core_from=None):
    try:
        import torch  # noqa: F401  (only: is it there)
    except ImportError as e:
        print(f"PyTorch is skipped: {sys.executable} cannot import torch ({e})")
        return 3
    if core_from:  # the core another choose kept, for another trial
        with open(core_from) as f:
            choice = json.load(f)
        choice.pop("trial", None)
    else:
        core_env, label, rows = choose_core(pin)
        print(f"PyTorch's BLAS, sgemm 512x512x512 on 1 thread{'' if pin is None else f' (CPU {pin})'}, "
              f"best of 3 processes per core, alternating:")
        for how, env, r in rows:
            setting = " ".join(f"{k}={v}" for k, v in env.items()) or "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset"
            blas = r.get("blas", {})
            core = blas.get("corename", blas.get("error", "?"))
            result = r["error"] if "error" in r else f"{r['gflops']:.1f} GFLOP/s"
            print(f"  {how:<11s} {core:<11s} {result:<16s} ({setting})")
        if core_env is None:
            print(f"PyTorch is skipped: {label}")
            return 3
        kept = [r for r in rows if r[1] == core_env][0][2]
        print(f"  kept: {kept['blas'].get('corename', '?')} ({label})"
              + (f"; a forced core is kept only when {100 * (FORCED_MARGIN - 1):.0f}% faster"
                 if len(rows) > 1 else ""))
        choice = {"core_env": core_env, "core": kept["blas"].get("corename"), "core_source": label,
                  "blas": kept["blas"], "torch": kept.get("torch"),
                  "sgemm": [[r.get("blas", {}).get("corename", "?"), how, r.get("gflops")] for how, _, r in rows],
                  "settings": {"1": (1, 1, 1)}}
    if threads > 1:
        names = list(THREAD_SETTINGS)
        setting_of = {n: THREAD_SETTINGS[n](threads) for n in names}
        best = names[0]
        if trial_cmd:
            rates = {n: 0.0 for n in names}
            for _ in range(2):
                for n in names:
                    rates[n] = max(rates[n], trial(choice["core_env"], setting_of[n], trial_cmd[0], trial_cmd[1:]))
            best = max(names, key=lambda n: rates[n])
            print(f"PyTorch on {threads} threads, short trials of {' '.join(os.path.basename(a) for a in trial_cmd)}, "
                  f"best of 2 each:")
            for n in names:
                t, b, o = setting_of[n]
                print(f"  torch.set_num_threads({t}) OPENBLAS_NUM_THREADS={b} OMP_NUM_THREADS={o}: "
                      f"{rates[n]:.0f} samples/s{'   <- kept' if n == best else ''}")
            choice["trial"] = [[list(setting_of[n]), rates[n]] for n in names]
        choice["settings"][str(threads)] = setting_of[best]
    with open(path, "w") as f:
        json.dump(choice, f)
    return 0


def debian_package():
    """ " (Debian's python3-torch 1.13.1+dfsg-4)" where dpkg knows the package, else "". """
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-torch"], capture_output=True, text=True)
        return f" (Debian's python3-torch {p.stdout.strip()})" if p.returncode == 0 and p.stdout.strip() else ""
    except OSError:
        return ""


def describe(path):
    """The configuration of FILE's choice for a README table cell."""
    with open(path) as f:
        c = json.load(f)
    sgemm = ", ".join(f"{core}{' (detected)' if how == 'detected' else ''} {g:.0f}" if g else f"{core} failed"
                      for core, how, g in c["sgemm"])
    text = (f"PyTorch {c['torch']}{debian_package()}, OpenBLAS {c['blas']['version']} core {c['core']} ({c['core_source']}; "
            f"sgemm 512³ GFLOP/s: {sgemm})")
    for t, (tt, b, o) in sorted(c["settings"].items()):
        text += f"; {t} thread{'s' if t != '1' else ''}: torch {tt}, OpenBLAS {b}, OMP {o}"
        if t != "1" and "trial" in c:
            text += f" (best of {len(c['trial'])} settings tried)"
    return text


def run(path, threads, script, args):
    with open(path) as f:
        choice = json.load(f)
    setting = choice["settings"].get(str(threads), (threads, 1, 1))
    argv, env = command(choice["core_env"], setting, script, args)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


def main(argv):
    if argv[:1] == ["cpu"]:
        print(cpu_line())
        return 0
    if argv[:1] == ["probe"]:
        probe()
        return 0
    if argv[:1] == ["describe"] and len(argv) == 2:
        print(describe(argv[1]))
        return 0
    if argv[:1] == ["choose"] and len(argv) >= 2:
        path, pin, threads, trial_cmd, core_from, rest = argv[1], None, 2, [], None, argv[2:]
        while rest:
            if rest[0] == "--pin" and len(rest) > 1:
                pin, rest = (None if rest[1] == "" else int(rest[1])), rest[2:]
            elif rest[0] == "--threads" and len(rest) > 1:
                threads, rest = int(rest[1]), rest[2:]
            elif rest[0] == "--core-from" and len(rest) > 1:
                core_from, rest = rest[1], rest[2:]
            elif rest[0] == "--trial" and len(rest) > 1:
                trial_cmd, rest = rest[1:], []
            else:
                break
        if not rest:
            return choose(path, pin, threads, trial_cmd, core_from)
    if argv[:1] == ["run"] and len(argv) >= 4:
        run(argv[1], int(argv[2]), argv[3], argv[4:])
    print("usage: peer_config.py cpu | choose FILE [--pin CPU] [--threads T] [--core-from FILE] "
          "[--trial SCRIPT ARGS...] | describe FILE | run FILE T SCRIPT ARGS...  (see bench/peer_config.py)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
