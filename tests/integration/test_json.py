"""--json: one versioned document per run, for patch, restore and inspect, with an error
entry per refused file; every document is checked against the schema the package ships."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest

import relinterp
from conftest import LOADER_REL, relinterp as relinterp_cli
from relinterp import report
from relinterp.render.files import document as run_document
from relinterp.rewrite.candidates import OPTION, SYSTEM, LoaderCandidate
from relinterp.errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, NotElfError
from report_support import json_run, report_schema, valid_document


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(report_schema())
    assert report_schema()["properties"]["schema"] == {"const": report.SCHEMA}


def test_patch_document_has_the_version_command_files_summary_and_exit_code(programs, tmp_path):
    app, static, script = tmp_path / "app", tmp_path / "static", tmp_path / "script"
    shutil.copy2(programs["probe"], app)
    shutil.copy2(programs["static"], static)
    script.write_text("#!/bin/sh\n")
    document, result = json_run("patch", app, static, script, "--loader-rel", LOADER_REL)
    assert result.exit_code == document["exit_code"] == EXIT_FAILED
    assert (document["relinterp"], document["schema"], document["command"], document["dry_run"]) == \
           (relinterp.__version__, report.SCHEMA, "patch", False)
    done, nothing, refused = document["files"]
    assert done["status"] == "patched" and done["written"] and [c["path"] for c in done["candidates"]] == [LOADER_REL]
    assert done["size"]["after"] == app.stat().st_size
    assert nothing == {"path": str(static), "status": "error", "error": {
        "kind": "nothing-to-patch", "message": f"{static}: static executable, nothing to patch",
        "exit_code": EXIT_NOTHING_TO_DO}}
    assert refused["error"] == {"kind": "not-elf", "message": f"{script}: not an ELF file", "exit_code": EXIT_FAILED}
    assert document["summary"] == {"files": 3, "patched": 1, "error": 2}


def test_a_single_refused_file_still_gets_a_document(programs, tmp_path):
    static = tmp_path / "static"
    shutil.copy2(programs["static"], static)
    document, result = json_run("patch", static, "--loader-rel", LOADER_REL)
    assert result.exit_code == document["exit_code"] == EXIT_NOTHING_TO_DO
    assert [f["status"] for f in document["files"]] == ["error"]
    assert result.stderr == f"{static}: static executable, nothing to patch\n"  # people still read stderr


def test_the_real_command_prints_only_the_document_on_stdout(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    result = relinterp_cli("patch", app, "--loader-rel", LOADER_REL, "--json")
    assert result.returncode == EXIT_OK, result.stderr
    document = valid_document(result.stdout)
    assert document["files"][0]["status"] == "patched"
    result = relinterp_cli("restore", app, "--json")
    assert valid_document(result.stdout)["files"][0]["exact"] is True


def test_api_results_serialise_exactly_as_the_cli_reports_them(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    dry = relinterp.patch(app, loader_rel=LOADER_REL, dry_run=True)
    document, _ = json_run("patch", app, "--loader-rel", LOADER_REL, "--dry-run")
    assert document["files"] == [dry.to_json()]
    assert document["dry_run"] is True
    relinterp.patch(app, loader_rel=LOADER_REL)
    document, _ = json_run("inspect", app)
    assert document["files"] == [relinterp.inspect(app).to_json()]


def test_every_kind_of_result_fits_the_schema():
    """The shapes a small run may not produce (a defect in a worker, a broken install)."""
    segment = report.StubSegment(offset=16, vaddr=4096, size=100, align=4096)
    candidates = (LoaderCandidate("../lib/ld.so", OPTION), LoaderCandidate("/lib/ld.so", SYSTEM))
    results = [
        report.PatchResult("a", report.WOULD_PATCH, "a", False, candidates, "/lib/ld.so", "EM_X86_64", "ET_DYN",
                           1, 2, segment),
        report.RestoreResult("b", report.RESTORED_NOT_EXACT, "b", False, None, 3, 3),
        report.Skipped("c", "not an ELF file"),
        report.SameFile("d", "a", linked=True),
        report.FileError.of(NotElfError("e", "not an ELF file")),
        report.FileError("f", "internal", "f: internal error: KeyError: 1", EXIT_FAILED),
        report.FileError("g", "broken-installation", "g: broken installation: ...", EXIT_FAILED),
    ]
    document = run_document("patch", results, EXIT_FAILED, dry_run=False)
    valid_document(json.dumps(document))
    assert document["summary"]["files"] == len(results)


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(schema=2),
    lambda d: d["files"][0].update(status="done"),
    lambda d: d["files"][0].pop("output"),
    lambda d: d["files"][0].update(surprise=1),
    lambda d: d["summary"].update(weird=1),
])
def test_the_schema_rejects_documents_that_drift_from_it(programs, tmp_path, mutate):
    """A control: the validation above would catch a change in the document's shape."""
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    document, _ = json_run("patch", app, "--loader-rel", LOADER_REL)
    mutate(document)
    with pytest.raises(jsonschema.ValidationError):
        valid_document(json.dumps(document))
