"""Which kind of screen asked for the page, so a phone gets the answer first.

Streamlit lays a page out on the server, so the choice is made from the request's
User-Agent: browsers on phones put "Mobi" in it (the convention MDN documents for
telling phones from desktops, https://developer.mozilla.org/en-US/docs/Web/HTTP/Guides/Browser_detection_using_the_user_agent).
"""

from __future__ import annotations

import streamlit as st


def is_phone() -> bool:
    try:
        ua = st.context.headers.get("User-Agent") or ""
    except Exception:  # no request (AppTest, bare mode): a desktop layout
        return False
    return "Mobi" in ua
