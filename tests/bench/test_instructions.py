"""bench/instructions.py turns two callgrind_annotate listings into instructions per request. No timing."""

from __future__ import annotations

import instructions  # bench/ is on pytest's pythonpath (pyproject.toml)

SHORT = """\
--------------------------------------------------------------------------------
Ir                     file:function
--------------------------------------------------------------------------------
9,000,000 (100.0%)  PROGRAM TOTALS
5,000,000 (55.0%)  /b/__native.c:CPyDef_stage___Pipeline___admit [/b/native.so]
  400,000 ( 4.00%)  /b/__native.c:CPyDef_exchange___Exchange____send (1,000x) [/b/native.so]
  100,000 ( 1.00%)  /py/ceval.c:_PyEval_EvalFrameDefault'2 [/lib/libpython.so]
   50,000 ( 0.50%)  /py/ceval.c:_PyEval_EvalFrameDefault [/lib/libpython.so]
"""
LONG = """\
5,600,000 (50.0%)  /b/__native.c:CPyDef_stage___Pipeline___admit [/b/native.so]
1,200,000 (10.0%)  /b/__native.c:CPyDef_exchange___Exchange____send (3,000x) [/b/native.so]
  300,000 ( 2.00%)  /py/ceval.c:_PyEval_EvalFrameDefault'2 [/lib/libpython.so]
   50,000 ( 0.50%)  /py/ceval.c:_PyEval_EvalFrameDefault [/lib/libpython.so]
   20,000 ( 0.10%)  /b/__native.c:CPyDef_ids___IdSource___trace [/b/native.so]
"""


def test_a_function_is_counted_by_name_whatever_its_call_count_or_file() -> None:
    counts = instructions.by_function(LONG)
    assert counts["CPyDef_exchange___Exchange____send"] == 1_200_000  # "(3,000x)" is not part of the name
    assert counts["_PyEval_EvalFrameDefault'2"] == 300_000  # a recursion level stays apart (inclusive counts)
    assert "PROGRAM" not in "".join(instructions.by_function(SHORT))


def test_per_request_is_the_long_run_minus_the_short_one_over_the_extra_requests() -> None:
    # admit: 5.0M in the short run is mostly warm-up; only the 0.6M more of the long run is per request.
    rows = instructions.per_request(SHORT, LONG, requests=2_000)
    assert rows[:3] == [
        (400.0, "CPyDef_exchange___Exchange____send"),
        (300.0, "CPyDef_stage___Pipeline___admit"),
        (100.0, "_PyEval_EvalFrameDefault'2"),
    ]
    assert (10.0, "CPyDef_ids___IdSource___trace") in rows  # absent from the short run: all of it counts
    assert (0.0, "_PyEval_EvalFrameDefault") in rows
