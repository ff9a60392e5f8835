"""What the client scripts share: one line per check, exit 1 at the first failure, and the
command line (one argument: the server's URL)."""
import sys


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def run(main, doc):
    """Call main(url) with the script's one argument, or print its usage (exit 2)."""
    if len(sys.argv) != 2:
        print(doc)
        sys.exit(2)
    main(sys.argv[1].rstrip("/"))
