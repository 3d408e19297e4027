"""engine/config.py asks glibc to keep freed memory for the next training step: without it,
every step's multi-megabyte outputs and gradients came back as fresh pages (7,900 page faults
per resnet20 step)."""

import subprocess
import sys
import textwrap

import pytest

# Six 4 MiB arrays written and freed per round, like a step's outputs and gradients: glibc's
# defaults trim the freed top of the heap each round, and the next round faults it in again.
_ROUNDS = textwrap.dedent(
    """
    import resource, sys
    import engine
    import numpy as np
    from engine.config import MALLOC_TUNED
    def round_():
        arrays = [np.empty(1 << 20, np.float32) for _ in range(6)]
        for a in arrays:
            a[:] = 1.0
    round_()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        round_()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(MALLOC_TUNED, faults)
    """
)


def _run(env_flag):
    import os

    env = {**os.environ, "CNN_WORKBENCH_MALLOC": env_flag}
    out = subprocess.run([sys.executable, "-c", _ROUNDS], env=env, capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    tuned, faults = out.stdout.split()
    return tuned == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_step_memory_is_reused_without_page_faults():
    tuned, faults = _run("1")
    assert tuned
    # 20 rounds x 6 x 1024 pages would fault again without the tuning.
    assert faults < 500, f"{faults} page faults in 20 rounds"


def test_the_flag_turns_the_tuning_off():
    tuned, _ = _run("0")
    assert not tuned


# A step's worth of memory (120 MiB: more than one of glibc's 64 MiB thread heaps) allocated,
# written and freed per round in a thread started after the import, as the window's training
# thread and background computations are: a thread of its own arena faulted ~5,000 pages a
# round in again (its heaps past the first are unmapped when free).
_THREAD_ROUNDS = textwrap.dedent(
    """
    import resource, threading
    import engine
    import numpy as np
    def round_():
        arrays = [np.empty(1 << 20, np.float32) for _ in range(30)]
        for a in arrays:
            a[:] = 1.0
    def rounds(out):
        round_()
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(10):
            round_()
        out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    out = []
    thread = threading.Thread(target=rounds, args=(out,))
    thread.start()
    thread.join()
    print(out[0])
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
@pytest.mark.parametrize("flag", ["1", "0"])
def test_a_training_thread_reuses_its_freed_memory_too(flag):
    import os

    env = {**os.environ, "CNN_WORKBENCH_MALLOC": flag}
    out = subprocess.run([sys.executable, "-c", _THREAD_ROUNDS], env=env, capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    faults = int(out.stdout)
    if flag == "1":
        assert faults < 500, f"{faults} page faults in 10 rounds in a thread"
    else:  # glibc's defaults, for contrast: the test measures what it means to
        assert faults > 10 * 1024, f"only {faults} page faults without the tuning"
