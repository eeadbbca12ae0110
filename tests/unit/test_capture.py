"""What a sandboxed program writes is kept up to a bound: its first and last HALF bytes
of each stream, and how much was left out between them."""

from __future__ import annotations

import sys

from relinterp.verify.capture import HALF, Captured, run_captured


def python(code: str, timeout: float = 60):
    return run_captured([sys.executable, "-c", code], timeout=timeout)


def test_short_output_is_kept_whole():
    done = python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert (done.status, done.stdout.text(), done.stderr.text()) == (3, "out\n", "err\n")
    assert done.stdout.omitted == done.stderr.omitted == 0


def test_long_output_keeps_its_head_and_tail_and_counts_the_rest():
    done = python(f"import sys; sys.stdout.write('h' * {HALF} + 'm' * 3000000 + 't' * {HALF})")
    assert done.status == 0
    assert (done.stdout.head, done.stdout.tail, done.stdout.omitted) == (b"h" * HALF, b"t" * HALF, 3000000)
    assert done.stdout.text() == "h" * HALF + "\n[... 3000000 bytes left out ...]\n" + "t" * HALF


def test_a_command_past_its_time_limit_is_stopped_with_what_it_wrote():
    done = python("import sys, time; print('started', flush=True); time.sleep(600)", timeout=1)
    assert (done.status, done.stdout.text()) == (None, "started\n")


def test_a_head_that_ends_mid_line_gets_its_own_line_before_the_count():
    assert Captured(b"abc", b"xyz", 5).text() == "abc\n[... 5 bytes left out ...]\nxyz"
