"""The pure core: architecture, scenario, quant, memory, placement, speed, fine-tuning, the
solver, the planner and launch commands.

Nothing here does I/O beyond reading the shipped YAML tables (``core.tables``), talks to
the network, starts a process or knows about Streamlit, the CLI or ``live/``;
``tests/test_layout.py`` walks these modules and fails on any such import.
"""
