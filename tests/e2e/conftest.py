"""The end-to-end fixtures: a pipeline on the KuFlow double, and events it knows the process of."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_event
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.harness import pipeline

RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{url}", client_id: kuflow-app, client_secret: kuflow-secret}}
defaults:
  retry: {{attempts: 3, initial: 10ms, max: 50ms}}
verify: {verify}
rules:
  - name: open-review
    when:
      type: PROCESS.CREATED
      process.processDefinitionRef.code: {{prefix: LOAN}}
    do:
      - kuflow.create_task:
          process_id: "{{{{ data.processId }}}}"
          task_code: LOAN_REVIEW
          owner_email: "{{{{ process.metadata.value.reviewer | default: 'loans@example.com' }}}}"
          data: {{amount: "{{{{ process.entity.value.amount }}}}"}}
        as: review
      - kuflow.append_log:
          task_id: "{{{{ results.review.id }}}}"
          message: "Opened for event {{{{ id }}}}"
{extra}"""


@pytest.fixture
def make_pipeline(redis_url: str, kuflow: KuflowDouble, tmp_path: Path) -> Callable[..., Any]:
    def build(extra: str = "", verify: bool = True) -> Any:
        path = tmp_path / "rules.yaml"
        extra = textwrap.indent(extra, "  ")
        path.write_text(RULES.format(url=kuflow.url, extra=extra, verify=str(verify).lower()))
        return pipeline(redis_url, path)

    return build


def loan_event(kuflow: KuflowDouble, **entity: Any) -> dict[str, Any]:
    process = kuflow.add_process(entity={"valid": True, "value": {"amount": 25000, **entity}})
    return make_event(data={"processId": process["id"], "processState": "RUNNING"})
