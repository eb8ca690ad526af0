"""devtools.explain_timing runs and reports every part it times (tiny model, tiny images)."""

from __future__ import annotations

from devtools.explain_timing import main


def test_the_timing_reports_each_part_per_image(capsys) -> None:
    result = main(["--model", "simple_cnn", "--image-size", "16", "--count", "4"])

    assert result["layer"] == "features" and result["image_size"] == 16
    assert set(result["parts_s"]) == {"model", "model_randomised", "references"}
    assert 0 < result["cam_pass_s_per_image"] < result["explain_run_s_per_image"]
    assert '"model": "simple_cnn"' in capsys.readouterr().out
