"""Live checks: run llama.cpp on this machine and compare it with the estimate.

Entry points: ``sizing.live.check.run_check`` (the whole check, as the CLI and UI call
it), ``sizing.live.select.select_runner``, ``sizing.live.runner.Runner`` / ``Check`` / ``Measurement``
(one run through llama.cpp in a child process), ``sizing.live.safety`` (web-mode path
checks), ``sizing.live.store`` (the JSON-lines run store) and ``sizing.live.calibrate``
(comparison and this machine's speed factors). Nothing is imported here, so importing
``sizing.live.probe`` or ``sizing.live.synthetic`` stays cheap.
"""


def run_check(*args, **kwargs):
    """See :func:`sizing.live.check.run_check`."""
    from sizing.live.check import run_check as _run_check

    return _run_check(*args, **kwargs)
