"""Command-line options shared by several commands."""

from __future__ import annotations

import argparse

from agentmem.config import FUSIONS, SEGMENTERS, MemoryConfig

__all__ = ["add_mechanism_arguments", "with_mechanisms"]


def add_mechanism_arguments(p: argparse.ArgumentParser, defaults: str = "(default: as the store was built, else off)", *,
                            episodes: bool = True) -> None:
    """``--graph``, ``--episodes`` (unless the command has its own) and ``--fusion``: the memory
    mechanisms a command's ``Memory`` runs (:meth:`MemoryConfig.with_mechanisms`)."""
    p.add_argument("--graph", action=argparse.BooleanOptionalAction, default=None,
                   help=f"knowledge-graph memory, offline extractor {defaults}")
    if episodes:
        p.add_argument("--episodes", default=None, choices=list(SEGMENTERS), help="episodic memory's segmenter")
    p.add_argument("--fusion", default=None, choices=list(FUSIONS),
                   help="multi-hop: RecallConfig.multi_hop(), for documents with --graph")


def with_mechanisms(config: MemoryConfig, args: argparse.Namespace) -> MemoryConfig:
    """``config`` with the mechanisms ``args`` asks for; options not given: what the store was
    built with (:func:`agentmem.resolve.settle_config`), else off and the default fusion."""
    from agentmem.resolve import settle_config

    return settle_config(config, graph=args.graph, episodes=getattr(args, "episodes", None), fusion=args.fusion)
