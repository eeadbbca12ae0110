"""Two patches of one file at once, with different options: whichever renames last, the
file's restore record proves the original.  Each run reads the file once, through the
descriptor it opened, so the other run's output replacing the path meanwhile cannot
reach its digest."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from relinterp import api

pytestmark = pytest.mark.usefixtures("musl_gcc")
PAIRS = 50
SIZE = 1 << 20  # long enough to hash that the other run's rename lands meanwhile


def patching(app, loader_rel: str) -> int:
    """A process patching `app` (relinterp.api.patch, in a fork of this one: what the
    command runs, without an interpreter to start); its pid."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            api.patch(app, loader_rel=loader_rel)
            status = 0
        finally:
            os._exit(status)
    return pid


def test_fifty_concurrent_patch_pairs_all_record_a_digest_that_proves_the_original(programs, tmp_path):
    original = tmp_path / "original"
    shutil.copy2(programs["probe"], original)
    with open(original, "ab") as padded:
        padded.truncate(SIZE)
    expected = hashlib.sha256(original.read_bytes()).hexdigest()
    app = tmp_path / "app"
    for pair in range(PAIRS):
        shutil.copy2(original, app)
        runs = [patching(app, rel) for rel in ("a/ld.so", "b/ld.so")]
        assert [os.waitstatus_to_exitcode(os.waitpid(run, 0)[1]) for run in runs] == [0, 0], f"pair {pair}"
        inspection = api.inspect(app)
        assert inspection.patch is not None and inspection.patch.exact_restore, f"pair {pair}"
        restored = api.restore(app, output=tmp_path / "restored")
        assert restored.exact and hashlib.sha256((tmp_path / "restored").read_bytes()).hexdigest() == expected
