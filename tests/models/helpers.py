"""Helpers of the model tests."""

from __future__ import annotations

import pytest

from bcbench.errors import ModelError


def model_error(excinfo: pytest.ExceptionInfo[ModelError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, "ModelError messages are one line"
    return message
