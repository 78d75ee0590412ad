"""Route table fields the admin API receives from scripts: types checked one by one, and the
sticky balancer when targets drain or fail."""

from __future__ import annotations

import pytest

from v11ops.router import RouteTable, RouteTableError, Target
from v11ops.router.balancer import Balancer

URL = "http://127.0.0.1:9003"
BLUE = {"name": "blue", "url": URL}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"targets": ["blue"]}, "targets[0] must be an object with name, url, weight, version"),
        ({"targets": [{**BLUE, "port": 1}]}, "unknown field 'port' in targets[0]"),
        ({"targets": [{"url": URL}]}, "targets[0].name must be a string such as 'blue'"),
        ({"targets": [{"name": "blue", "url": 9003}]}, "targets[0].url must be a string"),
        ({"targets": [{**BLUE, "version": 1}]}, "targets[0].version must be a string"),
        ({"targets": [], "sticky_cookie": 5}, "'sticky_cookie' must be a string or null"),
        ({"targets": [], "revision": "3"}, "'revision' must be an integer"),
        ({"targets": [], "expect_revision": True}, "'expect_revision' must be an integer"),
        ({"targets": [{**BLUE, "url": "http://h:99999"}]}, "url 'http://h:99999' is invalid"),
        ({"targets": [{"name": "blue", "url": "http://h:0"}]}, "url 'http://h:0' is invalid"),
        ({"targets": [{"name": "blue", "url": "http://u@h:1"}]}, "must not have a path"),
        ({"targets": [{**BLUE, "version": "v" * 129}]}, "longer than 128"),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_named_with_its_place(data: object, message: str) -> None:
    with pytest.raises(RouteTableError) as refused:
        RouteTable.from_json(data)
    assert message in str(refused.value)


def test_optional_fields_default_and_an_empty_sticky_name_means_none() -> None:
    table = RouteTable.from_json({
        "targets": [{"name": "blue", "url": URL}],
        "sticky_header": "",
        "revision": 7,
        "expect_revision": 6,
    })  # fmt: skip
    assert table.targets == (Target("blue", URL, 100, ""),)
    assert table.sticky_header is None and table.sticky_cookie is None
    assert (table.revision, table.expect_revision) == (7, 6)


class Slot:
    def __init__(self, name: str) -> None:
        self.name = name
        self.draining = False
        self.ejected = False

    def is_ejected(self) -> bool:
        return self.ejected


def test_a_sticky_key_moves_off_a_draining_target_and_back_when_it_returns() -> None:
    blue, green = Slot("blue"), Slot("green")
    balancer = Balancer([(blue, 50), (green, 50)])
    keys = [f"user-{i}".encode() for i in range(40)]
    on_blue = [k for k in keys if balancer.pick_sticky(k) is blue]
    assert on_blue, "some keys hash to blue"
    blue.draining = True
    assert {balancer.pick_sticky(k) for k in on_blue} == {green}
    blue.draining = False
    assert {balancer.pick_sticky(k) for k in on_blue} == {blue}


def test_sticky_keys_fail_open_when_every_target_is_ejected_and_none_is_left_excluded() -> None:
    blue, green = Slot("blue"), Slot("green")
    balancer = Balancer([(blue, 50), (green, 50), (Slot("idle"), 0)])
    blue.ejected = green.ejected = True
    assert balancer.pick_sticky(b"k") in (blue, green), "an ejected target beats a refusal"
    assert balancer.pick_sticky(b"k", exclude=blue) is green
    green.draining = True
    assert balancer.pick_sticky(b"k", exclude=blue) is None
    assert not Balancer([(blue, 0)]), "a balancer of zero weights has nothing to pick"
