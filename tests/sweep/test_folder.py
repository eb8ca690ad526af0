"""A sweep folder holds one experiment: another data set or recipe goes to the next free folder, the same
one resumes, a failed start leaves nothing behind."""

from __future__ import annotations

import pytest
import yaml

from bcbench.config import load_config, to_dict
from bcbench.errors import BcbenchError
from bcbench.record import append_record, shard_path
from bcbench.sweep import choose_folder
from bcbench.sweep.runner import removed_if_the_start_fails


def _config(tmp_path, *overrides):
    return load_config(None, [f"output_dir={tmp_path}", *overrides])


def _recorded(directory, config):
    """A sweep folder as a finished run of ``config`` leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
    append_record(shard_path(directory, "w"), {"run_id": "x", "status": "ok"})


def test_the_same_experiment_resumes_and_more_seeds_or_models_join_it(tmp_path):
    _recorded(tmp_path / "default", _config(tmp_path))
    assert choose_folder(_config(tmp_path)) == (tmp_path / "default", "")
    assert choose_folder(_config(tmp_path, "seeds=[0,1,2,3]", "models=[resnet18]"))[0] == tmp_path / "default"


@pytest.mark.parametrize("override", ["data.root=/data/mine", "train.epochs=3", "data.image_size=32"])
def test_another_data_set_or_recipe_goes_to_the_next_free_folder_and_says_why(tmp_path, override):
    _recorded(tmp_path / "default", _config(tmp_path))
    folder, note = choose_folder(_config(tmp_path, override))
    assert folder == tmp_path / "default-2"
    key = override.split("=")[0]
    assert (
        note.startswith(f"{tmp_path / 'default'} ({key}: ") and f"writing to {tmp_path / 'default-2'}" in note
    )
    _recorded(folder, _config(tmp_path, override))
    assert choose_folder(_config(tmp_path, override)) == (tmp_path / "default-2", note)  # and resumes there


def test_a_folder_without_records_is_taken_as_it_is(tmp_path):
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "config.yaml").write_text(
        yaml.safe_dump(to_dict(_config(tmp_path, "train.epochs=3")))
    )
    assert choose_folder(_config(tmp_path))[0] == tmp_path / "default"


def test_a_folder_of_an_older_bcbench_is_read_with_its_old_key_names(tmp_path):
    raw = to_dict(_config(tmp_path))
    raw["efficiency"] = raw.pop("cost")
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "config.yaml").write_text(yaml.safe_dump(raw))
    append_record(shard_path(tmp_path / "default", "w"), {"run_id": "x", "status": "ok"})
    assert (
        choose_folder(_config(tmp_path))[0] == tmp_path / "default"
    )  # quietly: a note per folder would be noise


def test_a_failed_start_removes_the_folder_it_created_and_only_that(tmp_path):
    created, kept = tmp_path / "new", tmp_path / "old"
    kept.mkdir()
    for folder in (created, kept):
        with pytest.raises(BcbenchError), removed_if_the_start_fails(folder):
            (folder / "claims").mkdir(parents=True, exist_ok=True)
            raise BcbenchError("unknown model")
    assert not created.exists() and kept.is_dir()
