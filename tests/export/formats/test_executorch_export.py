"""ExecuTorch .pte files: the exact rewrites, and one XNNPACK subgraph for every graph the registry holds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.formats.executorch_export import (
    check_pte_graph,
    lower_to_pte,
    xnnpack_friendly,
)
from shufflenet.model import build_model
from shufflenet.model.registry import get_variant, list_variants

pytest.importorskip("executorch")
warnings.filterwarnings("ignore", message=".*experimental.*")


def _topologies() -> list[str]:
    """One variant per graph topology of the registry. A variant's graph is fixed by its groups (the grouped
    convs, and whether units shuffle: g1 does not) and its stem (ImageNet conv + max pool at 224, or the CIFAR
    stride-1 stem at 32); its width changes channel counts only. The smallest width stands for each."""
    seen: dict[tuple[int, str], str] = {}
    for v in sorted((get_variant(n) for n in list_variants()), key=lambda v: v.width):
        seen.setdefault((v.groups, v.stem), v.name)
    return sorted(seen.values())


TOPOLOGIES = _topologies()


def test_registry_has_ten_topologies() -> None:
    assert len(TOPOLOGIES) == 10  # g1, g2, g3, g4, g8 x (ImageNet 224, CIFAR 32)
    assert {get_variant(n).input_size for n in TOPOLOGIES} == {(224, 224), (32, 32)}


@pytest.mark.parametrize("arch", ["shufflenet_v1_g3_0.25x_cifar", "shufflenet_v1_g8_0.5x"])
def test_rewrites_compute_the_same_numbers(arch: str) -> None:
    """The 1/9 depthwise convs and the keepdim mean are the network's own arithmetic, not an approximation."""
    torch.manual_seed(0)
    model = build_model(arch).eval()
    friendly, rewrites = xnnpack_friendly(model)
    assert rewrites.avg_pools_as_depthwise == 3 and rewrites.keepdim_means == 1
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in friendly.modules())
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in model.modules())  # the original is untouched
    x = torch.randn(4, 3, *get_variant(arch).input_size) * 2
    with torch.no_grad():
        a, b = model(x), friendly(x)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(a.abs().max()))


def _calib(size: tuple[int, int], n: int = 8) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(n, 3, *size, generator=g)]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("arch", TOPOLOGIES)
def test_every_topology_is_one_xnnpack_subgraph(arch: str, precision: str, tmp_path: Path) -> None:
    """Every compute node of every graph the registry holds lands in one XNNPACK subgraph, and the written file
    calls that one delegate and no portable kernel (read back from the file)."""
    from shufflenet.export.runtimes.executorch_pte import pte_delegate_calls

    torch.manual_seed(0)
    size = get_variant(arch).input_size
    lowered = lower_to_pte(build_model(arch).eval(), size, precision, _calib(size) if precision == "int8" else None)
    cov = lowered.coverage
    assert cov.fully_delegated, cov.summary()
    assert cov.nodes > 100 and cov.partition_sizes == [cov.nodes]
    path = tmp_path / "m.pte"
    path.write_bytes(lowered.buffer)
    calls = pte_delegate_calls(path)
    assert calls["delegate_calls"] == 1 and calls["backends"] == ["XnnpackBackend"] and calls["kernel_calls"] == 0
    assert check_pte_graph(cov, calls).ok
    hist = lowered.op_histogram
    assert hist.get("avg_pool2d", 0) == 0 and hist["convolution"] > 0
    if precision == "int8":
        assert any("quantize" in op for op in hist)


@pytest.mark.slow
def test_as_exported_graph_leaves_pools_and_mean_outside() -> None:
    """Why the rewrites exist: lowered as torch.export sees it, XNNPACK refuses the count-include-pad average pools
    and the mean without keepdim, which then run on portable kernels between several subgraphs; the gate says so."""
    from shufflenet.export.formats.executorch_export import edge_coverage  # noqa: F401  (the counter under test)

    torch.manual_seed(0)
    arch = "shufflenet_v1_g3_0.25x_cifar"
    lowered = lower_to_pte(build_model(arch).eval(), (32, 32), "fp32", rewrite=False)
    cov = lowered.coverage
    assert not cov.fully_delegated
    assert cov.outside_ops.get("avg_pool2d") == 3 and cov.outside_ops.get("mean") == 1
    assert cov.partitions > 1
    check = check_pte_graph(cov, {"delegate_calls": cov.partitions, "kernel_calls": 4})
    assert not check.ok and "avg_pool2d x3" in check.problems[0]


def test_edge_coverage_agrees_with_executorchs_own_count() -> None:
    """The project's count of delegated and outside nodes is ExecuTorch's ``get_delegation_info``, less the
    ``getitem`` nodes it also counts (unpacking a delegate's outputs, or a batch norm's output tuple inside a
    subgraph: not compute nodes, left out here)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from shufflenet.export.formats.executorch_export import edge_coverage

    torch.manual_seed(0)
    model = build_model("shufflenet_v1_g3_0.25x_cifar").eval()
    program = torch.export.export(model, (torch.zeros(1, 3, 32, 32),))
    gm = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).exported_program().graph_module
    cov, _ = edge_coverage(gm)
    info = get_delegation_info(gm)

    def getitems(graph: object) -> int:
        return sum(1 for n in graph.nodes if n.op == "call_function" and "getitem" in str(n.target))

    inner = sum(getitems(getattr(gm, n.name).original_module.graph) for n in gm.graph.nodes
                if n.op == "get_attr" and n.name.startswith("lowered_module_"))  # fmt: skip
    assert inner > 0  # the batch norms' output tuples
    assert cov.partitions == info.num_delegated_subgraphs
    assert cov.delegated_nodes == info.num_delegated_nodes - inner
    assert cov.nodes - cov.delegated_nodes == info.num_non_delegated_nodes - getitems(gm.graph)
    assert np.sum(cov.partition_sizes) == cov.delegated_nodes
