"""The layout's rules, checked on the import graph and the source (docs/architecture.md, "Rules").

- The bottom layer (vocabulary, config, errors, logging, metrics, db, queue) imports no domain package.
- Domain packages import each other in one direction only: no cycles between them. Their HTTP routers and
  CLI commands reach the composition root (`bootstrap`, through `api.deps`); those edges are left out, so
  what is checked is the domain code itself.
- No `service.py` opens a transaction; `Transaction` is declared once; only repositories run SQL.
- The repository is self-contained: nothing points outside it.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "altinn_notifications"
PACKAGE = "altinn_notifications"
BOTTOM = ("vocabulary", "config", "errors", "logging", "metrics", "db", "queue")
DOMAIN = (
    "auth",
    "providers",
    "recipients",
    "orders",
    "chains",
    "processing",
    "dispatch",
    "reports",
    "status",
    "statistics",
    "support",
    "ratelimits",
)
COMPOSITION = ("bootstrap", "workers", "cli", "__main__", "api", "console")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True)


def _without_composition(graph: grimp.ImportGraph) -> grimp.ImportGraph:
    for name in COMPOSITION:
        module = f"{PACKAGE}.{name}"
        for m in sorted(graph.find_descendants(module)) if graph.find_children(module) else []:
            graph.remove_module(m)
        if module in graph.modules:
            graph.remove_module(module)
    return graph


def test_the_bottom_layer_imports_no_domain_package(graph: grimp.ImportGraph) -> None:
    found = []
    for low, high in itertools.product(BOTTOM, (*DOMAIN, *COMPOSITION)):
        chain = graph.find_shortest_chain(f"{PACKAGE}.{low}", f"{PACKAGE}.{high}", as_packages=True)
        if chain:
            found.append(" -> ".join(chain))
    assert found == []


def test_no_import_cycles_between_domain_packages() -> None:
    graph = _without_composition(grimp.build_graph(PACKAGE, exclude_type_checking_imports=True))
    cycles = []
    for a, b in itertools.combinations(DOMAIN, 2):
        there = graph.find_shortest_chain(f"{PACKAGE}.{a}", f"{PACKAGE}.{b}", as_packages=True)
        back = graph.find_shortest_chain(f"{PACKAGE}.{b}", f"{PACKAGE}.{a}", as_packages=True)
        if there and back:
            cycles.append(f"{' -> '.join(there)}  |  {' -> '.join(back)}")
    assert cycles == []


def test_every_top_level_package_is_classified() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(BOTTOM) | set(DOMAIN) | set(COMPOSITION)


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_no_service_module_opens_a_transaction() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in SRC.rglob("service.py") if "transaction()" in p.read_text()
    ]
    assert offenders == []


def test_the_unit_of_work_type_is_declared_once() -> None:
    declared = [
        str(p.relative_to(ROOT)) for p in _sources() if re.search(r"^Transaction\b.*=", p.read_text(), re.M)
    ]
    assert declared == ["src/altinn_notifications/db/pool.py"]


_SQL_CALL = re.compile(r"\.(fetch|fetchrow|fetchval|fetchmany|execute|executemany|copy_records_to_table)\(")


def test_only_repositories_run_sql() -> None:
    allowed = {"repository.py"}
    # The pool sets up codecs; the migration runner and the embedded server manage the database itself;
    # the statement batcher runs the statements repositories hand it.
    infrastructure = {"db/pool.py", "db/migrate.py", "db/embedded.py", "db/batching.py"}
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources()
        if p.name not in allowed
        and str(p.relative_to(SRC)) not in infrastructure
        and _SQL_CALL.search(p.read_text())
    ]
    assert offenders == []


def test_nothing_points_outside_the_repository() -> None:
    texts = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *_sources(),
        *sorted((ROOT / "tests").rglob("*.py")),
    ]
    outside = re.compile(r"\.\./shared|shared/spec|DESIGN\.md")
    offenders = [
        str(p.relative_to(ROOT)) for p in texts if p != Path(__file__) and outside.search(p.read_text())
    ]
    assert offenders == []


def test_the_client_distribution_imports_nothing_of_the_service() -> None:
    """The sender client installs without the service (it depends on httpx and pydantic, and on PyJWT with
    cryptography for Maskinporten): it may reach the service's CLI only at run time, by name."""
    graph = grimp.build_graph(
        "altinn_notifications_client",
        PACKAGE,
        exclude_type_checking_imports=True,
        include_external_packages=True,
    )
    assert graph.find_shortest_chain("altinn_notifications_client", PACKAGE, as_packages=True) is None
    modules = {"altinn_notifications_client", *graph.find_descendants("altinn_notifications_client")}
    imported = {i.split(".")[0] for m in modules for i in graph.find_modules_directly_imported_by(m)}
    optional = {"jwt", "cryptography", "phonenumbers"}  # the `maskinporten` extra; phonenumbers when present
    allowed = {"altinn_notifications_client", "httpx", "pydantic", *optional, *sys.stdlib_module_names}
    assert imported - allowed == set()
