"""The record's robustness block: typed both ways, absent from records written before it existed."""

from __future__ import annotations

from bcbench.record import RunRecord
from bcbench.robustness import RobustnessBlock


def test_the_block_round_trips_through_a_record():
    block = RobustnessBlock(
        corruptions=["speckle_noise"],
        severities=[1, 5],
        images=117,
        device="cuda:0",
        seconds=3.5,
        distance={"speckle_noise": [6.5, 19.2]},
        seconds_by_corruption={"speckle_noise": 0.4},
    )
    record = RunRecord(run_id="r", status="ok", robustness=block)
    loaded = RunRecord.from_json(record.to_json())
    assert loaded.robustness == block and isinstance(loaded.robustness, RobustnessBlock)
    assert loaded.to_json()["robustness"]["distance"] == {"speckle_noise": [6.5, 19.2]}


def test_a_record_without_the_block_loads_with_none():
    assert RunRecord.from_json({"run_id": "old", "status": "ok"}).robustness is None
