"""What a register function's signature says, read alike by the static pass and the worker.

Standard library only: the worker imports it next to :mod:`esper_lint.protocol`, and a static
run imports it without the protocol's message classes.
"""


def accepts_callable(annotation: str) -> bool:
    """Does an estimate parameter annotated ``annotation`` take a callable estimate?

    ``annotation`` is the annotation's source text (the static pass) or the text or
    ``repr`` of the resolved hint (the worker); both must decide alike.  Any mention
    of ``Callable`` counts, so that ``typing.Callable[[int], int]``,
    ``collections.abc.Callable`` and ``int | Callable[..., int]`` all do.
    """
    return "Callable" in annotation
