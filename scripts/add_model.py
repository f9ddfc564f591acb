#!/usr/bin/env python3
"""Write a cited catalog entry (sizing/data/models.yaml) from a model's own config.json.

    scripts/add_model.py Qwen/Qwen3-8B --task chat --task reasoning          # from the Hub
    scripts/add_model.py ./config.json --id org/name --verified "where I checked it"
    scripts/add_model.py ORG/NAME ... --write                               # append to the catalog

A repo id is fetched through huggingface_hub (its cache, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``
all apply), so it works offline for a cached repo; a local file needs ``--id``. Only the
config fields the converter reads are stored, and the script checks that they give the
same architecture as the whole file, so an entry can never drift from its source. The
entry is validated exactly as the catalog loader does before it is printed or written.
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from sizing.errors import SizingError  # noqa: E402
from sizing.sources.catalog import DEFAULT_PATH, TASKS, CatalogEntry, parse_catalog  # noqa: E402
from sizing.sources.config_json import arch_from_config  # noqa: E402

#: Fields a config may carry that the converter reads (top level and in ``text_config``).
#: Anything else (token ids, dropout, initialiser ranges…) is left out of the entry.
ARCH_FIELDS = {
    "model_type",
    "architectures",
    "torch_dtype",
    "dtype",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "max_position_embeddings",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "qkv_bias",
    "rope_scaling",
    "rope_parameters",
    "partial_rotary_factor",
    "sliding_window",
    "use_sliding_window",
    "sliding_window_pattern",
    "layer_types",
    "query_pre_attn_scalar",
    "num_experts",
    "num_local_experts",
    "num_experts_per_tok",
    "experts_per_token",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "decoder_sparse_step",
    "mlp_only_layers",
    "n_routed_experts",
    "n_shared_experts",
    "first_k_dense_replace",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "topk_method",
    "num_nextn_predict_layers",
    "text_config",
    # the 2025-26 families (sizing/sources/config_json.py _new_families)
    "global_head_dim",
    "num_global_key_value_heads",
    "num_kv_shared_layers",
    "hidden_size_per_layer_input",
    "vocab_size_per_layer_input",
    "attention_k_eq_v",
    "enable_moe_block",
    "top_k_experts",
    "use_double_wide_mlp",
    "index_n_heads",
    "index_head_dim",
    "index_topk",
    "hybrid_override_pattern",
    "mamba_num_heads",
    "mamba_head_dim",
    "ssm_state_size",
    "n_groups",
    "conv_kernel",
    "moe_shared_expert_intermediate_size",
    "mamba_n_heads",
    "mamba_d_head",
    "mamba_d_state",
    "mamba_d_conv",
    "mamba_n_groups",
    "shared_intermediate_size",
    "block_ff_dim",
    "block_auto_adjust_ff_dim",
    "block_ffn_dim_multiplier",
    "block_multiple_of",
    "conv_L_cache",
    "full_attn_idxs",
    "full_attention_interval",
    "linear_conv_kernel_dim",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "intermediate_size_mlp",
    "interleave_moe_layer_step",
    "use_qk_norm",
    "altup_num_inputs",
    "laurel_rank",
    "rotary_dim",
    "use_routing_bias",
    "num_dense_layers",
    "use_expert_bias",
    "tie_embedding",
    "attention_head_dim",
    "moe_topk",
    "num_shared_expert",
    "use_cla",
    "use_mixed_mlp_moe",
    "moe_num_experts",
    "moe_k",
    "moe_num_shared_experts",
    "moe_layer_start_index",
    "moe_layer_interval",
    "quantization_config",
}
_HF_COMMIT = re.compile(r"/snapshots/([0-9a-f]{40})/")


class BadInput(Exception):
    """One line for the user."""


def _arch_fields(config: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in config.items() if k in ARCH_FIELDS}
    if isinstance(kept.get("text_config"), dict):
        kept["text_config"] = {k: v for k, v in kept["text_config"].items() if k in ARCH_FIELDS}
    return kept


def load_config(spec: str, repo_id: str | None, offline: bool | None) -> tuple[dict[str, Any], str, str]:
    """(config, repo id, how it was obtained) for a config.json path or a Hub repo id."""
    from sizing.sources.hf import fetch_config, is_repo_id

    if repo_id is not None and not is_repo_id(repo_id):
        raise BadInput(f"--id {repo_id!r} is not a Hugging Face repo id (expected org/name)")
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if spec.lower().endswith(".json") or path.exists():
        if not repo_id:
            raise BadInput(f"{spec}: a local config.json needs --id ORG/NAME (the repo it was published in)")
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise BadInput(f"{spec}: cannot read ({e.strerror or e})") from None
        try:
            config = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadInput(f"{spec}: not valid JSON ({e})") from None
        how = f"local copy of this config.json (sha256 {hashlib.sha256(raw).hexdigest()[:16]})"
        return config, repo_id, how
    if not is_repo_id(spec):
        raise BadInput(f"{spec!r} is neither a config.json file nor a Hugging Face repo id (org/name)")
    if repo_id and repo_id != spec:
        raise BadInput(f"--id {repo_id} differs from the repo {spec} being fetched")
    config, local = fetch_config(spec, offline=offline)
    commit = _HF_COMMIT.search(str(local).replace("\\", "/"))
    rev = f" at revision {commit.group(1)}" if commit else ""
    return config, spec, f"config.json fetched from the Hugging Face Hub{rev}"


def make_entry(
    config: Any,
    repo_id: str,
    *,
    how: str,
    name: str | None = None,
    aliases: list[str] | None = None,
    tasks: list[str] | None = None,
    verified: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A catalog entry (a plain dict, as stored in the YAML), validated like the loader does."""
    if not isinstance(config, dict):
        raise BadInput("config.json must hold a JSON object")
    source = f"https://huggingface.co/{repo_id}/blob/main/config.json"
    kept = _arch_fields(config)
    full = arch_from_config(config, repo_id=repo_id, source=source)
    try:
        trimmed = arch_from_config(kept, repo_id=repo_id, source=source)
    except SizingError:
        trimmed = None
    if trimmed != full:  # a field we do not list matters to the converter: keep the file whole
        kept = config
    day = (today or dt.date.today()).isoformat()
    entry: dict[str, Any] = {
        "id": repo_id,
        "name": name or repo_id.split("/", 1)[1].replace("-", " "),
        "aliases": list(aliases or []),
        "tasks": list(tasks or []),
        "source": source,
        "verified": verified or f"{how}, {day}",
        "config": kept,
    }
    try:
        CatalogEntry.model_validate(entry).to_arch()
    except SizingError:
        raise
    except Exception as e:  # pydantic's ValidationError: one line naming the field
        errs = getattr(e, "errors", None)
        if callable(errs):
            err = errs()[0]
            raise BadInput(f"{repo_id}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        raise BadInput(f"{repo_id}: {e}") from None
    return entry


def entry_yaml(entry: dict[str, Any]) -> str:
    """The entry as a YAML list item in the catalog's layout."""
    text = yaml.safe_dump([entry], sort_keys=False, width=110, allow_unicode=True, default_flow_style=None)
    return "\n" + text


def append(entry: dict[str, Any], catalog: Path) -> None:
    """Append to the catalog file, refusing a duplicate id or alias (the loader's own check)."""
    before = catalog.read_text(encoding="utf-8")
    after = before.rstrip("\n") + "\n" + entry_yaml(entry)
    tmp = catalog.with_suffix(".tmp.yaml")
    tmp.write_text(after, encoding="utf-8")
    try:
        parse_catalog(tmp)
    except SizingError as e:
        tmp.unlink()
        raise BadInput(str(e).replace(str(tmp), str(catalog))) from None
    tmp.replace(catalog)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        raise BadInput(message)


def main(argv: list[str] | None = None) -> int:
    p = _Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", help="a Hugging Face repo id, or a config.json (file or model folder)")
    p.add_argument("--id", dest="repo_id", help="the repo a local config.json was published in")
    p.add_argument("--name", help="display name (default: from the repo name)")
    p.add_argument("--alias", action="append", default=[], help="another name (repeatable)")
    p.add_argument("--task", action="append", default=[], choices=TASKS, help="what the model is for (repeatable)")
    p.add_argument("--verified", help="where the config values were checked (default: how it was read, today)")
    p.add_argument("--offline", action="store_true", help="use only the Hugging Face cache")
    p.add_argument("--write", action="store_true", help="append the entry to the catalog")
    p.add_argument("--catalog", type=Path, default=DEFAULT_PATH, help="catalog file (default: sizing/data/models.yaml)")
    try:
        args = p.parse_args(argv)
        config, repo_id, how = load_config(args.spec, args.repo_id, True if args.offline else None)
        entry = make_entry(
            config,
            repo_id,
            how=how,
            name=args.name,
            aliases=args.alias,
            tasks=list(dict.fromkeys(args.task)),
            verified=args.verified,
        )
        if args.write:
            append(entry, args.catalog)
            print(f"added {repo_id} to {args.catalog}")
        else:
            sys.stdout.write(entry_yaml(entry))
    except (BadInput, SizingError) as e:
        print(f"add_model: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
