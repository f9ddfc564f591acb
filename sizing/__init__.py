"""llm-sizing: can I run this language model on this hardware, and how fast?

The functional core (models, quant, memory, speed, placement, planner) is pure; the
adapters (CLI, UI, detection, Hugging Face, GGUF files, llama.cpp runs) sit around it.
"""

__version__ = "0.1.0"
