"""The five papers built on the gradflow toolkit, one subpackage each, and the demo registry.

``import gradflow.papers`` imports no paper: import ``gradflow.papers.yu`` (etc.) for its
data, metrics, theory, figures and demo, or run a demo by name with :func:`run_demo`.
"""

from ._registry import (
    DEMOS as DEMOS,
    PROBLEMS as PROBLEMS,
    DemoResult as DemoResult,
    DemoSpec as DemoSpec,
    demo_help as demo_help,
    run_demo as run_demo,
    stage as stage,
)

__all__ = ["DEMOS", "PROBLEMS", "DemoResult", "DemoSpec", "demo_help", "run_demo", "stage"]
