"""A table handed to ``st.dataframe`` as Arrow shows what the rows would have shown."""

from __future__ import annotations

from streamlit import dataframe_util as du

from sizing.ui.table import arrow


def _shown(data):
    """What the browser receives, read back as Streamlit's tests read it."""
    return du.convert_arrow_bytes_to_pandas_df(du.convert_anything_to_arrow_bytes(data))


def test_rows_as_arrow_show_the_same_table_as_the_rows():
    rows = [
        {"part": "Weights", "size": "4.68 GiB"},
        {"part": "KV cache", "size": "1.00 GiB", "note": "q8_0"},  # a column only later rows have
        {"part": "Total", "size": None},
    ]
    ours, theirs = _shown(arrow(rows)), _shown(rows)
    assert list(ours.columns) == list(theirs.columns) == ["part", "size", "note"]
    assert ours.where(ours.notna(), None).values.tolist() == theirs.where(theirs.notna(), None).values.tolist()


def test_a_column_of_mixed_types_is_left_to_streamlit():
    rows = [{"n": 1}, {"n": "two"}]
    assert arrow(rows) is rows
    assert list(_shown(arrow(rows))["n"].astype(str)) == ["1", "two"]
