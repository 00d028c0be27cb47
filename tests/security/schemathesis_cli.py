"""Schemathesis's command line with Hypothesis's lambda descriptions off.

Hypothesis names a filtered strategy (only in its repr) by parsing the lambda's whole source file
with `ast.parse`. With `--workers 2` two threads can do that at once, and CPython 3.11's AST
converter keeps its recursion counter per interpreter, not per thread: the run then stops with
"SystemError: AST constructor recursion depth mismatch" inside the tool, not in our API. Nothing
is checked differently: only those repr strings change.
"""

from hypothesis.internal import lambda_sources

lambda_sources.lambda_description = lambda f: "lambda: <not described>"  # type: ignore[assignment]

if __name__ == "__main__":
    import schemathesis.cli

    schemathesis.cli.schemathesis()
