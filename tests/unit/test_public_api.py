import agentmem


def test_all_is_the_public_surface() -> None:
    public = {n for n in dir(agentmem) if not n.startswith("_")} - {
        # submodules imported as a side effect of importing the package
        "assemble", "components", "config", "embedding", "errors", "index", "ingest", "kernels",
        "memory", "protocols", "resolve", "retrieve", "storage", "types", "extract", "segment", "bench",
    }
    assert public <= set(agentmem.__all__)
    for name in agentmem.__all__:
        assert hasattr(agentmem, name), name


def test_importing_sets_no_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib
    import os

    before = dict(os.environ)
    importlib.reload(agentmem)
    assert dict(os.environ) == before
