"""Starting and stopping the stack's background processes: what `v11ops up` and `v11ops down`
say when there is nothing to stop, when nginx is someone else's, and when a process does not
come up (the error carries the last line of its log)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.inprocess import stack_yaml
from v11ops.config import Config, load_config
from v11ops.deploy import stack
from v11ops.runtime import free_port


def config_of(tmp_path: Path, text: str) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "v11ops.yaml"
    path.write_text(text)
    return load_config(path)


INCLUDE_MODE = """\
router:
  kind: nginx
  listen: 127.0.0.1:{port}
  metrics_listen: null
  nginx: {{mode: include, include_path: upstream.conf, conf: /nonexistent/nginx.conf}}
"""


def nginx_include_config(tmp_path: Path) -> Config:
    text = stack_yaml()
    start = text.index("router:\n")
    end = text.index("strategy:\n")
    return config_of(tmp_path, text[:start] + INCLUDE_MODE.format(port=free_port()) + text[end:])


def test_up_refuses_to_start_an_nginx_it_does_not_own(tmp_path: Path) -> None:
    config = nginx_include_config(tmp_path)
    with pytest.raises(stack.StackError, match="include mode: start your nginx"):
        stack.ensure_router(config)


def test_down_leaves_an_nginx_it_does_not_own_and_a_router_it_never_started(
    tmp_path: Path,
) -> None:
    stack.stop_router(nginx_include_config(tmp_path / "a"))  # nothing to stop, nothing raised
    config = config_of(tmp_path / "b", stack_yaml())
    stack.stop_router(config)  # no pid file
    config.state_path.mkdir(parents=True)
    (config.state_path / "router.pid").write_text("not a pid\n")
    stack.stop_router(config)
    (config.state_path / "router.pid").write_text("999999999\n")  # a pid that is gone
    stack.stop_router(config)
    stack.stop_controller(config)  # no controller answers: nothing to do
    assert not (config.state_path / "controller.pid").exists()


def test_a_process_that_does_not_come_up_is_named_with_its_last_log_line(tmp_path: Path) -> None:
    log = tmp_path / "router.log"
    log.write_text("starting\nerror: [Errno 98] address already in use\n")
    with pytest.raises(stack.StackError) as err:
        stack._wait(lambda: False, 0.1, "router", log)
    assert str(err.value) == (
        "router did not finish within 0.1s (last log line: error: [Errno 98] address already"
        f" in use); see {log}"
    )
    with pytest.raises(stack.StackError, match=r"controller did not finish within 0\.1s; see"):
        stack._wait(lambda: False, 0.1, "controller", tmp_path / "missing.log")


def test_only_a_running_process_counts_as_running() -> None:
    assert stack._running(os.getpid())
    assert not stack._running(None)
    assert not stack._running(999999999)
