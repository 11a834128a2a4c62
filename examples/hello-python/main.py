"""Hello robot: a small Automation Hub robot that uses only the standard library.

It reads a name from its arguments (--name Ana), a greeting from the
environment (GREETING), prints a few lines (they become the run's log) and
writes greeting.txt into the folder named by HUB_OUTPUT_DIR, which the hub
keeps as a downloadable file of the run. Run it locally with:

    python3 main.py --name Ana
"""

import argparse
import os
import pathlib
import sys


def main(argv):
    parser = argparse.ArgumentParser(description="Greets someone and writes the greeting to a file.")
    parser.add_argument("--name", default="World", help="who to greet (default: World)")
    args = parser.parse_args(argv)

    greeting = os.environ.get("GREETING", "Hello")
    # The hub sets HUB_RUN_ID and HUB_OUTPUT_DIR for every run; outside the
    # hub the robot writes to ./outputs.
    run_id = os.environ.get("HUB_RUN_ID", "local")
    out_dir = pathlib.Path(os.environ.get("HUB_OUTPUT_DIR", "outputs"))

    message = f"{greeting}, {args.name}!"
    print(message)
    print(f"Run {run_id}, Python {sys.version.split()[0]}")

    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "greeting.txt"
    report.write_text(message + "\n", encoding="utf-8")
    print(f"Wrote {report.name} ({report.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
