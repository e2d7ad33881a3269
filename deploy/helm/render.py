"""Render or lint the ignite-netpol chart with Helm's own engine (helm-python-sdk), no helm binary.

    render.py render [VALUES_JSON]   multi-document YAML on stdout, in a stable order
    render.py lint                   lint report as JSON; exit 1 on any error

Errors (bad values, schema violations, template failures) go to stderr with exit 2.
"""
import json
import sys
from pathlib import Path

import helm_python

CHART = Path(__file__).parent / "ignite-netpol"
NAME = "ignite-netpol"
NAMESPACE = "ignite-netpol"


def render(values):
    chart = helm_python.Chart.load(str(CHART))
    try:
        rendered = chart.render(values, name=NAME, namespace=NAMESPACE, is_install=True)
    finally:
        chart.close()
    docs = []
    for path in sorted(rendered):
        if not path.endswith(".yaml"):
            continue
        for doc in rendered[path].split("\n---"):
            body = "\n".join(line for line in doc.splitlines() if not line.startswith("# Source:")).strip()
            if body and not body.startswith("---") and any(not l.startswith("#") for l in body.splitlines()):
                docs.append(body)
    return "---\n" + "\n---\n".join(docs) + "\n"


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "render"
    try:
        if command == "lint":
            report = helm_python.lint(str(CHART), namespace=NAMESPACE)
            print(json.dumps(report))
            errors = [m for m in report.get("messages", []) if m.get("severity") == 3] + report.get("errors", [])
            return 1 if errors else 0
        values = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        sys.stdout.write(render(values))
        return 0
    except helm_python.HelmError as e:
        print(f"render.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
