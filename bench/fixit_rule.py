"""ESP001 as a Fixit rule: the peer ``bench/run.py`` measures esper-lint's static pass against."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
from fixit import Invalid, LintRule, Valid


class ConstantEstimate(LintRule):
    """A registration whose ``param_estimate`` is a constant integer."""

    VALID: ClassVar[list[Valid]] = [
        Valid('@BlueprintRegistry.register("a", "cnn", param_estimate=lambda dim: dim)\ndef f(): ...')
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid('@BlueprintRegistry.register("a", "cnn", param_estimate=100)\ndef f(): ...')
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "register"):
            return
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "param_estimate" \
                    and isinstance(arg.value, cst.Integer):
                self.report(node, "param_estimate is a constant without a documented formula")
