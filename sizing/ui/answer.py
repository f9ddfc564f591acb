"""The answer section of "Can I run it?": verdict, memory, speed, limits, fit map, commands."""

from __future__ import annotations

from typing import Any

import streamlit as st

from sizing.ui import services
from sizing.ui.inputs import HardwareChoice, ModelChoice


def render(choice: ModelChoice, values: dict[str, Any], hw: HardwareChoice) -> None:
    services.estimate_fn()
