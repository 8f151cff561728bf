"""The operator's tree commands (`bin/run children`, `bin/run restart NAME`) against a running runtime."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from desk.operator import command_children, command_restart
from supervisor import ChildSpec, Runtime, Supervisor
from tests.probe import Probe, recorder


def test_children_prints_each_child_with_its_type_state_and_restarts(
    make_runtime: Callable[..., Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    probe = Probe()
    inner = Supervisor([ChildSpec("x", recorder(probe))])
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe)), ChildSpec("inner", inner)]))
    assert command_children(rt) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "children of root:"
    assert out[1].split()[:4] == ["a", "worker", "running", "permanent"]
    assert out[2].split()[:3] == ["inner", "supervisor", "running"]
    assert command_children(rt, "nope") == 1
    assert "no supervisor named 'nope'" in capsys.readouterr().err


def test_restart_restarts_the_named_child_and_refuses_an_unknown_one(
    make_runtime: Callable[..., Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))]))
    assert command_restart(rt, "a") == 0
    assert "restart of a requested" in capsys.readouterr().out
    assert rt.status_of("a").restarts == 1 and len(probe.of("start", "a")) == 2
    assert command_restart(rt, "zz") == 1
    assert "no child named 'zz'" in capsys.readouterr().err
