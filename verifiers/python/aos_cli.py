"""What the verbs of aos_verify.py share on the command line: trusted keys from arguments or files, usage errors
(exit 2), and untrusted text made safe to print."""
import os, sys
from aos_notes import NOTE_KEY, parse_vkey

def printable(text):  # untrusted text for a terminal: every non-printable character escaped (\t, \x1b, \u202e)
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)

def usage_error(msg):
    print(printable(f"aos_verify: {msg}"), file=sys.stderr)
    sys.exit(2)

def load_keys(args, key_type=NOTE_KEY, flag="--key"):
    """Each argument a vkey of `key_type`, or a file of them (one a line, blank lines and # comments skipped)."""
    keys = []
    for arg in args:
        lines = [arg]
        if os.path.isfile(arg):
            try:
                with open(arg, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
            except (OSError, UnicodeDecodeError) as e:
                usage_error(f"cannot read key file {arg}: {e}")
            if not lines:
                usage_error(f"key file {arg} holds no vkey")
        for line in lines:
            try:
                key = parse_vkey(line, key_type)
            except ValueError as e:
                usage_error(f"malformed {flag} {line[:80]!r}: {e}")
            if key not in keys:
                keys.append(key)
    return keys
