"""What a hostile visitor tried, through the real pages (Streamlit AppTest).

Links cannot inject Markdown (a working "Sign in again" link, an image every visitor's
browser loads); web mode reads no server file for a typed name, follows no link out of
the model folders (a config.json or a split model's second part), and names no server
path in its errors. Rendering is checked with a CommonMark renderer (markdown-it-py):
an echoed value must render as exactly its own characters.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from sizing.ui.echo import inert, plain

ROOT = Path(__file__).resolve().parents[1]
RUN = "from sizing.ui.pages.run import render\nrender()"
FINETUNE = "from sizing.ui.pages.finetune import render\nrender()"
MD = MarkdownIt("commonmark", {"html": False})

SIGN_IN = "\n\n[Sign in again](https://evil.example)"  # /?kv=%0A%0A%5BSign+in+again%5D%28https%3A%2F%2Fevil.example%29
IMAGE = "\n![x](https://evil.example/pixel.png)"


def _page(script: str, **params: str) -> AppTest:
    at = AppTest.from_string(script, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _shown(at: AppTest) -> list[str]:
    return [
        str(e.value)
        for kind in ("warning", "error", "info", "success", "markdown", "caption", "title", "subheader", "header")
        for e in at.get(kind)
    ]


def _html(markdown: str) -> str:
    return MD.render(markdown)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    monkeypatch.delenv("LLM_SIZING_MODEL_DIRS", raising=False)


# --- echoed text -----------------------------------------------------------------------


@pytest.mark.parametrize("param", ["kv", "quant", "hw", "fq", "model", "gpu", "ctx", "src"])
@pytest.mark.parametrize("payload", [SIGN_IN, IMAGE], ids=["link", "image"])
def test_a_link_cannot_inject_markdown(param, payload):
    at = _page(RUN, hw="custom", **{param: payload}) if param != "hw" else _page(RUN, hw=payload)
    assert not at.exception
    shown = _shown(at)
    assert any(f"`{param}`" in s for s in shown), shown  # the parameter is named in a warning
    for s in shown:  # the app's own links may be there; none the visitor brought
        rendered = _html(s)
        assert not re.search(r'(href|src)="[^"]*evil', rendered), s


PAGES = ["run", "compare", "machine", "plan", "runs_well", "finetune"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("payload", [SIGN_IN, IMAGE], ids=["link", "image"])
def test_no_page_lets_any_of_its_parameters_inject_markdown(page, payload):
    """Every parameter a page reads from its link, all at once: each is named in a
    warning, and no link or image the visitor brought renders anywhere on the page."""
    names = _page(
        f"import streamlit as st\nfrom sizing.ui.pages.{page} import page_state\n"
        "st.session_state['names'] = [p.name for p in page_state().params]"
    ).session_state["names"]
    at = _page(f"from sizing.ui.pages.{page} import render\nrender()", **dict.fromkeys(names, payload))
    assert not at.exception
    shown = _shown(at)
    assert [n for n in names if not any(f"`{n}`" in s for s in shown)] == []
    for s in shown:
        assert not re.search(r'(href|src)="[^"]*evil', _html(s)), s


@pytest.mark.timeout(180)
def test_a_plan_price_override_cannot_inject_markdown():
    """A value whose check quotes it back (an unknown price id) is inert too."""
    at = _page(
        "from sizing.ui.pages.plan import render\nrender()", prices=SIGN_IN.strip() + "=5," + IMAGE.strip() + "=1"
    )
    assert not at.exception
    shown = _shown(at)
    assert any("`prices`" in s for s in shown), shown
    for s in shown:
        assert not re.search(r'(href|src)="[^"]*evil', _html(s)), s


def test_the_kv_link_of_the_report_renders_as_plain_text():
    at = _page(RUN, hw="custom", kv=SIGN_IN)
    warning = next(w.value for w in at.warning if "`kv`" in w.value)
    text = html.unescape(re.sub(r"<[^>]+>", "", _html(warning)))
    assert "[Sign in again](https://evil.example)" in text  # shown, as characters
    assert "\n\n" not in warning


def test_an_uploaded_file_name_is_echoed_inert():
    at = _page(RUN, src="file", hw="custom")
    at.get("file_uploader")[0].upload("[Sign in](https:__evil.example).gguf", b"not a model").run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert not re.search(r'(href|src)="[^"]*evil', _html(err)) and "not a GGUF file" in err


@pytest.mark.parametrize(
    "text",
    [
        SIGN_IN,
        IMAGE,
        "`code`",
        "**bold** _it_",
        ":material/home: :red[x]",
        "$x^2$",
        "<b>x</b>",
        "# head",
        "- item",
        "1. item",
        "> quote",
        "www.evil.example",
        "a@evil.example",
        "x\r\ny\x1b[31mz\u202e",
    ],
)
def test_inert_renders_as_exactly_its_characters(text):
    out = inert(text)
    assert "\n" not in out and "\r" not in out
    rendered = _html(out).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>"), rendered
    assert html.unescape(rendered[3:-4]) == plain(text).strip()


# --- web mode reads only what it must -----------------------------------------------------


def _web(monkeypatch, dirs: list[Path]) -> None:
    monkeypatch.setenv("LLM_SIZING_WEB_MODE", "1")
    monkeypatch.setenv("LLM_SIZING_MODEL_DIRS", ":".join(str(d) for d in dirs))


@pytest.mark.parametrize("script", [RUN, FINETUNE], ids=["run", "finetune"])
@pytest.mark.parametrize("name", ["Makefile", "sizing/models", "pyproject.toml", "tests"])
def test_a_typed_name_is_never_a_server_file(monkeypatch, script, name):
    """The answer for an existing file is the answer for a name that exists nowhere."""
    monkeypatch.chdir(ROOT)
    _web(monkeypatch, [])
    at = _page(script, src="hf", repo=name, hw="db")
    ghost = _page(script, src="hf", repo=name.replace("e", "q") + "zz", hw="db")
    assert not at.exception
    text = " ".join(_shown(at))
    for leak in ("not a .gguf", "config.json or", "folder has no", "not a regular file", str(ROOT)):
        assert leak not in text, text
    kinds = [e.value.split(":", 1)[-1][:40] for e in at.error]
    assert len(kinds) == len(ghost.error)


@pytest.mark.parametrize("script", [RUN, FINETUNE], ids=["run", "finetune"])
@pytest.mark.parametrize("repo", ["org/" + "m" * 100, "o" * 50 + "/" + "m" * 100], ids=["name", "owner"])
def test_a_repo_id_over_96_characters_is_one_message(monkeypatch, script, repo):
    """Typed into the repo field (a link's value is refused before it): one error, no traceback."""
    _web(monkeypatch, [])
    at = _page(script, src="hf", hw="db")
    key = next(t.key for t in at.text_input if t.key.endswith("repo"))
    at.text_input(key=key).set_value(repo).run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert "not a valid name" in err and "internal error" not in err and "\n" not in err


@pytest.mark.parametrize("script", [RUN, FINETUNE], ids=["run", "finetune"])
def test_a_config_json_link_out_of_the_folder_is_not_read(monkeypatch, tmp_path, script):
    models, outside = tmp_path / "models", tmp_path / "outside"
    (models / "evil").mkdir(parents=True)
    outside.mkdir()
    (outside / "config.json").write_text(
        '{"model_type": "llama", "hidden_size": 4242, "num_hidden_layers": 3,'
        ' "num_attention_heads": 2, "intermediate_size": 99, "vocab_size": 77}'
    )
    (models / "evil" / "config.json").symlink_to(outside / "config.json")
    monkeypatch.chdir(tmp_path)
    _web(monkeypatch, [models])
    for repo in ("models/evil", "evil"):
        at = _page(script, src="hf", repo=repo, hw="db")
        assert not at.exception
        text = " ".join(_shown(at))
        assert "4242" not in text and "4,242" not in text and str(tmp_path) not in text, text


def _split_model(folder: Path) -> list[Path]:
    from gguf import GGUFWriter

    w = GGUFWriter(folder / "tiny.gguf", "llama", split_max_tensors=2)
    w.add_file_type(0)  # all F32
    for k, v in {
        "block_count": 1,
        "embedding_length": 64,
        "attention.head_count": 2,
        "attention.head_count_kv": 2,
        "feed_forward_length": 128,
        "context_length": 256,
    }.items():
        w.add_uint32(f"llama.{k}", v)
    for n, sh in zip(
        ["token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight"],
        [(100, 64), (64,), (64,), (64, 64)],
    ):
        w.add_tensor(n, np.zeros(sh, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sorted(folder.glob("tiny-*-of-*.gguf"))


def test_a_split_part_linked_out_of_the_folder_is_refused(monkeypatch, tmp_path):
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    outside.mkdir()
    part1, part2 = _split_model(models)
    shutil.move(part2, outside / part2.name)
    part2.symlink_to(outside / part2.name)
    _web(monkeypatch, [models])
    at = _page(RUN, src="file", hw="db", gpu="nvidia-rtx-4090")
    box = at.selectbox(key="run.localfile")
    assert [o for o in box.options if "00001" in str(o)], box.options
    box.select_index([i for i, o in enumerate(box.options) if "00001" in str(o)][0]).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and "outside" in errors[0], errors
    text = " ".join(_shown(at))
    assert str(tmp_path) not in text and "Verdict" not in text


def test_the_same_split_model_inside_the_folder_is_read(monkeypatch, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    _split_model(models)
    _web(monkeypatch, [models])
    at = _page(RUN, src="file", hw="db", gpu="nvidia-rtx-4090")
    box = at.selectbox(key="run.localfile")
    box.select_index([i for i, o in enumerate(box.options) if "00001" in str(o)][0]).run()
    assert not at.exception and not at.error
    assert "Verdict" in " ".join(_shown(at))


def test_web_mode_errors_name_no_server_path(monkeypatch, tmp_path):
    """A corrupt file in the model folder: the message names the file, not the folder."""
    models = tmp_path / "srv-models-secret"
    models.mkdir()
    (models / "broken.gguf").write_bytes(b"GGUF" + b"\3\0\0\0" + b"\xff" * 40)
    _web(monkeypatch, [models])
    at = _page(RUN, src="file", hw="db", gpu="nvidia-rtx-4090")
    at.selectbox(key="run.localfile").select_index(1).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and "broken" in errors[0], errors
    assert all("srv" not in e and str(tmp_path) not in e for e in errors), errors


@pytest.mark.parametrize("repo", ["acme/broken", "acme/missing"])
def test_web_mode_hub_errors_name_no_cache_path(monkeypatch, tmp_path, repo):
    """A corrupt cached config.json, or a repo not in the cache while offline: the message
    names the repo, not where the server keeps its Hub cache (the same page run locally
    does name it, so the web-mode message is the redaction's doing)."""
    cache = tmp_path / "srv-hub-secret"
    snap = cache / "models--acme--broken" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{not json")
    (cache / "models--acme--broken" / "refs").mkdir()
    (cache / "models--acme--broken" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    shown = {}
    for web in (False, True):
        if web:
            _web(monkeypatch, [tmp_path / "models"])
        at = _page(RUN, src="hf", repo=repo, hw="db", gpu="nvidia-rtx-4090")
        assert not at.exception
        shown[web] = [e.value for e in at.error]
        assert len(shown[web]) == 1 and repo in shown[web][0], shown[web]
    assert "srv-hub-secret" in shown[False][0], shown[False]
    assert "srv-hub-secret" not in shown[True][0] and str(tmp_path) not in shown[True][0], shown[True]
