"""A YAML SafeLoader whose alias expansion is bounded ("billion laughs" cannot exhaust memory).

YAML aliases let a 700-byte file describe a tree of 10^9 nodes; PyYAML shares
the aliased objects, so loading is cheap, but anything that walks the result
(printing, copying, hashing) expands it. :class:`BoundedLoader` counts the
nodes of each document *as expanded* (memoised over the alias graph, so the
count itself is cheap) and refuses documents above :data:`MAX_NODES` and
recursive aliases.
"""
from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_NODES = 200_000
"""Most YAML nodes a document may expand to (real recipes have a few hundred)."""


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` + a bound on the expanded size of each document."""

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _expanded_size(node: Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise yaml.YAMLError(f"recursive alias at {node.start_mark}")
    open_nodes.add(key)
    total = 1
    for child in _children(node):
        total += _expanded_size(child, sizes, open_nodes)
        if total > MAX_NODES:
            raise yaml.YAMLError(f"the document expands to more than {MAX_NODES} nodes through aliases "
                                 f"(an alias bomb?) near {node.start_mark}")
    open_nodes.discard(key)
    sizes[key] = total
    return total
