"""Where a machine's figures came from, as basis entries of an Answer.

The CLI and the UI describe hardware the same three ways (database entries, this
machine's detection, figures a user typed); both say so with these entries, so the
same inputs give the same Answer from either.
"""

from __future__ import annotations

from collections.abc import Iterable

from sizing.core.gpu import GPU
from sizing.core.scenario import Basis

TYPED = Basis(what="Hardware", source="typed by the user", method="memory and bandwidth as given")
DETECTED = Basis(
    what="Hardware",
    source="detected on this machine (sizing.hardware.detect)",
    method="free memory per device; RAM bandwidth measured by a streaming probe",
    measured=True,
)


def database_basis(gpus: Iterable[GPU]) -> list[Basis]:
    """One entry per distinct database GPU, in the order given."""
    seen = {g.id: g for g in gpus}
    return [
        Basis(what=g.name, source=g.sources.memory, method="GPU database entry (data/gpus.yaml)") for g in seen.values()
    ]
