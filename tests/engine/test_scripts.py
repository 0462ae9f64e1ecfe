"""Script tasks: restricted execution, data write-back, time limit and hostile scripts."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from orchestrator.expressions import ExpressionError, ScriptError, check_script, run_script


def run(source: str, time_limit: float = 1.0, **data: object) -> dict[str, object]:
    values = dict(data)
    run_script(source, values, time_limit=time_limit)
    return values


# -- normal scripts --------------------------------------------------------------------------------

def test_script_reads_and_writes_task_data() -> None:
    data = run("total = sum(line['qty'] * line['price'] for line in lines)\nstatus = 'priced'",
               lines=[{"qty": 2, "price": 5.0}, {"qty": 1, "price": 3.0}])
    assert data["total"] == 13.0
    assert data["status"] == "priced"


def test_mutations_of_nested_data_are_kept() -> None:
    data = run("items.append(4)\norder['express'] = True\ncount += 1", items=[1], order={}, count=1)
    assert data == {"items": [1, 4], "order": {"express": True}, "count": 2}


def test_control_flow_functions_and_builtins() -> None:
    source = """
def grade(score):
    if score > 90:
        return 'A'
    return 'B'

grades = [grade(s) for s in scores]
best = max(scores)
ordered = sorted(people, key=lambda p: p['age'])
names = ', '.join(p['name'] for p in ordered)
pairs = {k: v for k, v in zip(['a', 'b'], [1, 2])}
i = 0
while i < 3:
    i += 1
for n, value in enumerate(range(3)):
    last = (n, value)
try:
    broken = 1 / 0
except ZeroDivisionError as exc:
    error = str(exc)
