"""Shared fixtures: a real distribution registry (Debian's docker-registry) and test images.

Session-scoped (started once, on first use; real processes, never skipped):
    registry             plain Registry on 127.0.0.1:<free port> (tests/support/registry.py)
    registry_images      StandardImages pushed into `registry` (tests/support/images.py):
                           library/hello-world:linux, :latest    OCI index, linux/amd64,
                                                                 linux/arm64/v8, linux/arm/v7 +
                                                                 attestation (unknown/unknown)
                           library/hello-world:nanoserver-ltsc2022  OCI index, windows/amd64 only
                           test/docker-list:latest     Docker manifest list (amd64, arm64/v8)
                           test/single:latest          one OCI manifest (linux/amd64)
                           test/single-docker:latest   one Docker schema2 manifest (linux/amd64)
                           shared/app1:latest, shared/app2:latest  share their 2 base layers
    proxy_registry       proxy-cache Registry in front of `registry` (its cache is shared by
                         the session: tests that need a cold cache use make_registry)
    auth_registry        htpasswd Basic-auth Registry; user TEST_USER, password TEST_PASSWORD
                         (tests.support.registry; also .credentials)
    auth_registry_images StandardImages pushed into `auth_registry`

Function-scoped:
    make_registry        factory: make_registry(users=..., upstream=..., name=...) -> started
                         Registry, stopped at the end of the test (fresh logs, cold caches)
    registry_requests    () -> requests `registry` logged since the test started
    store_root           a fresh path for a ctrpy store root (not created yet)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import StandardImages, push_standard
from tests.support.registry import (
    INSTALL_HINT,
    TEST_PASSWORD,
    TEST_USER,
    Registry,
    RegistryUnavailable,
    Request,
)

AUTH_USER = TEST_USER  # also importable from tests.support.registry
AUTH_PASSWORD = TEST_PASSWORD

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ carries the `integration` marker."""
    integration = _HERE / "integration"
    for item in items:
        if integration in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


def _started(reg: Registry) -> Registry:
    try:
        return reg.start()
    except RegistryUnavailable as e:
        pytest.fail(f"{e}\n({INSTALL_HINT})", pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = _started(Registry(name="registry", workdir=tmp_path_factory.mktemp("registry")))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_images(registry: Registry) -> StandardImages:
    return push_standard(registry.url)


@pytest.fixture(scope="session")
def proxy_registry(
    registry: Registry, registry_images: StandardImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    reg = _started(
        Registry(name="proxy", upstream=registry, workdir=tmp_path_factory.mktemp("proxy"))
    )
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = _started(
        Registry(
            name="auth",
            users={AUTH_USER: AUTH_PASSWORD},
            workdir=tmp_path_factory.mktemp("auth-registry"),
        )
    )
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry_images(auth_registry: Registry) -> StandardImages:
    return push_standard(auth_registry.url, auth=(AUTH_USER, AUTH_PASSWORD))


@pytest.fixture
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Registry]]:
    started: list[Registry] = []

    def make(**kwargs: Any) -> Registry:
        name = str(kwargs.setdefault("name", "registry"))
        kwargs.setdefault("workdir", tmp_path_factory.mktemp(name))
        reg = _started(Registry(**kwargs))
        started.append(reg)
        return reg

    yield make
    for reg in reversed(started):  # proxies before their upstreams
        reg.stop()


@pytest.fixture
def registry_requests(registry: Registry) -> Callable[[], list[Request]]:
    mark = registry.mark()
    return lambda: registry.since(mark)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"
