"""deploy/nftables/v11ops.nft: inbound dropped by default; established, loopback, SSH and the
public HTTP/HTTPS ports admitted; no internal port opened. Checked by `nft -c -f` where nft is
installed (it is in CI; `nft -c` asks the kernel, so it needs CAP_NET_ADMIN)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy_artifacts.artifacts import DEPLOY

RULES = DEPLOY / "nftables" / "v11ops.nft"
# Slots, router metrics, Prometheus, Alertmanager, Grafana, Kibana, Elasticsearch, PostgreSQL,
# Redis, the exporters: never admitted from outside.
INTERNAL_PORTS = {9003, 9004, 9180, 9090, 9093, 3000, 5601, 9200, 5432, 6379, 9187, 9121, 9113}


def _rules() -> str:
    return "\n".join(
        line.split("#", 1)[0].rstrip() for line in RULES.read_text().splitlines()
    )  # comments cut


def _defines() -> dict[str, str]:
    return dict(re.findall(r"^define (\w+) = (.+)$", _rules(), flags=re.MULTILINE))


def _accepted_ports() -> set[int]:
    defines = _defines()
    ports: set[int] = set()
    for match in re.finditer(r"tcp dport (\S+(?: \{[^}]*\})?)[^\n]* accept", _rules()):
        value = match.group(1)
        value = defines.get(value.lstrip("$"), value) if value.startswith("$") else value
        ports |= {int(p) for p in re.findall(r"\d+", value)}
    return ports


def _chain(name: str) -> str:
    match = re.search(rf"chain {name} \{{(.*?)\n    \}}", _rules(), flags=re.DOTALL)
    assert match, f"no chain {name}"
    return match.group(1)


def test_inbound_is_dropped_unless_admitted() -> None:
    chain = _chain("input")
    assert "type filter hook input priority filter; policy drop;" in chain
    for rule in ("ct state established,related accept", 'iif "lo" accept'):
        assert rule in chain, rule


def test_ssh_and_the_public_http_ports_are_admitted() -> None:
    assert {22, 80, 443} <= _accepted_ports()


def test_no_internal_port_is_admitted_from_outside() -> None:
    assert not _accepted_ports() & INTERNAL_PORTS


def test_the_node_exporter_is_admitted_from_the_docker_bridges_only() -> None:
    lines = [line.strip() for line in _chain("input").splitlines() if "node_exporter_port" in line]
    assert lines and all(line.startswith("iifname ") for line in lines), lines
    assert _defines()["node_exporter_port"] == "9100"


def test_no_forward_chain_that_would_drop_dockers_traffic() -> None:
    # A drop policy on the forward hook applies on top of Docker's own chains.
    assert "hook forward" not in _rules()


def test_the_file_replaces_only_its_own_table() -> None:
    text = _rules()
    assert "flush ruleset" not in text
    assert "delete table inet v11ops" in text


def _nft() -> str:
    nft = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if Path(p).exists()), None
    )
    if nft is None:
        pytest.skip("nft is not installed (apt-get install nftables); the rules were parsed above")
    probe = subprocess.run(
        [nft, "-c", "-f", "-"], input="table inet v11ops_probe {}\n",
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if probe.returncode != 0 and "Operation not permitted" in probe.stderr:
        pytest.skip(f"nft -c needs CAP_NET_ADMIN here: {probe.stderr.strip()}")
    return nft


def _check(nft: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nft, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def test_nft_accepts_the_rules() -> None:
    result = _check(_nft(), RULES)
    assert result.returncode == 0, result.stderr


def test_nft_check_refuses_a_broken_copy(tmp_path: Path) -> None:
    # The check above means something only if nft -c rejects a mistake.
    broken = tmp_path / "broken.nft"
    broken.write_text(RULES.read_text().replace("policy drop;", "policy dorp;"))
    result = _check(_nft(), broken)
    assert result.returncode != 0 and "dorp" in result.stderr
