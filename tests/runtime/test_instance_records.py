"""Instance records on disk: round trip, interrupted writes, files that are not records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from v11ops.runtime._instance import Instance, StopOutcome, StopResult
from v11ops.runtime._records import InstanceRecords


def _instance(instance_id: str = "blue-1", host: str = "127.0.0.1") -> Instance:
    return Instance(
        id=instance_id,
        slot="blue",
        version="1.0.0",
        pid=4242,
        pgid=4242,
        port=9100,
        start_time=123,
        fingerprint="sha256:abc",
        started_at=1.5,
        log_path="/tmp/blue.log",
        host=host,
    )


def test_a_saved_record_loads_back_equal_and_removing_twice_is_fine(tmp_path: Path) -> None:
    records = InstanceRecords(tmp_path / "instances")
    assert records.load_all() == ([], []), "no folder yet: nothing recorded"
    records.save(_instance())
    assert records.load_all() == ([_instance()], [])
    records.remove("blue-1")
    records.remove("blue-1")
    assert records.load_all() == ([], [])


def test_leftovers_and_unrelated_files_are_not_taken_for_records(tmp_path: Path) -> None:
    folder = tmp_path / "instances"
    records = InstanceRecords(folder)
    records.save(_instance())
    (folder / ".blue-2.x1.tmp").write_text('{"half": ')  # a write that never got renamed
    (folder / "README").write_text("not a record")
    (folder / "broken.json").write_text("{not json")
    (folder / "wrong.json").write_text(json.dumps({**_instance().to_record(), "pid": "4242"}))
    (folder / "short.json").write_text(json.dumps({"id": "x"}))
    instances, broken = records.load_all()
    assert instances == [_instance()]
    assert sorted(p.name for p in broken) == ["broken.json", "short.json", "wrong.json"]
    assert not (folder / ".blue-2.x1.tmp").exists(), "the interrupted write is cleaned up"
    assert (folder / "README").exists()


def test_a_record_from_a_later_version_with_extra_fields_still_loads(tmp_path: Path) -> None:
    folder = tmp_path / "instances"
    folder.mkdir()
    (folder / "blue-1.json").write_text(
        json.dumps({**_instance().to_record(), "record_version": 2, "cgroup": "/v11"})
    )
    assert InstanceRecords(folder).load_all() == ([_instance()], [])


def test_a_failed_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "instances"
    (folder / "blue-1.json").mkdir(parents=True)  # the rename target cannot be replaced
    (folder / "blue-1.json" / "keep").write_text("")
    with pytest.raises(OSError):
        InstanceRecords(folder).save(_instance())
    assert sorted(p.name for p in folder.iterdir()) == ["blue-1.json"]


def test_an_ipv6_host_is_bracketed_in_the_base_url() -> None:
    assert _instance(host="::1").base_url == "http://[::1]:9100"
    assert _instance().base_url == "http://127.0.0.1:9100"


def test_a_stop_result_serialises_its_outcome_as_text() -> None:
    result = StopResult(StopOutcome.KILLED, None, 30.5)
    assert result.to_dict() == {"outcome": "killed", "exit_code": None, "duration_s": 30.5}
