"""The README's client example runs as written (with a real token and this test's service URL)."""

from __future__ import annotations

import asyncio
import re

from tests.conftest import ROOT
from tests.pipeline.conftest import RunWorkers


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The Python client") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


async def test_the_readme_example_runs(service: str, token: str, run_workers: RunWorkers) -> None:
    code = _example()
    assert 'token = "..."' in code and "http://localhost:5090" in code
    code = code.replace('token = "..."', f"token = {token!r}").replace("http://localhost:5090", service)
    printed: list[str] = []
    async with run_workers():
        await asyncio.to_thread(exec, code, {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed[0] == "Order_Completed"
