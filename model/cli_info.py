"""`shufflenet-info`: the registry as a table or JSON, or what a checkpoint file is and whether it loads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .cli_common import CliParser, require_path, run_cli, text_table

# The model modules (torch) are imported inside the functions, so that arguments are checked first.


def variant_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    from .complexity import count_complexity
    from .registry import get_variant, list_variants

    rows = []
    for name in names or list_variants():
        v = get_variant(name)
        cx = count_complexity(v.build(), v.input_size)
        rows.append(
            {
                "name": v.name,
                "groups": v.groups,
                "width": v.width,
                "stem": v.stem,
                "num_classes": v.num_classes,
                "input_size": list(v.input_size),
                "channels": list(v.channels),
                "macs": cx.macs,
                "conv_macs": cx.conv_macs,
                "params": cx.params,
                "official_layout": v.official,
                "dataset": v.dataset,
                "paper_top1_err": v.paper_top1_err,
                "official_top1_err": v.official_top1_err,
                "preprocessing": v.preprocessing.to_dict(),
                "weights": None if v.weights is None else {
                    "file": v.weights.filename, "sha256": v.weights.sha256, "metrics": v.weights.metrics,
                },
            }
        )  # fmt: skip
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    from .pretrained import DEFAULT_ARCH
    from .registry import width_tag

    def err(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    head = ("name", "g", "width", "input", "MMACs", "params (M)", "paper top-1 err", "official top-1 err", "weights")
    body = [
        (
            r["name"] + (" *" if r["name"] == DEFAULT_ARCH else ""),
            str(r["groups"]),
            width_tag(r["width"]),
            "x".join(map(str, r["input_size"])),
            f"{r['macs'] / 1e6:.1f}",
            f"{r['params'] / 1e6:.2f}",
            err(r["paper_top1_err"]),
            err(r["official_top1_err"]),
            "" if r["weights"] is None else f"top-1 {r['weights']['metrics'].get('top1', 0) * 100:.2f} %",
        )
        for r in rows
    ]
    lines = text_table([head, *body])
    lines.append(
        "* the embedded default (trained on CIFAR-10). Errors: ImageNet top-1 %, paper Table 2 / official README."
    )
    return "\n".join(lines)


def describe_checkpoint(path: Path, arch: str | None) -> dict[str, Any]:
    from .checkpoint import identify_backbones, identify_variants, load_model, read_checkpoint

    ckpt = read_checkpoint(path)
    matches = identify_variants(ckpt.state_dict) or identify_backbones(ckpt.state_dict)
    info: dict[str, Any] = {"path": str(path), "file_format": ckpt.source_format, "recorded_arch": ckpt.arch,
                            "matching_variants": matches, "tensors": len(ckpt.state_dict)}  # fmt: skip
    from .publish import published_card

    model, variant, _ = load_model(path, arch)
    info.update(loads=True, variant=variant.name, params=sum(p.numel() for p in model.parameters()),
                num_classes=variant.num_classes, classes=variant.class_names())  # fmt: skip
    card = published_card(path)  # publish's metrics card beside the file, when it names this very file
    if card is not None:
        info["published"] = {"card": str(Path(path).with_suffix(".md")), "metrics": card["metrics"]}
    return info


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-info", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--weights", type=Path, help="identify this checkpoint and check that it loads")
    p.add_argument("--arch", help="with --weights: the variant it must load into; alone: show one variant")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        require_path("--weights", args.weights, "file", "pass the path of a .pth/.pt/.mdl checkpoint file")
        from .registry import UnknownVariantError

        try:
            return report()
        except UnknownVariantError as e:  # a KeyError: turned into the one-line error here
            raise ValueError(str(e)) from None

    def report() -> int:
        if args.weights:
            info = describe_checkpoint(args.weights, args.arch)
            if args.json:
                print(json.dumps(info, indent=2))
            else:
                names = ", ".join(info["classes"][:5]) + (", ..." if info["num_classes"] > 5 else "")
                print(f"{info['path']}: {info['variant']} ({info['file_format']} file, {info['tensors']} tensors, "
                      f"{info['params'] / 1e6:.2f} M params, {info['num_classes']} classes: {names}); "
                      "loads with strict=True")  # fmt: skip
                if "published" in info:
                    m = info["published"]["metrics"]
                    k = min(5, info["num_classes"])  # publish's top-5 is a top-k for fewer classes
                    top5 = f", top-{k} {m['top5'] * 100:.2f} %" if "top5" in m else ""
                    print(f"published: top-1 {m['top1'] * 100:.2f} %{top5} on {m.get('test_images', '?')} test "
                          f"images (model card {info['published']['card']})")  # fmt: skip
            return 0
        rows = variant_rows([args.arch] if args.arch else None)
        print(json.dumps(rows, indent=2) if args.json else format_table(rows))
        return 0

    return run_cli(body, (ValueError, OSError))  # CheckpointError is a ValueError


if __name__ == "__main__":
    sys.exit(main())
