"""llm-sizing: can I run this language model on this hardware, and how fast?

The functional core (models, quant, memory, speed, placement, planner) is pure; the
adapters (CLI, UI, detection, Hugging Face, GGUF files, llama.cpp runs) sit around it.
"""

from pathlib import Path

__version__ = "0.1.0"

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
