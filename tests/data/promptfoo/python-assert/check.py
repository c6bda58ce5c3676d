def get_assert(output, context):
    return "blue" in output


def scored(output, context):
    return {"pass": len(output) > 100, "score": 0.2, "reason": "too short"}
