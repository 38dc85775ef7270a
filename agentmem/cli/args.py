"""Command-line options shared by several commands."""

from __future__ import annotations

import argparse

from agentmem.config import FUSIONS, SEGMENTERS, MemoryConfig

__all__ = ["add_mechanism_arguments", "memory_config", "with_mechanisms"]


def add_mechanism_arguments(p: argparse.ArgumentParser, defaults: str = "(default: as the store was built, else on)", *,
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
    built with (:func:`agentmem.resolve.settle_config`), else MemoryConfig()'s (every mechanism on)."""
    from agentmem.resolve import settle_config

    return settle_config(config, graph=args.graph, episodes=getattr(args, "episodes", None), fusion=args.fusion)


def memory_config(args: argparse.Namespace) -> MemoryConfig:
    """The configuration a command runs: ``agentmem.toml`` < ``AGENTMEM_*`` < its flags
    (:func:`agentmem.config_file.load_settings`), then the store's own mechanisms where unset."""
    from agentmem.config_file import load_settings
    from agentmem.resolve import settle_config

    src = load_settings(home=getattr(args, "home", None), db_url=getattr(args, "db", None),
                        chroma=getattr(args, "chroma", None), device=getattr(args, "device", None),
                        graph=getattr(args, "graph", None), episodes=getattr(args, "episodes", None),
                        fusion=getattr(args, "fusion", None))
    return settle_config(src.config, graph=src.graph, episodes=src.episodes, fusion=src.fusion)
