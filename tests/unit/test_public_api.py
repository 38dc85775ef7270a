import inspect

import agentmem


def test_all_is_the_public_surface() -> None:
    # Submodules show up as attributes once anything imports them (in any order): not API.
    public = {
        n for n in dir(agentmem) if not n.startswith("_") and not inspect.ismodule(getattr(agentmem, n))
    }
    assert public == set(agentmem.__all__) - {"__version__"}
    for name in agentmem.__all__:
        assert hasattr(agentmem, name), name


def test_importing_sets_no_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib
    import os

    before = dict(os.environ)
    importlib.reload(agentmem)
    assert dict(os.environ) == before
