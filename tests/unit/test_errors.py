"""A refusal's message is one line that is safe to show, whatever the file held; its
path and reason stay exact."""

from __future__ import annotations

from relinterp.errors import MalformedElfError, NotPatchedError, printable


def test_a_message_is_one_printable_line_and_the_reason_stays_exact():
    reason = "not patched any more: PT_INTERP /lib/ld\n-forged\x1b[2J is back"
    error = NotPatchedError("dist/app-\udcff", reason)
    assert str(error) == "dist/app-\\xff: not patched any more: PT_INTERP /lib/ld\\n-forged\\x1b[2J is back"
    assert (error.path, error.reason) == ("dist/app-\udcff", reason)
    assert str(error.about("bin/app\r")) == "bin/app\\r: " + printable(reason)


def test_printable_escapes_controls_but_tab_and_leaves_other_text_alone():
    assert printable("a\tb\x00\x7f\x85é\u2028") == "a\tb\\x00\\x7f\\x85é\u2028"
    assert printable(printable("x\ny\udcfe")) == "x\\ny\\xfe"  # escaping twice changes nothing
    assert str(MalformedElfError("p", "ok")) == "p: ok"
