"""Walk a LibCST tree in code order, telling a visitor each node's character offsets.

The one place esper-lint touches LibCST's private API.  ``_fast`` counts characters while
LibCST generates the module's code once (a third of the cost of PositionProvider, which
records a range for every node); if LibCST's internals ever move, ``_public`` gives the
same offsets through the public WhitespaceInclusivePositionProvider.  A test runs both.
"""

from __future__ import annotations

from typing import Any, Protocol

import libcst as cst
from libcst.metadata import MetadataWrapper, WhitespaceInclusivePositionProvider

from esper_lint.lines import Lines


class Visitor(Protocol):
    def enter(self, node: cst.CSTNode, offset: int) -> None: ...

    def leave(self, node: cst.CSTNode, offset: int) -> None: ...


def walk(module: cst.Module, visitor: Visitor, text: str) -> None:
    """Call ``enter``/``leave`` for every node of ``module`` (parsed from ``text``) in code order."""
    if not _fast(module, visitor):
        _public(module, visitor, text)


def _fast(module: cst.Module, visitor: Visitor) -> bool:
    try:
        from libcst._nodes.internal import CodegenState
    except ImportError:  # pragma: no cover - only when LibCST reorganises its internals
        return False

    class Counting(CodegenState):
        """Counts characters instead of keeping tokens: ``tokens`` holds the last one only, as
        much as Module's code generation looks at (is the file empty; drop a final newline)."""

        offset = 0

        def add_token(self, value: str) -> None:
            self.offset += len(value)
            self.tokens[:] = [value]

        def add_indent_tokens(self) -> None:
            for token in self.indent_tokens:
                self.add_token(token)

        def pop_trailing_newline(self) -> None:
            if self.tokens:
                self.offset -= len(self.tokens.pop())

        def before_codegen(self, node: cst.CSTNode) -> None:
            visitor.enter(node, self.offset)

        def after_codegen(self, node: cst.CSTNode) -> None:
            visitor.leave(node, self.offset)

    state: Any = Counting(default_indent=module.default_indent, default_newline=module.default_newline)
    module._codegen(state)
    return True


def _public(module: cst.Module, visitor: Visitor, text: str) -> None:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    ranges = wrapper.resolve(WhitespaceInclusivePositionProvider)
    lines = Lines(text)

    def offset(position: Any) -> int:
        return lines.offset(position.line, position.column)

    class Forward(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            visitor.enter(node, offset(ranges[node].start))
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            visitor.leave(original_node, offset(ranges[original_node].end))

    module.visit(Forward())