label = f"{best:>6.1f}|{'x' * 3}"
print('graded', len(grades))
"""
    data = run(source, scores=[95, 80], people=[{"name": "b", "age": 3}, {"name": "a", "age": 1}])
    assert data["grades"] == ["A", "B"]
    assert data["best"] == 95
    assert data["names"] == "a, b"
    assert data["pairs"] == {"a": 1, "b": 2}
    assert data["i"] == 3
    assert data["last"] == [2, 2]
    assert data["error"] == "division by zero"
    assert data["label"] == "  95.0|xxx"
    assert "grade" not in data  # functions are not JSON-like: dropped
    assert "ordered" in data


def test_isinstance_still_understands_str() -> None:
    data = run("ok = isinstance('a', str) and isinstance(1, (str, int)) and not isinstance(1, str)\ns = str(5)")
    assert data == {"ok": True, "s": "5"}


def test_deleted_variables_are_removed_and_private_keys_are_untouched() -> None:
    data = run("del temp\nresult = 1", temp=5, _internal={"x": 1})
    assert data == {"result": 1, "_internal": {"x": 1}}


def test_private_keys_are_not_visible() -> None:
    with pytest.raises(ScriptError, match="starts with"):
        run("x = _internal", _internal=1)


def test_non_json_values_are_dropped_and_non_json_data_is_preserved() -> None:
    data = run("s = {1, 2}\nf = len\nt = (1, [2, (3,)])\nd = {1: 'a'}\nx = 1", when=date(2026, 1, 1))
    assert data["when"] == date(2026, 1, 1)
    assert data["t"] == [1, [2, [3]]]
    assert "s" not in data and "f" not in data and "d" not in data
    assert data["x"] == 1


def test_failed_script_leaves_data_unchanged() -> None:
    data = {"items": [1], "count": 1}
    with pytest.raises(ScriptError):
        run_script("items.append(2)\ncount = 5\nraise ValueError('stop')", data)
    assert data == {"items": [1], "count": 1}


def test_compiled_code_is_cached_by_source() -> None:
    from orchestrator.expressions.scripts import _compile

    source = "cached_value = 41 + 1"
    run(source)
    hits = _compile.cache_info().hits
    assert run(source) == {"cached_value": 42}
    assert _compile.cache_info().hits == hits + 1


def test_indented_script_from_xml_is_dedented() -> None:
    assert run("\n        x = 1\n        y = x + 1\n    ")["y"] == 2


def test_check_script_accepts_valid_scripts() -> None:
    check_script("x = 1\nif x:\n    y = [i for i in range(3)]\n")


# -- deploy-time rejections --------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "message", "line"), [
    ("import os", "script line 1: import statements are not allowed", 1),
    ("x = 1\nfrom os import path", "script line 2: import statements are not allowed", 2),
    ("class A:\n    pass", "class definitions are not allowed", 1),
    ("x = ().__class__", '"__class__" is an invalid attribute name', 1),
    ("x = __import__('os')", '"__import__" is an invalid variable name', 1),
    ("exec('x = 1')", "Exec calls are not allowed", 1),
    ("eval('1')", "Eval calls are not allowed", 1),
    ("x = (", "SyntaxError", 1),
    ("x = [*a, *a]", "'*' unpacking inside list, tuple or set literals is not allowed", 1),
    ("x = f'{a:{width}}'", "f-string format specs must be constant", 1),
    ("x = f'{a:>99999}'", "format spec width/precision above 1000", 1),
    ("x = 1\n\nx.y = 2\nx = g.gi_frame", '"gi_frame" is a restricted name', 4),
    ("async def f():\n    pass", "AsyncFunctionDef statements are not allowed", 1),
    ("def f():\n    nonlocal x", "Nonlocal statements are not allowed", 2),
])
def test_check_script_rejects(source: str, message: str, line: int) -> None:
    with pytest.raises(ScriptError) as info:
        check_script(source)
    assert message in str(info.value)
    assert info.value.line == line
    with pytest.raises(ScriptError):
        run_script(source, {})


def test_script_error_is_an_expression_error() -> None:
    assert issubclass(ScriptError, ExpressionError)


# -- run-time rejections -----------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "message"), [
    ("open('/etc/passwd')", "NameError: name 'open' is not defined"),
    ("getattr(x, 'y')", "name 'getattr' is not defined"),
    ("globals()", "name 'globals' is not defined"),
    ("x = 9**9**9", "number would be too large"),
    ("x = 'a' * 10**10", "result would be too long"),
    ("x = [1] * 10**9", "result would be too long"),
    ("x = 1 << 10**9", "number would be too large"),
    ("x = 2\nx **= 10**8", "number would be too large"),
    ("x = 'ab'\nx *= 10**9", "result would be too long"),
    ("x = ''.join(['a' * 600000, 'b' * 600000])", "result would be too long"),
    ("x = ['a' * 600000] * 2", "repeating nested values 2 times would expand"),
    ("x = 'a'.ljust(10**9)", "result would be too long"),
    ("x = 'a'.center(10**9)", "result would be too long"),
    ("x = ('a' * 1000).replace('a', 'b' * 10000)", "result would be too long"),
    ("x = [1]\nwhile True:\n    x.extend(x)", "result would be too long"),
    ("s = 'a'\nwhile True:\n    s = f'{s}{s}'", "result would be too long"),
    ("s = 'a'\nwhile True:\n    s = s + s", "result would be too long"),
    ("x = list(range(10**9))", "result would be too long"),
    ("x = round(5, -10**7)", "round() ndigits must be between -100 and 100"),
    ("x = '%0999999999d' % 1", "'%' format width/precision above 1000"),
    ("x = '%*d' % (10**9, 1)", "'%' format width/precision above 1000"),
    ("x = str.join(',', [])", "attribute 'join' of"),
    ("x = list.append(x, 1)", "attribute 'append' of a type is not allowed"),
    ("x = dict.fromkeys([1])", "attribute 'fromkeys' of a type is not allowed"),
    ("x = (1).to_bytes(10**9, 'big')", "attribute 'to_bytes' of int is not allowed"),
    ("x = '{}'.format(1)", "attribute 'format' of str is not allowed"),
    ("x = 'a'.translate({97: 'b' * 10})", "attribute 'translate' of str is not allowed"),
    ("x = sum([[1]] * 10, [])", "sum() start must be a number"),
    ("x = {}.get\ny = x.__self__", "invalid attribute name"),
    ("x = 1 / 0", "ZeroDivisionError: division by zero"),
    ("y = [[1] * 100000] * 100000", "repeating nested values 100000 times would expand"),
    ("y = ((1,) * 100000,) * 100000", "repeating nested values 100000 times would expand"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nz = str(y)", "more than 1000000 items"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nz = f'{y}'", "more than 1000000 items"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nz = repr(y)", "more than 1000000 items"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nz = '%s' % (y,)", "more than 1000000 items"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nprint(y)", "more than 1000000 items"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])", "script variables are too large"),
    ("y = []\ny.append(y)", "script variables are too large"),
    ("y = [1, 2]\nz = y.index(3)", "attribute 'index' of list is not allowed"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\nraise ValueError(y)",
     "ValueError: <message too large>"),
    ("y = [[1] * 100000]\nfor i in range(20):\n    y.append(y[0])\ntry:\n    raise KeyError(y)\n"
     "except KeyError as e:\n    z = str(e)", "more than 1000000 items when expanded"),
    ("x = undefined_name", "NameError"),
])
def test_hostile_scripts_fail_fast(source: str, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(ScriptError) as info:
        run_script(source, {"x": 1}, time_limit=5.0)
    assert message in str(info.value)
    assert time.monotonic() - start < 1.0


def test_runtime_error_reports_the_script_line() -> None:
    with pytest.raises(ScriptError) as info:
        run_script("a = 1\nb = 2\nc = missing + 1\n", {})
    assert info.value.line == 3
    assert str(info.value).startswith("script line 3: NameError")


def test_runtime_error_inside_a_function_reports_the_failing_line() -> None:
    with pytest.raises(ScriptError) as info:
        run_script("def f(x):\n    return x / 0\n\ny = f(1)\n", {})
    assert info.value.line == 2


# -- time limit -----------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "while True: pass",
    "while True:\n    pass",
    "x = 0\nwhile True:\n    x = x + 1",
    "for i in range(10**6):\n    for j in range(10**6):\n        pass",
    "x = [1 for a in range(10**6) for b in range(10**6) if False]",
    "x = sum(1 for a in range(10**6) for b in range(10**6))",
    "def f(n):\n    return f(n - 1) if n > 500 else g(n)\ndef g(n):\n    while 1: pass\nf(900)",
    "f = lambda: [f() for i in range(1000)]\nf()",
    "while True:\n    try:\n        while True: pass\n    except:\n        pass",
    "while True:\n    try:\n        while True: pass\n    except Exception:\n        pass",
    "def f():\n    try:\n        f()\n    except:\n        f()\nf()",
    "while True:\n    try:\n        while True: pass\n    finally:\n        while True: pass",
])
def test_time_limit_stops_runaway_scripts(source: str) -> None:
    start = time.monotonic()
    with pytest.raises(ScriptError) as info:
        run_script(source, {}, time_limit=0.2)
    elapsed = time.monotonic() - start
    assert "time limit of 0.2 s" in str(info.value) or "recursion" in str(info.value)
    assert elapsed < 1.5


def test_while_true_pass_fails_quickly_with_its_line() -> None:
    start = time.monotonic()
    with pytest.raises(ScriptError, match=r"script exceeded its time limit of 0.2 s \(line 1\)") as info:
        run_script("while True: pass", {}, time_limit=0.2)
    assert info.value.line == 1
    assert time.monotonic() - start < 0.6


def test_timeout_cannot_be_caught_by_the_script() -> None:
    source = "try:\n    while True: pass\nexcept Exception:\n    caught = True\n"
    data: dict[str, object] = {}
    with pytest.raises(ScriptError, match="time limit"):
        run_script(source, data, time_limit=0.1)
    assert data == {}


def test_memory_hungry_script_is_stopped() -> None:
    start = time.monotonic()
    with pytest.raises(ScriptError, match="memory|time limit"):
        run_script("keep = []\nwhile True:\n    keep.append([0] * 1000000)", {}, time_limit=3.0)
    assert time.monotonic() - start < 4.0


def test_scripts_in_threads_have_their_own_deadlines() -> None:
    results: dict[str, object] = {}

    def slow() -> None:
        try:
            run_script("while True: pass", {}, time_limit=0.3)
        except ScriptError as exc:
            results["slow"] = str(exc)

    def quick() -> None:
        data: dict[str, object] = {"n": 5}
        run_script("total = 0\nfor i in range(n):\n    total += i", data, time_limit=5.0)
        results["quick"] = data["total"]

    threads = [threading.Thread(target=slow), threading.Thread(target=quick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results["quick"] == 10
    assert "time limit" in str(results["slow"])
