# Smoke program: exercises input, stdout, stderr, a file and a nested return value.
import sys


def execute(input):
    print("hello from python")
    print("to stderr", file=sys.stderr)
    with open("/mnt/req/data/greeting.txt") as f:
        greeting = f.read().strip()
    return {"greeting": f"{greeting}, {input['name']}", "squares": [n * n for n in range(4)], "none": None}
