"""A relinterp record that cannot be true is refused as corrupt, never an internal error."""

from __future__ import annotations

import pytest

import relinterp
from hostile_support import copied
from relinterp.errors import MalformedElfError
from synthetic import synthetic_executable


def test_a_32_bit_record_with_a_64_bit_entry_is_corrupt(tmp_path):
    """`restore` once failed packing that entry into the ELF32 header (FieldError)."""
    path = tmp_path / "app"
    synthetic_executable(path, 32, True, "EM_386")
    relinterp.patch(path, loader_rel="../lib/ld.so")
    app = copied(path, tmp_path / "corrupt").config("entry", 1 << 32).save()
    before = app.read_bytes()
    for operation in (relinterp.inspect, relinterp.restore):
        with pytest.raises(MalformedElfError) as refused:
            operation(app)
        assert str(refused.value) == f"{app}: relinterp record is corrupt (entry 0x100000000, dynamic 0x0: " \
                                     "not 32-bit addresses)"
    assert app.read_bytes() == before
