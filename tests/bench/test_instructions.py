"""bench/instructions.py reads callgrind_annotate's caller tree into instructions per call. No timing."""

from __future__ import annotations

import instructions  # bench/ is on pytest's pythonpath (pyproject.toml)

ANNOTATED = """\
    5,000 ( 1.00%)  < /b/__native.c:CPyDef_exchange___Exchange____connect (1,000x) [/b/native.so]
    3,000 ( 0.60%)  < /b/__native.c:CPyDef_exchange___Exchange____open (500x) [/b/native.so]
    8,000 ( 1.60%)  *  /b/__native.c:CPyDef_exchange___Exchange____send [/b/native.so]

      900 ( 0.10%)  < /b/__native.c:CPyDef_server___DataPlane___record (10x) [/b/native.so]
      900 ( 0.10%)  *  /b/__native.c:CPyDef_ids___IdSource___trace [/b/native.so]

   40,000 ( 8.00%)  < /py/ceval.c:_PyEval_EvalFrameDefault (2,000x) [/lib/libpython.so]
   40,000 ( 8.00%)  *  /py/call.c:PyObject_Vectorcall [/lib/libpython.so]
"""


def test_calls_are_summed_over_callers_and_only_compiled_functions_listed() -> None:
    # _send: 8,000 instructions over 1,000 + 500 calls; trace has too few calls; libpython is left out.
    assert instructions.per_call(ANNOTATED, min_calls=100) == [(5, 1500, "exchange___Exchange____send")]
    assert instructions.per_call(ANNOTATED, min_calls=1)[0] == (90, 10, "ids___IdSource___trace")
