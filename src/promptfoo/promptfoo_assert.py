"""Runs a promptfoo `python` assertion as a promptops `script` assertion.

Written by `promptops import promptfoo` (and `promptops eval -c`). Usage:
    python3 promptfoo_assert.py FILE (file:FUNCTION | inline) (THRESHOLD | -)
promptops sends the case as JSON on stdin ({"output", "json", "vars", ...}); this prints
{"pass", "score", "reason"} as promptops expects.
"""
import importlib.util
import json
import sys


def run(path, mode, output, context):
    if mode == "inline":
        code = open(path, encoding="utf-8").read().strip()
        if "\n" in code or code.startswith("return"):
            body = "\n".join("    " + line for line in code.splitlines())
            namespace = {"json": json}
            exec("def check(output, context):\n" + body, namespace)
            return namespace["check"](output, context)
        return eval(code, {"json": json, "output": output, "context": context})
    function = mode.split(":", 1)[1] or "get_assert"
    spec = importlib.util.spec_from_file_location("promptfoo_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function)(output, context)


def verdict(result, threshold):
    if isinstance(result, bool):
        return {"pass": result, "score": 1.0 if result else 0.0, "reason": ""}
    if isinstance(result, (int, float)):
        score = float(result)
        passed = score >= threshold if threshold is not None else score > 0
        return {"pass": passed, "score": max(0.0, min(1.0, score)), "reason": f"score {score}"}
    if isinstance(result, dict):
        passed = bool(result.get("pass", result.get("pass_", False)))
        score = float(result.get("score", 1.0 if passed else 0.0))
        return {"pass": passed, "score": max(0.0, min(1.0, score)), "reason": str(result.get("reason", ""))}
    return {"pass": False, "score": 0.0, "reason": f"unexpected result {result!r}"}


def main():
    path, mode, threshold = sys.argv[1], sys.argv[2], sys.argv[3]
    case = json.load(sys.stdin)
    context = {"vars": case.get("vars", {})}
    result = run(path, mode, case.get("output", ""), context)
    print(json.dumps(verdict(result, None if threshold == "-" else float(threshold))))


if __name__ == "__main__":
    main()
