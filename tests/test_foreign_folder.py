"""A start clears a folder it may restart: never one whose config.json evoface did not write."""

from __future__ import annotations

from conftest import assert_one_line_error, run_cli


def test_a_folder_with_another_tools_config_json_is_left_alone(tmp_path, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.json").write_text('{"name": "my project"}\n')
    (folder / "notes.txt").write_text("keep me\n")
    code, err = run_cli(["evolve", "--out", str(folder), "--generations", "1", "--device", "cpu"], capsys)
    assert_one_line_error(code, err, "did not write")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "keep me\n"
