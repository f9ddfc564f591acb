"""llm-sizing: can I run this language model on this hardware, and how fast?

The public API is five names (documented, with examples, in ``docs/python-api.md``):

- :func:`estimate` — model and settings (and optionally a machine) in, one :class:`Answer` out;
- :class:`Answer` — memory by part, placement, speed and launch commands, each with its basis;
- :class:`Scenario` — one llama.cpp run's settings, as the pure core takes them;
- :class:`SizingError` — bad input, always one clear line;
- ``__version__``.

The functional core (``sizing.core``) is pure; the adapters (CLI, UI, detection, Hugging
Face, GGUF files, llama.cpp runs) sit around it.
"""

from sizing.answer import Answer, estimate
from sizing.core.scenario import Scenario
from sizing.errors import SizingError

__version__ = "0.1.0"

__all__ = ["Answer", "Scenario", "SizingError", "__version__", "estimate"]
