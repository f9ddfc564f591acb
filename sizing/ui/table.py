"""A page's small table (rows of dicts) as an Arrow table, for ``st.dataframe``.

Given a list of dicts, Streamlit builds a pandas DataFrame and converts that to Arrow on
every rerun, about 1 ms for a table of a few rows (most of a table's cost on the wire).
Built column by column, the Arrow table is the same data in a few hundredths of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa


def arrow(rows: Sequence[dict[str, Any]]) -> Any:
    """``rows`` as a ``pyarrow.Table``: the columns in order of first appearance, a missing
    value as null. Rows whose columns mix types Arrow cannot hold together are returned as
    they are, for Streamlit's own conversion (which turns such a column into text)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    try:
        return pa.table({k: [r.get(k) for r in rows] for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return rows
