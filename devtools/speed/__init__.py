"""The side-by-side speed tool (``bench/speed.py``): bcbench's data path and training epoch against a plain
torchvision ImageFolder/DataLoader pipeline. A developer tool, not part of bcbench's data flow."""

from devtools.speed.output import format_speed_table, target_lines, write_speed_json
from devtools.speed.settings import SpeedError, SpeedResult, SpeedSettings, Timing
from devtools.speed.timing import run_speed

__all__ = [
    "SpeedError",
    "SpeedResult",
    "SpeedSettings",
    "Timing",
    "format_speed_table",
    "run_speed",
    "target_lines",
    "write_speed_json",
]
