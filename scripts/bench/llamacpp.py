#!/usr/bin/env python3
"""Side-by-side for `sv bench model`: load time, prefill and decode tokens/s of llama.cpp (through
llama-cpp-python) on the same GGUF, on the same machine.

Setup (PyPI only; builds llama.cpp from source, several minutes on 2 cores):
    python3 -m venv ~/.cache/sv/llamacpp-venv
    ~/.cache/sv/llamacpp-venv/bin/pip install llama-cpp-python==0.3.16
Run:
    ~/.cache/sv/llamacpp-venv/bin/python scripts/bench/llamacpp.py --prompt-tokens 512 --reps 3

Same protocol as `sv bench model`: a prompt of exactly N tokens (English + Windows-log text, cycled),
prefilled in one call, then 128 tokens decoded greedily, end-of-turn ignored; medians over --reps.
"""
import argparse
import os
import statistics
import time

from llama_cpp import Llama

TEXT = (
    "The analyst reviewed the Windows event logs for signs of credential dumping. "
    "EventID 4688 NewProcessName C:\\Windows\\System32\\rundll32.exe CommandLine "
    "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\temp\\lsass.dmp full "
    "ParentProcessName C:\\Windows\\System32\\cmd.exe SubjectUserName admin LogonId 0x3e7 "
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.expanduser(
        "~/.cache/sv/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    loads, prefills, decodes = [], [], []
    for _ in range(a.reps):
        t = time.perf_counter()
        llm = Llama(model_path=a.weights, n_ctx=a.prompt_tokens + a.decode_tokens + 8,
                    n_batch=512, n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
        loads.append(time.perf_counter() - t)
        toks = []
        while len(toks) < a.prompt_tokens:
            toks += llm.tokenize(TEXT.encode(), add_bos=False)
        toks = toks[: a.prompt_tokens]
        t = time.perf_counter()
        llm.eval(toks)
        prefills.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(a.decode_tokens):
            tok = llm.sample(top_k=1, temp=0.0)
            llm.eval([tok])
        decodes.append(time.perf_counter() - t)
        del llm
    load, pre, dec = (statistics.median(x) for x in (loads, prefills, decodes))
    print(f"llama.cpp (llama-cpp-python) {os.path.basename(a.weights)}, {a.threads} threads, "
          f"median of {a.reps}")
    print(f"  load                 {load * 1e3:8.1f} ms")
    print(f"  prefill {a.prompt_tokens:5d} tokens {pre * 1e3:8.1f} ms  {a.prompt_tokens / pre:8.1f} tok/s")
    print(f"  decode  {a.decode_tokens:5d} tokens {dec * 1e3:8.1f} ms  {a.decode_tokens / dec:8.1f} tok/s")


if __name__ == "__main__":
    main()
